"""ONNX export: the exported networks, stepped with ONNX Runtime and NumPy alone, are the Keras networks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SAMPLES, assert_clean_error, vidclean

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

FRAMES = 44  # past two state restarts (every 16 frames)
SIGMA = 20

# Steps a preset's exported models over the sample clip in a process that never loads Keras
ONNX_STEPPER = """
import sys
import numpy as np
from vidclean.export.runner import OnnxNetworks
from vidclean.io.reader import open_video

folder, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_video(sys.argv[4]) as stream:
    rgb = [f.rgb for f in stream][:frames]
clean = np.stack(list(OnnxNetworks(folder).denoise(rgb, sigma=float(sys.argv[5]))))
assert "keras" not in sys.modules and "tensorflow" not in sys.modules
np.save(out, clean)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    result = vidclean("export", "--format", "onnx", folder)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    return folder


@pytest.fixture(scope="module")
def clip():
    from vidclean.io.reader import open_video

    with open_video(SAMPLES / "dog_noisy.mp4") as stream:
        frames = [f.rgb for f in stream][:FRAMES]
    assert len(frames) == FRAMES
    return frames


def keras_networks(folder):
    """The runner with the Keras networks in place of the ONNX sessions: the same stepping, the reference."""
    from vidclean.core.networks import load_preset
    from vidclean.export.runner import OnnxNetworks

    class KerasNetworks(OnnxNetworks):
        def _open(self, folder, providers):
            return dict(zip(("encoder", "decoder", "temporal"), load_preset(self.manifest["preset"]).parts()))

        def call(self, name, inputs):
            net = self.manifest["networks"][name]
            outputs = self.sessions[name]([inputs[n] for n in net["inputs"]], training=False)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return {n: np.asarray(o) for n, o in zip(net["outputs"], outputs)}

    return KerasNetworks(folder)


@pytest.mark.parametrize("preset", ["fast", "balanced", "quality"])
def test_onnx_runtime_steps_match_the_keras_networks(exported, clip, preset, tmp_path):
    out = tmp_path / "onnx.npy"
    args = (exported / preset, out, FRAMES, SAMPLES / "dog_noisy.mp4", SIGMA)
    subprocess.run([sys.executable, "-c", ONNX_STEPPER, *map(str, args)], check=True, timeout=600)
    onnx = np.load(out)
    keras = np.stack(list(keras_networks(exported / preset).denoise(clip, sigma=SIGMA)))
    assert onnx.shape == keras.shape == (FRAMES, *clip[0].shape)
    assert np.abs(onnx - keras).max() < 1e-3
    assert np.abs(keras - np.stack(clip) / 255).mean() > 0.01  # the frames were cleaned, not passed through

    # the stepping is the engine's: its network outputs, rounded to 8 bits, are the engine's unfused frames
    from vidclean.core.denoiser import Denoiser
    from vidclean.export.runner import to_uint8

    engine = np.stack(list(Denoiser(preset, sigma=SIGMA, fusion=False, precision="float32").denoise(clip)))
    assert np.abs(to_uint8(onnx).astype(int) - engine).max() <= 1
    assert np.mean(to_uint8(onnx) != engine) < 1e-3


def test_manifest_says_how_to_step(exported):
    manifest = json.loads((exported / "quality" / "vidclean.json").read_text())
    assert manifest["preset"] == "quality" and manifest["neighbours"] is True
    assert manifest["networks"]["decoder"]["inputs"][-4:] == ["prev_skip", "prev_feat", "next_skip", "next_feat"]
    assert manifest["fusion"]["exported"] is False and "DIS" in manifest["fusion"]["flow"]
    assert manifest["refiner"]["file"] == "refiner.onnx"
    assert json.loads((exported / "fast" / "vidclean.json").read_text())["refiner"] is None


def test_refiner_matches(exported, clip):
    import onnxruntime

    from vidclean.core.networks import load_refiner

    fused = clip[20][None].astype(np.float32) / 255
    mean = clip[21][None].astype(np.float32) / 255
    noise = np.full(fused.shape[:3] + (1,), 0.05, np.float32)
    session = onnxruntime.InferenceSession(str(exported / "quality" / "refiner.onnx"),
                                           providers=["CPUExecutionProvider"])
    (onnx,) = session.run(["refined"], {"fused": fused, "noisy_mean": mean, "mean_noise": noise})
    keras = np.asarray(load_refiner("quality")([fused, mean, noise], training=False))
    assert np.abs(onnx - keras).max() < 1e-3


def test_export_refuses_to_overwrite(exported):
    result = vidclean("export", exported, "--preset", "fast")
    assert_clean_error(result, "already exists", "-y")


def test_export_without_tf2onnx_is_one_line(monkeypatch, tmp_path):
    from vidclean.errors import VidcleanError
    from vidclean.export.onnx import export_onnx

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # (import then raises ImportError)
    with pytest.raises(VidcleanError, match="pip install 'vidclean\\[onnx\\]'"):
        export_onnx(tmp_path, ["fast"])
    assert list(tmp_path.iterdir()) == []
