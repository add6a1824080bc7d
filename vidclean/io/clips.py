"""Clips and stills from disk as NumPy arrays: a frame folder or a video file, one image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vidclean.io.reader import open_video

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
VIDEO_EXTS = {".mp4", ".mkv", ".mov", ".avi", ".webm"}


def read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def read_clip(path: Path, max_frames: int | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 from a frame folder or a video file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)[:max_frames]
        return np.stack([read_image(p) for p in files])
    with open_video(path, depth=8) as stream:
        frames = []
        for frame in stream:
            frames.append(frame.rgb)
            if max_frames and len(frames) >= max_frames:
                break
    return np.stack(frames)
