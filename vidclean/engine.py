"""Streaming inference: frames in, cleaned frames out, one encoder and one ConvLSTM step per frame.

    denoiser = Denoiser(preset="balanced", window=5, sigma=None)   # sigma None = estimate (auto)
    for frame, clean in denoiser.run(stream):                      # frames from vidclean.reader
        ...

Each frame is encoded once when it is read; the window (vidclean.window) then hands over
references to those encodings. The ConvLSTM state is carried through the stream: the first
window's items all enter it (the reflected pre-roll), every later window adds only its newest
item, and the centre frame is decoded from the state ``k`` frames after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vidclean.model import MAX_DELAY, SIZE_MULTIPLE, load_preset
from vidclean.noise import SigmaTracker
from vidclean.reader import Frame
from vidclean.registry import check_window
from vidclean.window import sliding_windows


@dataclass
class Encoded:
    """One frame as the network sees it, computed once and shared by every window holding it."""

    frame: Frame
    image: np.ndarray  # (1, H', W', 3) float32 0-1, padded to the network's size multiple
    skip: np.ndarray
    feat: np.ndarray
    sigma: float


def pad_to_multiple(rgb: np.ndarray, multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE)
    return rgb


class Denoiser:
    """Cleans a stream of frames with a preset's network.

    ``window`` is the odd number of frames each output sees (``2k+1``, at most
    ``2*MAX_DELAY+1``); ``sigma`` is the noise level on the 0-255 scale, or ``None`` to estimate
    it from the frames as they arrive (median of the last 25 per-frame estimates).
    ``last_sigma`` and ``mean_sigma`` report the level used (flat memory: no per-frame list).
    """

    def __init__(self, preset: str = "balanced", window: int = 5, sigma: float | None = None, weights=None):
        self.window = check_window(window)
        self.nets = load_preset(preset, weights)
        self.sigma = sigma
        self.tracker = SigmaTracker()
        self.last_sigma = self.sigma_total = 0.0  # noise level of the last output; sum over outputs
        self.frames_done = 0

    @property
    def mean_sigma(self) -> float:
        return self.sigma_total / max(self.frames_done, 1)

    def encode(self, frame: Frame) -> Encoded:
        sigma = self.sigma if self.sigma is not None else self.tracker.update(frame.rgb)
        image = pad_to_multiple(frame.rgb)[None].astype(np.float32) / 255.0
        noise_map = np.full(image.shape[:3] + (1,), sigma / 255.0, np.float32)
        skip, feat = self.nets.encoder.predict_on_batch([image, noise_map])
        return Encoded(frame, image, skip, feat, sigma)

    def run(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, np.ndarray]]:
        """Yields ``(input frame, cleaned RGB uint8)`` for every input frame, in order."""
        k = self.window // 2
        delay = np.full((1, 1), k / MAX_DELAY, np.float32)
        h = c = None
        for i, win in enumerate(sliding_windows(map(self.encode, frames), self.window)):
            for item in win if i == 0 else win[-1:]:
                if h is None:
                    h = c = np.zeros(item.feat.shape[:3] + (self.nets.cfg.lstm,), np.float32)
                h, c = self.nets.temporal.predict_on_batch([item.feat, h, c])
            centre = win[k]
            out = self.nets.decoder.predict_on_batch([centre.image, centre.skip, centre.feat, h, delay])
            height, width = centre.frame.rgb.shape[:2]
            clean = np.clip(np.rint(np.asarray(out)[0, :height, :width] * 255.0), 0, 255).astype(np.uint8)
            self.last_sigma = centre.sigma
            self.sigma_total += centre.sigma
            self.frames_done += 1
            yield centre.frame, clean
