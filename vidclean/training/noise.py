"""Synthetic noise for training and benchmarks: Gaussian, and camera-like (signal-dependent,
colour-correlated, re-compressed).

All images here are float32 RGB on the 0-255 scale unless stated otherwise; noisy results are
rounded and clipped to 8 bits, as a real file would store them.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

MAX_SIGMA = 55.0


def to_8bit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def add_gaussian(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of standard deviation ``sigma`` (0-255 scale), stored as uint8."""
    noisy = clean.astype(np.float32) + rng.normal(0.0, sigma, clean.shape).astype(np.float32)
    return to_8bit(noisy)


# A camera-like colour matrix (sensor RGB -> sRGB); its off-diagonal terms correlate the noise
# across channels the way a real pipeline does.
_CCM = np.array([[1.6, -0.45, -0.15], [-0.25, 1.5, -0.25], [-0.05, -0.5, 1.55]], np.float32)
_CCM_INV = np.linalg.inv(_CCM).astype(np.float32)


def add_camera_noise(
    clean: np.ndarray, shot: float, read: float, rng: np.random.Generator
) -> np.ndarray:
    """Signal-dependent Poisson-Gaussian noise in linear sensor space, channel-correlated.

    The clean sRGB frame(s) are linearised (gamma 2.2), taken back through the inverse colour
    matrix to sensor RGB, given noise of variance ``shot * x + read**2`` (x in 0-1), and
    taken forward again. ``shot`` ~ 1e-4..1e-2 and ``read`` ~ 1e-3..2e-2 span clean to very noisy.
    """
    lin = (clean.astype(np.float32) / 255.0) ** 2.2
    sensor = np.clip(lin @ _CCM_INV.T, 0.0, 1.0)
    var = shot * sensor + read**2
    sensor = sensor + rng.normal(0.0, 1.0, sensor.shape).astype(np.float32) * np.sqrt(var)
    out = np.clip(sensor @ _CCM.T, 0.0, 1.0) ** (1 / 2.2)
    return to_8bit(out * 255.0)


# Camera-noise levels of the benchmark and of training's validation: (shot, read) in linear sensor
# units (add_camera_noise), from a good phone in dim light to a small sensor at high gain; each
# clip is then re-compressed with H.264 (CRF 20, 4:2:0), as footage arrives (camera_level).
CAMERA_LEVELS = {"cam-low": (2e-3, 4e-3), "cam-mid": (6e-3, 8e-3), "cam-high": (1.5e-2, 1.5e-2)}


def camera_level(clean: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    """``clean`` frames (T, H, W, 3) uint8 with the camera noise of CAMERA_LEVELS[level], re-compressed."""
    shot, read = CAMERA_LEVELS[level]
    return h264_roundtrip(add_camera_noise(clean, shot, read, rng), crf=20)


def h264_roundtrip(frames: np.ndarray, crf: int = 20) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8 through H.264 (libx264 at ``crf``, yuv420p) and back, in memory:
    the blocky, spatially correlated remains of noise that footage arrives with.

    Repeatable: x264's macroblock-tree rate control is off (docs/decisions.md, "Training data"). Odd
    sizes, which 4:2:0 cannot hold, are padded by repeating the last row/column and cropped back.
    """
    h, w = frames.shape[1:3]
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = padded.shape[2], padded.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "x264-params": "mbtree=0"}
        for rgb in padded:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        out.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as src:
        return np.stack([f.to_ndarray(format="rgb24")[:h, :w] for f in src.decode(video=0)])
