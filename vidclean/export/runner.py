"""Exported networks stepped with ONNX Runtime and NumPy alone (Keras is not imported).

    nets = OnnxNetworks("models/balanced")                  # a folder written by ``vidclean export``
    for clean in nets.denoise(frames, sigma=20):            # H x W x 3 uint8 (or uint16) RGB in, float32 0-1 out
        image = to_uint8(clean)

This is the engine's network stage (vidclean.core.denoiser) without its tiling, threads and fusion:
the same windows, ConvLSTM state restarts and decoder inputs, so its outputs are the Keras networks'
(float32) to within float rounding. The fusion and the refiner that follow in the engine are not here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidclean.core.noise import SigmaTracker
from vidclean.core.tiling import pad_to_multiple
from vidclean.core.window import sliding_windows
from vidclean.errors import VidcleanError
from vidclean.presets import check_window, state_tracks


def to_uint8(clean: np.ndarray) -> np.ndarray:
    """A 0-1 float frame as 8-bit pixels, rounded as the engine rounds them."""
    return np.clip(np.round(clean * 255), 0, 255).astype(np.uint8)


@dataclass
class _Item:
    """One frame as the networks see it: its padded pixels (0-1), encoder outputs and size before padding."""

    image: np.ndarray
    skip: np.ndarray
    feat: np.ndarray
    size: tuple[int, int]


class OnnxNetworks:
    """A preset's exported networks (the folder ``vidclean export`` writes for it), ready to step.

    Args:
        folder: the preset's folder, holding vidclean.json and the .onnx files it names.
        providers: ONNX Runtime execution providers, in order of preference (default: CPU), e.g.
            ``["CUDAExecutionProvider", "CPUExecutionProvider"]``.
    """

    def __init__(self, folder: str | os.PathLike, providers: list[str] | None = None):
        folder = Path(folder)
        try:
            self.manifest = json.loads((folder / "vidclean.json").read_text())
        except (OSError, ValueError) as exc:
            raise VidcleanError(f"{folder}: not an exported vidclean model ({exc})") from None
        self.sessions = self._open(folder, providers or ["CPUExecutionProvider"])

    def _open(self, folder: Path, providers: list[str]) -> dict:
        import onnxruntime

        return {name: onnxruntime.InferenceSession(str(folder / net["file"]), providers=providers)
                for name, net in self.manifest["networks"].items() if name != "refiner"}

    def call(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs one network: its inputs by name -> its outputs by name."""
        names = self.manifest["networks"][name]["outputs"]
        return dict(zip(names, self.sessions[name].run(names, inputs)))

    def encode(self, rgb: np.ndarray, sigma: float) -> _Item:
        """One H x W x 3 frame (pixels) through the encoder, padded to the size multiple."""
        image = pad_to_multiple(rgb, self.manifest["size_multiple"])[None].astype(np.float32) / np.iinfo(rgb.dtype).max
        noise = np.full(image.shape[:3] + (1,), sigma / 255, np.float32)
        out = self.call("encoder", {"frame": image, "noise_map": noise})
        return _Item(image, out["skip"], out["feat"], rgb.shape[:2])

    def denoise(self, frames: Iterable[np.ndarray], sigma: float | str = "auto", window: int | None = None
                ) -> Iterator[np.ndarray]:
        """Cleans one clip: one float32 H x W x 3 frame (0-1) per input frame, in order.

        Args:
            frames: H x W x 3 RGB arrays, uint8 or (more than 8 bits) uint16, all the same size.
            sigma: noise level on the 0-255 scale, or "auto" (estimated as the engine does).
            window: odd number of frames each output sees (default: the manifest's).
        """
        m = self.manifest
        window = check_window(window or m["default_window"])
        k = window // 2
        delay = np.full((1, 1), k / m["max_delay"], np.float32)
        width, period, warmup = m["widths"]["state"], m["state_restart"]["period"], m["state_restart"]["warmup"]
        tracker = SigmaTracker() if sigma == "auto" else None
        items = (self.encode(rgb, tracker.update(rgb) if tracker else float(sigma)) for rgb in frames)

        tracks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # track -> (h, c)
        position = -k  # index of the next frame stepped: the first window's reflected pre-roll starts at -k
        before = None
        for t, win in enumerate(sliding_windows(items, window)):
            for item in win if t == 0 else win[-1:]:  # the first window steps all its frames, later ones their newest
                wanted = state_tracks(position, k, -k, 0, period, warmup)
                tracks = {n: s for n, s in tracks.items() if n in wanted}
                for n in wanted:
                    h, c = tracks.get(n) or (np.zeros(item.feat.shape[:3] + (width,), np.float32),) * 2
                    out = self.call("temporal", {"feat": item.feat, "state_h": h, "state_c": c})
                    tracks[n] = out["next_h"], out["next_c"]
                position += 1
            centre = win[k]
            inputs = {"frame": centre.image, "skip": centre.skip, "feat": centre.feat, "state": tracks[t // period][0],
                      "delay": delay}
            if m["neighbours"]:
                prev, after = (win[k - 1], win[k + 1]) if k else (before or centre, centre)
                inputs.update(prev_skip=prev.skip, prev_feat=prev.feat, next_skip=after.skip, next_feat=after.feat)
            height, width_ = centre.size
            yield self.call("decoder", inputs)["clean"][0, :height, :width_]
            before = centre
