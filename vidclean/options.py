"""The options of a job, built once (by the command line, a batch, a Ray task, the Python API)
and passed down: frozen dataclasses, checked when made."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidclean.errors import VidcleanError
from vidclean.presets import DEFAULT_WINDOW, ENCODER_PRESET, PRESETS, check_window, fusion_radius, weights_path

if TYPE_CHECKING:
    from vidclean.core.denoiser import Denoiser

PRECISIONS = ("auto", "float32")
MIN_TILE = 128  # smallest --tile: below it the tiles' overlap is most of each tile
PART_FRAMES = 256  # frames per resumable part of a long file: about what a stop can cost


def _check_model(preset: str, window: int, sigma: float | None, tile: int | None, precision: str) -> None:
    """VidcleanError for a model option out of range (the command line's argparse checks come first)."""
    if preset not in PRESETS:
        raise VidcleanError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    try:
        check_window(window)
    except ValueError as exc:
        raise VidcleanError(str(exc)) from None
    if sigma is not None and not 0 <= sigma <= 100:
        raise VidcleanError(f"noise level must be between 0 and 100, got {sigma:g}")
    if tile is not None and tile < MIN_TILE:
        raise VidcleanError(f"tile size must be at least {MIN_TILE} pixels, got {tile}")
    if precision not in PRECISIONS:
        raise VidcleanError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def _sigma(value: float | str | None) -> float | None:
    """None for "auto" (estimated as the frames arrive), else the level as a float."""
    if value is None or value == "auto":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise VidcleanError(f"sigma: expected a number or 'auto', got {value!r}") from None


@dataclass(frozen=True)
class CleanOptions:
    """Cleaning one video file: the model's options and the output's (the command line's defaults).

    Args:
        preset: model preset, "fast", "balanced" or "quality".
        window: odd number of frames each output frame sees (1 to 7).
        sigma: noise level on the 0-255 scale; None or "auto" to estimate it.
        fusion: motion-compensated fusion of the cleaned frames (and the preset's refiner).
        tile: largest tile side in pixels; None: only frames too large for free memory are tiled.
        precision: "auto" (bfloat16 where the CPU computes in it) or "float32".
        weights: the preset's networks from this weights file instead of the shipped one.
        codec: output video codec, an everyday name (h264, h265, vp9, av1, ffv1, prores) or an
            encoder's; None: the container's usual one (VP9 for .webm, H.264 otherwise).
        crf, pix_fmt: output quality and pixel format (None: the writer's defaults, CRF 17, yuv420p).
        encoder_preset: x264/x265 speed preset; None: the model preset's (``presets.ENCODER_PRESET``).
        format: with ``dst`` "-" (standard output), the stream's format: y4m (default), nut or matroska.
        overwrite: replace an existing output (only once the new one is complete).
        strict: any damaged or missing input frame is an error.
        part_frames: a long file is cleaned in parts of about this many frames, kept beside the
            output until joined, so that a run stopped on the way can continue; 0: in one pass.
    """

    preset: str = "balanced"
    window: int = DEFAULT_WINDOW
    sigma: float | None = None
    fusion: bool = True
    tile: int | None = None
    precision: str = "auto"
    weights: str | None = None
    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None
    encoder_preset: str | None = None
    format: str | None = None
    overwrite: bool = False
    strict: bool = False
    part_frames: int = PART_FRAMES

    def __post_init__(self):
        object.__setattr__(self, "sigma", _sigma(self.sigma))
        _check_model(self.preset, self.window, self.sigma, self.tile, self.precision)
        if self.part_frames < 0:
            raise VidcleanError(f"part_frames must be 0 (one pass) or more, got {self.part_frames}")

    @property
    def encoder_speed(self) -> str | None:
        """The x264/x265 speed preset the output is encoded with."""
        return self.encoder_preset or ENCODER_PRESET.get(self.preset)

    @property
    def fusion_radius(self) -> int:
        """Frames each side a cleaned frame is fused with (0: not fused)."""
        return fusion_radius(self.preset, self.fusion)

    def denoiser(self) -> Denoiser:
        """A Denoiser for these options (Keras loads here, quietly)."""
        from vidclean.core.denoiser import (
            Denoiser,  # loads Keras: only when a job needs the networks
        )

        return Denoiser(self.preset, self.window, self.sigma, self.fusion, tile=self.tile, precision=self.precision,
                        weights=self.weights)

    def model_key(self) -> tuple:
        """What a Denoiser depends on: equal keys can share one."""
        return self.preset, self.window, self.sigma, self.fusion, self.tile, self.precision, self.weights


def live_default_preset() -> str:
    """The live preview's preset: "fast" where it is shipped (it keeps up with a camera best)."""
    return "fast" if "fast" in PRESETS and weights_path("fast").exists() else "balanced"


@dataclass(frozen=True)
class LiveOptions:
    """The live preview: a camera (or a video played as one) cleaned frame by frame in a window.

    Args:
        source: camera index ("0"), device path, or a video file / stream URL.
        preset, sigma, weights: as for CleanOptions.
        size: (width, height) to scale the capture to; None: as captured.
        fusion: fuse each cleaned frame with the ones before it (slower, so more frames dropped).
        view: "split", "clean" or "raw" at start.
        snapshot_dir, record_dir: where the s and r keys save.
        duration: stop after this many seconds (None: until q).
        quiet: print nothing but errors.
    """

    source: str = "0"
    preset: str = "balanced"
    sigma: float | None = None
    size: tuple[int, int] | None = None
    fusion: bool = False
    view: str = "split"
    snapshot_dir: str | os.PathLike = "."
    record_dir: str | os.PathLike = "."
    duration: float | None = None
    weights: str | None = None
    quiet: bool = False

    def __post_init__(self):
        object.__setattr__(self, "sigma", _sigma(self.sigma))
        _check_model(self.preset, 1, self.sigma, None, "auto")
        if self.view not in ("split", "clean", "raw"):
            raise VidcleanError(f"view must be split, clean or raw, got {self.view!r}")


__all__ = ["CleanOptions", "LiveOptions", "live_default_preset"]
