"""Image quality measures: PSNR and SSIM, for training logs and benchmarks."""

from __future__ import annotations

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two images on the same scale."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def mean_psnr(frames, clean) -> float:
    """PSNR averaged over pairs of frames."""
    return float(np.mean([psnr(f, c) for f, c in zip(frames, clean)]))


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Mean structural similarity (Wang et al. 2004, 11x11 Gaussian window), averaged over channels."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def flicker(out: np.ndarray, clean: np.ndarray) -> float:
    """Temporal fidelity of a clip (T, H, W, C): mean absolute error of the frame-to-frame change.

    ``|(out[t+1] - out[t]) - (clean[t+1] - clean[t])|`` averaged over the clip, 0-255 scale: noise
    left in, or a denoiser that treats each frame differently, shows up as flicker here.
    """
    change = lambda x: np.diff(np.asarray(x, np.float64), axis=0)  # noqa: E731
    return float(np.mean(np.abs(change(out) - change(clean))))


def colour_error(out: np.ndarray, clean: np.ndarray) -> list[float]:
    """Mean signed error per channel (a colour cast), 0-255 scale."""
    diff = np.asarray(out, np.float64) - np.asarray(clean, np.float64)
    return [float(v) for v in diff.reshape(-1, diff.shape[-1]).mean(axis=0)]
