"""The model registry: each preset is a network configuration plus a shipped weights file.

Kept free of Keras so the command line can check its options before the framework loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SIZE_MULTIPLE = 4  # two 2x down-samplings inside the net: frames are padded to a multiple of this
# Frames above this many pixels (above 1080p) are "large": the engine keeps less per frame and the
# reader, writer and encoder hold fewer of them.
LARGE_FRAME_PIXELS = 1920 * 1088
MAX_DELAY = 3  # largest look-ahead k the decoder was trained for: windows up to 2*3+1 = 7 frames
MAX_WINDOW = 2 * MAX_DELAY + 1  # the longest window, in frames
DEFAULT_WINDOW = 5  # frames each output sees unless told otherwise
WEIGHTS_DIR = Path(__file__).parent / "weights"
# The ConvLSTM state restarts every STATE_PERIOD frames (by frame index), warmed up from zero on the
# STATE_WARMUP frames before: a frame's output depends on a bounded stretch of the video, so a part can be
# cleaned on its own exactly as a whole run cleans it (vidclean.jobs.segments), and the state does not
# drift (docs/decisions.md, "State restarts")
STATE_PERIOD = 16
STATE_WARMUP = 8
# Frames of history the noise estimate (--sigma auto) reads: 25 estimates, every 4th frame
SIGMA_HISTORY = 100


@dataclass(frozen=True)
class NetConfig:
    """Shape of one preset's network: the frame enters at full resolution (folded space-to-depth
    by 2 with its noise map), a half-resolution skip path and a quarter-resolution core around a
    ConvLSTM."""

    skip: int = 32  # half-resolution width
    feat: int = 48  # quarter-resolution feature width
    lstm: int = 32  # ConvLSTM state width
    # residual blocks (two convolutions, the second zero-initialised) added at quarter resolution
    # in the encoder and in the decoder; with zero blocks the net is "balanced", and a deeper net
    # warm-starts from it exactly (the blocks start as identities)
    blocks: int = 0
    # residual blocks at half resolution (width ``skip``) in the decoder, after the skip path
    # joins: where fine detail is rebuilt; zero-initialised too
    half_blocks: int = 0
    # the decoder also takes the encoder's features (half- and quarter-resolution) of the frames
    # just before and after the centre (in a window of one, with no frame after it, the centre's
    # own stand in for those of the next): detail seen in the neighbours at half resolution, which
    # the quarter-resolution ConvLSTM state cannot carry
    neighbours: bool = False


PRESETS = {
    # "balanced" made narrower (the quarter-resolution features 32 wide, the ConvLSTM 16): its most
    # important channels, then trained (vidclean.training.slim; docs/decisions.md, "Presets")
    "fast": NetConfig(skip=32, feat=32, lstm=16),
    "balanced": NetConfig(skip=32, feat=48, lstm=32),
    # "quality" also takes the features of the frames before and after the one it cleans
    "quality": NetConfig(skip=32, feat=48, lstm=32, blocks=8, half_blocks=4, neighbours=True),
}

# Motion-compensated fusion of the cleaned frames (vidclean.core.fusion), on unless --no-fusion: each
# output is averaged with the FUSION_RADIUS cleaned frames before and after it, warped onto it by optical
# flow of the DIS preset FUSION_FLOW[preset] (a live preview fuses with frames before only: it cannot wait
# for the ones after); the DIS preset trades speed for gain (docs/decisions.md, "Fusion")
FUSION_RADIUS = 2
FUSION_FLOW = {"fast": "fast", "balanced": "medium", "quality": "medium"}


@dataclass(frozen=True)
class RefinerConfig:
    """Shape of a preset's refiner (vidclean.core.networks.build_refiner): after the fusion, a small
    network folded space-to-depth by ``fold``, ``depth`` convolutions of ``width`` channels."""

    width: int = 64
    depth: int = 6
    fold: int = 2


# Presets whose fused frames go through a refiner (vidclean.training.train_refiner): from the fused frame,
# the noisy frames' mean along the motion and its noise level per pixel, it brings back detail the network
# smoothed away in every frame alike. Not for "balanced", for its cost (docs/decisions.md, "Refiner")
REFINERS = {"quality": RefinerConfig()}


# x264/x265 speed preset used with each model preset unless --encoder-preset says otherwise: an
# encoder slower than the network would set the pace (docs/decisions.md, "Encoder presets")
ENCODER_PRESET = {"fast": "veryfast", "balanced": "faster", "quality": "faster"}


def refiner_weights_path(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}-refiner.weights.h5"


def fusion_radius(preset: str, enabled: bool = True) -> int:
    """Frames each side a preset's outputs are fused with (0: not fused)."""
    return FUSION_RADIUS if enabled and preset in FUSION_FLOW else 0


def fusion_flow(preset: str) -> str:
    """The DIS preset a preset's outputs are fused with ("medium" for a former network)."""
    return FUSION_FLOW.get(preset, "medium")

# Networks that shipped before and that a preset's weights were warm-started from, kept so that
# the training recipe in docs/training.md (a chain of warm starts) can be run again:
# ``vidclean train --preset quality-v1 ...``, then ``--preset quality-v2 --init-preset quality-v1``,
# then ``--preset quality --init-preset quality-v2`` (the neighbours added).
FORMER = {
    "quality-v1": NetConfig(skip=32, feat=48, lstm=32, blocks=8),
    "quality-v2": NetConfig(skip=32, feat=48, lstm=32, blocks=8, half_blocks=4),
}


def net_config(name: str) -> NetConfig:
    """The network of a preset, or of a former one (``FORMER``); KeyError for any other name."""
    return PRESETS[name] if name in PRESETS else FORMER[name]


def check_window(window: int) -> int:
    """The window length if the networks support it (odd, 1 to MAX_WINDOW), else ValueError."""
    if window < 1 or window % 2 == 0 or window // 2 > MAX_DELAY:
        raise ValueError(f"window must be odd, between 1 and {MAX_WINDOW}; got {window}")
    return window


def state_tracks(position: int, k: int, begin: int, lowest: int = 0, period: int = STATE_PERIOD,
                 warmup: int = STATE_WARMUP) -> list[int]:
    """The ConvLSTM state tracks that the frame stepped at ``position`` enters (at most two).

    Track ``c`` serves frames ``c*period`` .. ``(c+1)*period - 1``: it starts ``warmup`` frames before
    them (or at ``begin``, where the stream starts after that) and takes frames up to ``k`` (the
    look-ahead) past them. Tracks below ``lowest`` serve no frame wanted.
    """
    P = period
    return [c for c in (position // P - 1, position // P, position // P + 1)
            if c >= lowest and max(c * P - warmup, begin) <= position <= (c + 1) * P - 1 + k]


def is_large_frame(pixels: int) -> bool:
    """Whether a frame of this many pixels is "large" (above 1080p)."""
    return pixels > LARGE_FRAME_PIXELS


def weights_path(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}.weights.h5"
