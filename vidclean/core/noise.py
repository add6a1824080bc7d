"""Blind noise-level estimation: one frame's, a clip's, and a stream's running estimate."""

from __future__ import annotations

import numpy as np


def _haar_diagonal(gray: np.ndarray) -> np.ndarray:
    """Finest diagonal Haar detail; for white noise of std s it has std s."""
    h, w = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    g = gray[:h, :w]
    return (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) * 0.5


def estimate_sigma(frame: np.ndarray, block: int = 8) -> float:
    """Blind noise level (0-255 scale) of one RGB frame (uint8, or uint16 on the 0-65535 scale).

    Per channel, the finest diagonal Haar band is cut into blocks; each block gives a robust
    (median absolute deviation) estimate, and the frame's estimate is a low percentile of them,
    so edges and texture, which only raise a block's figure, do not inflate it. Blocks whose mean
    lies within 2 sigma of black or white are left out (refined three times), because clipping there
    hides part of the noise. The constant corrects the bias of that selection for pure noise.
    Frames with more than MAX_BLOCKS blocks a channel (above 720p) are measured on evenly spaced
    rows of blocks only, MAX_BLOCKS at most (where one row holds fewer): at 1080p half of them, at
    4K one in eight, for speed (docs/decisions.md, "Noise estimation").
    """
    bands = frame.shape[0] // (2 * block)  # rows of blocks (a block covers 2*block frame rows)
    rows = max(1, MAX_BLOCKS // max(frame.shape[1] // (2 * block), 1))  # rows of blocks that fit
    step = -(-bands // rows)
    if step > 1:  # a large frame: every step-th row of blocks, evenly spread, is enough
        frame = frame[: bands * 2 * block].reshape(bands, 2 * block, *frame.shape[1:])[::step]
        frame = frame.reshape(-1, *frame.shape[2:])
    estimates = []
    unit = np.float32(255 / np.iinfo(frame.dtype).max) if frame.dtype.kind == "u" else np.float32(1)
    for ch in range(frame.shape[2]):
        x = frame[..., ch].astype(np.float32)
        if unit != 1:
            x *= unit
        d = _haar_diagonal(x)
        if d.size == 0:  # a frame 1 pixel wide or high: no 2x2 cell to measure, no estimate
            estimates.append(0.0)
            continue
        bh, bw = d.shape[0] // block, d.shape[1] // block
        if bh == 0 or bw == 0:
            estimates.append(np.median(np.abs(d)) / 0.6745)
            continue
        blocks = d[: bh * block, : bw * block].reshape(bh, block, bw, block).transpose(0, 2, 1, 3)
        mad = np.median(np.abs(blocks.reshape(bh * bw, -1)), axis=1) / 0.6745
        mean = x[: 2 * bh * block, : 2 * bw * block].reshape(bh, 2 * block, bw, 2 * block).mean(axis=(1, 3)).ravel()
        sigma = np.median(mad)  # high on texture: only sets the first black/white margin
        for _ in range(3):
            unclipped = (mean > 2 * sigma) & (mean < 255 - 2 * sigma)
            if unclipped.sum() < max(16, 0.05 * unclipped.size):
                break
            sigma = np.percentile(mad[unclipped], _PERCENTILE) * _PERCENTILE_CORRECTION
        estimates.append(sigma)
    return float(np.median(estimates))


def estimate_clip_sigma(frames) -> float:
    """Blind noise level of a short clip: the median of its frames' estimates."""
    return float(np.median([estimate_sigma(frame) for frame in frames]))


# For white noise, the 10th percentile of the 8x8-block MAD estimates sits below sigma by this factor
# (found by simulation); a low percentile keeps texture out (docs/decisions.md, "Noise estimation")
_PERCENTILE = 10
_PERCENTILE_CORRECTION = 1.21
# Blocks a channel that one estimate measures at most (720p has 3,600; 1080p 8,040, of which every
# second row of blocks is then taken)
MAX_BLOCKS = 4096


class SigmaTracker:
    """Smooths per-frame estimates over time: the median of the last ``history`` estimates.

    After the first ``history // 5`` frames only every ``every``-th frame is measured, to spare the
    CPU (docs/decisions.md, "Noise estimation"): 25 estimates then span 100 frames.
    Which frames are measured follows the frame index (``first`` is the index of the first frame
    given), so a part of a video fed from SIGMA_HISTORY frames before it gets the estimates the
    whole video gets there.
    """

    def __init__(self, history: int = 25, every: int = 4, first: int = 0):
        self.history, self.every = history, every
        self.values: list[float] = []
        self.frames = first  # index of the next frame

    def update(self, frame: np.ndarray) -> float:
        if self.frames < max(self.history // 5, 1) or self.frames % self.every == 0 or not self.values:
            self.values.append(estimate_sigma(frame))
            del self.values[: -self.history]
        self.frames += 1
        return float(np.median(self.values))
