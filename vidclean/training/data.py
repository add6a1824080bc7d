"""Training data: clean clips and stills from disk, turned into noisy/clean batches.

A *clip* is a folder of consecutive frames (``00000.jpg``, ``001.png``, ...) or a video file.
A *still* is one image; it becomes a clip by synthetic camera motion (drift, zoom, small rotation,
per-frame jitter). Batches are random crops of consecutive frames with flips/rotations and
synthetic noise (mostly Gaussian, some camera-like), reproducible from (seed, epoch, index).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import keras
import numpy as np

from vidclean.core.noise import estimate_clip_sigma
from vidclean.io.clips import IMAGE_EXTS, VIDEO_EXTS, read_clip, read_image  # noqa: F401 (read_clip: for training)
from vidclean.presets import MAX_DELAY
from vidclean.training.noise import MAX_SIGMA, add_camera_noise, add_gaussian, h264_roundtrip


def find_clips(root: Path) -> list[Path]:
    """Frame folders and video files at or below ``root``."""
    root = Path(root)
    if root.is_file():
        return [root]
    found = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            found.append(p)
        elif p.is_dir() and any(c.suffix.lower() in IMAGE_EXTS for c in p.iterdir()):
            found.append(p)
    if root.is_dir() and any(c.suffix.lower() in IMAGE_EXTS for c in root.iterdir()):
        found.insert(0, root)
    return found


def find_stills(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_EXTS)


def moving_still(image: np.ndarray, frames: int, size: int, rng: np.random.Generator,
                 motion: float = 1.0) -> np.ndarray:
    """A (frames, size, size, 3) clip of a still seen by a drifting, zooming, shaky camera;
    ``motion`` scales every movement (0: a camera on a tripod)."""
    h, w = image.shape[:2]
    cx, cy = rng.uniform(size, w - size), rng.uniform(size, h - size)
    vx, vy = rng.normal(0, 2.0, 2) * motion
    zoom_rate = rng.normal(0, 0.01) * motion
    spin = rng.normal(0, 0.3) * motion
    out = []
    for t in range(frames):
        jx, jy = rng.normal(0, 0.5, 2) * motion
        m = cv2.getRotationMatrix2D((cx + vx * t + jx, cy + vy * t + jy), spin * t, 1 + zoom_rate * t)
        m[:, 2] += size / 2 - np.array([cx + vx * t + jx, cy + vy * t + jy])
        out.append(cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def augment(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Same random flip / 90-degree rotation / time reversal for every frame of a clip."""
    if rng.random() < 0.5:
        clip = clip[:, :, ::-1]
    clip = np.rot90(clip, int(rng.integers(4)), axes=(1, 2))
    if rng.random() < 0.5:
        clip = clip[::-1]
    return np.ascontiguousarray(clip)


# Of the camera-noise samples, this many are re-compressed with H.264 at a CRF in CRF_RANGE, as
# footage mostly arrives
RECOMPRESSED = 0.5
CRF_RANGE = (16, 28)
# Camera-noise strength of training samples: shot and read (add_camera_noise) are drawn
# log-uniformly from these ranges, independently
CAMERA_SHOT, CAMERA_READ = (1e-4, 1e-2), (1e-3, 10**-1.7)
# The low end of the noise levels, where most footage lies: ``low_sigma`` of the Gaussian samples draw their
# level from 0 to this instead of 0 to MAX_SIGMA (issue 26: the per-frame CNN led there)
LOW_SIGMA = 20.0


def make_noisy(clean: np.ndarray, rng: np.random.Generator, camera_fraction: float,
               shot=CAMERA_SHOT, read=CAMERA_READ, recompressed=RECOMPRESSED,
               low_sigma: float = 0.0) -> tuple[np.ndarray, float]:
    """Noisy version of a uint8 clip and the noise level the model is told (0-255 scale).

    Gaussian samples are told their sigma, drawn from 0 to MAX_SIGMA, or for a fraction
    ``low_sigma`` of them from 0 to LOW_SIGMA. Camera samples are told what the blind estimator of
    ``--sigma auto`` reads from them (median over the frames of the crop): after H.264 that reads low
    (docs/decisions.md, "Noise estimation"), and the network must learn to clean all the same.
    """
    if rng.random() < camera_fraction:
        draw = lambda lo, hi: 10 ** rng.uniform(np.log10(lo), np.log10(hi))  # noqa: E731
        noisy = add_camera_noise(clean, draw(*shot), draw(*read), rng)
        if rng.random() < recompressed:
            noisy = h264_roundtrip(noisy, int(rng.integers(CRF_RANGE[0], CRF_RANGE[1] + 1)))
        sigma = estimate_clip_sigma(noisy)
        return noisy, min(sigma, MAX_SIGMA)
    sigma = float(rng.uniform(0, LOW_SIGMA if low_sigma and rng.random() < low_sigma else MAX_SIGMA))
    return add_gaussian(clean, sigma, rng), sigma


class ClipBatches(keras.utils.PyDataset):
    """Batches of (noisy clip, sigma) -> the clean frames the training model outputs, all 0-1 floats."""

    def __init__(self, clips, stills, *, frames=7, patch=64, batch=16, steps=200,
                 camera_fraction=0.2, camera_shot=CAMERA_SHOT, camera_read=CAMERA_READ, recompressed=RECOMPRESSED,
                 still_fraction=0.0, low_sigma=0.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.low_sigma = low_sigma
        self.still_fraction = still_fraction
        self.camera_shot, self.camera_read, self.recompressed = camera_shot, camera_read, recompressed
        self.clips, self.stills = clips, stills
        self.frames, self.patch, self.batch, self.steps = frames, patch, batch, steps
        self.camera_fraction, self.seed = camera_fraction, seed
        self.epoch = 0
        weights = np.array([len(c) for c in clips] + [20] * len(stills), np.float64)
        self.p = weights / weights.sum()

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        i = rng.choice(len(self.p), p=self.p)
        t, p = self.frames, self.patch
        # a scene that hardly moves (a tripod, a webcam): one frame of a clip, or a still, under
        # 0-30% of the synthetic camera's usual motion, each frame with its own noise
        still = bool(self.still_fraction) and rng.random() < self.still_fraction
        if i >= len(self.clips):
            image = self.stills[i - len(self.clips)]
        elif still:
            image = self.clips[i][rng.integers(len(self.clips[i]))]
        else:
            clip = self.clips[i]
            n, h, w = clip.shape[:3]
            s, y, x = rng.integers(n - t + 1), rng.integers(h - p + 1), rng.integers(w - p + 1)
            return augment(clip[s:s + t, y:y + p, x:x + p], rng)
        return augment(moving_still(image, t, p, rng, motion=rng.uniform(0, 0.3) if still else 1.0), rng)

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, self.epoch, index))
        t, b, p = self.frames, self.batch, self.patch
        noisy = np.empty((b, t, p, p, 3), np.float32)
        clean = np.empty((b, MAX_DELAY + 1, p, p, 3), np.float32)
        sigma = np.empty((b, 1), np.float32)
        centres = [t - 1 - k for k in range(MAX_DELAY + 1)]  # the training model's outputs
        for j in range(b):
            clip = self.sample(rng)
            n, s = make_noisy(clip, rng, self.camera_fraction, self.camera_shot, self.camera_read, self.recompressed,
                              self.low_sigma)
            if rng.random() < 0.3:  # robustness to a misestimated noise level
                s *= rng.uniform(0.85, 1.15)
            noisy[j] = n / 255.0
            clean[j] = clip[centres] / 255.0
            sigma[j] = s / 255.0
        return (noisy, sigma), clean
