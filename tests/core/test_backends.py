"""The same networks on Keras' other backends: the command line on JAX and PyTorch cleans a real
clip as it does on TensorFlow (every preset, with the fusion and "quality"'s refiner).

JAX (CPU) comes with the test extra, so CI runs it; PyTorch is skipped where it is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import SAMPLES, make_video

from vidclean.io.clips import read_clip
from vidclean.metrics import psnr

PRESETS = ["fast", "balanced", "quality"]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """10 frames of the bundled noisy sample, 160x128 (lossless), and their path."""
    frames = read_clip(SAMPLES / "foliage_noisy.mp4", 10)[:, 40:168, 60:220]
    path = tmp_path_factory.mktemp("backends") / "noisy.mkv"
    make_video(path, list(frames), 160, 128, codec="ffv1", pix_fmt="bgr0")
    return path


def clean_with(backend: str, src, out, preset: str) -> np.ndarray:
    env = {**os.environ, "KERAS_BACKEND": backend}
    r = subprocess.run([sys.executable, "-m", "vidclean", str(src), str(out), "--preset", preset, "--codec", "ffv1",
                        "--precision", "float32", "-q"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr == ""
    return read_clip(out)


@pytest.fixture(scope="module")
def on_tensorflow(noisy):
    """Each preset's output on TensorFlow, made once for both backends."""
    return {preset: clean_with("tensorflow", noisy, noisy.parent / f"{preset}_tf.mkv", preset) for preset in PRESETS}


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_cleans_as_tensorflow_does(backend, noisy, on_tensorflow, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    for preset in PRESETS:
        reference = on_tensorflow[preset]
        other = clean_with(backend, noisy, tmp_path / f"{preset}_{backend}.mkv", preset)
        assert other.shape == reference.shape == (10, 128, 160, 3)
        # float32 on both (TensorFlow would take bfloat16 on a CPU with it); only the order of the
        # sums differs (a level or two, rarely, after rounding)
        assert psnr(other, reference) > 60, preset
        assert psnr(other, read_clip(noisy)) < 45, preset  # it did clean: not the input passed through


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_takes_and_gives_16_bit_frames(backend):
    """uint16 frames (10-bit video) come back uint16 on every backend (PyTorch has no uint16 tensors)."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    script = ("import numpy as np; from vidclean import Denoiser; "
              "f = (np.random.default_rng(0).integers(0, 65535, (4, 32, 48, 3))).astype(np.uint16); "
              "out = list(Denoiser('fast', sigma=10, precision='float32').denoise(f)); "
              "print(out[0].dtype, len(out), int(out[0].max()) > 255)")
    r = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KERAS_BACKEND": backend},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["uint16", "4", "True"]
