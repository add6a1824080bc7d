"""The public Python API: what ``import vidclean`` offers, and that it cleans as the command does."""

import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SAMPLES

import vidclean
from vidclean.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
CLIP = SAMPLES / "dog_noisy.mp4"  # 48 frames: the ConvLSTM state restarts at 16 and 32


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_import_loads_no_framework():
    code = ("import sys, vidclean; print('tensorflow' in sys.modules, 'keras' in sys.modules); "
            "from vidclean import Denoiser, clean_video, open_video, VideoWriter, VidcleanError, PRESETS; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # the names resolve; Keras (and TensorFlow) load only with the Denoiser's module
    assert out == ["False", "False", "True"]


def test_the_denoiser_loads_keras_quietly():
    """TensorFlow's start-up lines (oneDNN, absl) stay off stderr when the engine is imported."""
    done = subprocess.run([sys.executable, "-c", "import vidclean.core.denoiser"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_public_names_and_typing_marker():
    assert set(vidclean.__all__) >= {"Denoiser", "clean_video", "open_video", "VideoWriter", "VidcleanError",
                                     "PRESETS", "CleanOptions"}
    assert set(vidclean.PRESETS) == {"fast", "balanced", "quality"}
    assert (Path(vidclean.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        vidclean.no_such_name


@pytest.mark.parametrize("preset", ["fast", "balanced", "quality"])
def test_denoise_gives_the_frames_the_command_writes(tmp_path, preset):
    """``Denoiser(preset).denoise`` on a clip's frames equals ``vidclean IN OUT --codec ffv1 --preset P``
    frame for frame (the command's defaults: window 5, sigma auto, fusion, quality's refiner)."""
    out = tmp_path / "out.mkv"
    assert main([str(CLIP), str(out), "--codec", "ffv1", "--preset", preset, "-q"]) == 0
    expected = decoded(out)
    with vidclean.open_video(CLIP) as stream:
        cleaned = list(vidclean.Denoiser(preset).denoise(frame.rgb for frame in stream))
    assert len(cleaned) == len(expected) == 48
    different = [i for i, (a, b) in enumerate(zip(cleaned, expected)) if not np.array_equal(a, b)]
    assert not different, f"frames {different} differ"


def test_denoise_is_lazy_and_reset_stops_a_clip():
    with vidclean.open_video(CLIP) as stream:
        frames = [f.rgb for f in stream]
    read = []

    def source():
        for i, rgb in enumerate(frames):
            read.append(i)
            yield rgb

    denoiser = vidclean.Denoiser("fast")
    outputs = denoiser.denoise(source())
    first = next(outputs)
    assert first.shape == frames[0].shape and first.dtype == np.uint8
    assert len(read) < len(frames) // 2  # the window, the fusion's look-ahead and a few read ahead
    denoiser.reset()  # a clip half done: its reading stops, and its generator is finished
    assert next(outputs, None) is None
    taken = len(read)
    assert len(list(denoiser.denoise(frames[:5]))) == 5 and len(read) == taken
    assert denoiser.frames_done == 5 and denoiser.mean_sigma > 0


def test_denoise_refuses_what_is_not_an_rgb_frame():
    denoiser = vidclean.Denoiser("fast", fusion=False)
    with pytest.raises(ValueError, match="uint8 or uint16 RGB"):
        list(denoiser.denoise([np.zeros((32, 32), np.uint8)]))
    with pytest.raises(ValueError, match="uint8 or uint16 RGB"):
        list(denoiser.denoise([np.zeros((32, 32, 3), np.float32)]))
    with pytest.raises(ValueError, match="differs"):
        list(denoiser.denoise([np.zeros((32, 32, 3), np.uint8), np.zeros((32, 48, 3), np.uint8)]))
    with pytest.raises(ValueError, match="preset"):
        vidclean.Denoiser("best")
    with pytest.raises(ValueError, match="sigma"):
        vidclean.Denoiser(sigma="loud")


def test_clean_video_reports_progress_and_raises_vidclean_error(tmp_path):
    calls = []
    result = vidclean.clean_video(SAMPLES / "bmx_clean.mp4", tmp_path / "out.mp4", preset="fast", window=3,
                                  progress=lambda done, total, sigma: calls.append((done, total)))
    assert result.frames == 32 == len(decoded(tmp_path / "out.mp4"))
    assert calls[0] == (1, 32) and calls[-1] == (32, 32)
    with pytest.raises(vidclean.VidcleanError, match="already exists"):  # not SystemExit
        vidclean.clean_video(SAMPLES / "bmx_clean.mp4", tmp_path / "out.mp4")
    with pytest.raises(vidclean.VidcleanError, match="preset"):
        vidclean.clean_video(SAMPLES / "bmx_clean.mp4", tmp_path / "other.mp4", preset="best")
    with pytest.raises(vidclean.VidcleanError, match="colour"):
        vidclean.clean_video(SAMPLES / "bmx_clean.mp4", tmp_path / "other.mp4", colour=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_readme_python_example_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README.md has no Python example"
    done = subprocess.run([sys.executable, "-c", blocks[0]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
