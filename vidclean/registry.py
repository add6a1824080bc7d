"""The model registry: each preset is a network configuration plus a shipped weights file.

Kept free of Keras so the command line can check its options before the framework loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SIZE_MULTIPLE = 4  # two 2x down-samplings inside the net: frames are padded to a multiple of this
# Frames above this many pixels (above 1080p) are "large": the engine keeps less per frame and the
# reader, writer and encoder hold fewer of them.
LARGE_FRAME_PIXELS = 1920 * 1088
MAX_DELAY = 3  # largest look-ahead k the decoder was trained for: windows up to 2*3+1 = 7 frames
MAX_WINDOW = 2 * MAX_DELAY + 1  # the longest window, in frames
WEIGHTS_DIR = Path(__file__).parent / "weights"
# The ConvLSTM state restarts every STATE_PERIOD frames (by frame index), warmed up from zero on
# the STATE_WARMUP frames before (the networks train on 7-frame clips from a zero state, so 8
# frames give the state they learned from). A frame's output thus depends on a bounded stretch of
# the video, so a part of a long video can be cleaned on its own, exactly as a whole run cleans it
# (vidclean.segments). Warm-up + look-ahead frames of each period are stepped twice: with 16, the
# former (32-channel) fast preset's model ran about 6% slower (balanced: within the noise of the
# measurement).
STATE_PERIOD = 128
STATE_WARMUP = 8
# Frames of history the noise estimate (--sigma auto) reads: 25 estimates, every 4th frame
SIGMA_HISTORY = 100


@dataclass(frozen=True)
class NetConfig:
    """Shape of one preset's network.

    ``arch`` "unet": the frame enters at full resolution; a half-resolution skip path and a
    quarter-resolution core (ConvLSTM). ``arch`` "flat": the frame enters already folded
    space-to-depth by ``scale`` (the engine does it on 8-bit pixels, cheaply) and every layer
    runs at that resolution: much less work per pixel.
    """

    skip: int = 32  # "unet": half-resolution width; "flat": width of the first layer
    feat: int = 48  # quarter-resolution feature width
    lstm: int = 32  # ConvLSTM state width
    arch: str = "unet"
    scale: int = 1  # space-to-depth factor applied to the frame before the network
    # "unet": residual blocks (two convolutions, the second zero-initialised) added at quarter
    # resolution in the encoder and in the decoder; with zero blocks the net is "balanced", and
    # a deeper net warm-starts from it exactly (the blocks start as identities)
    blocks: int = 0
    # "unet": residual blocks at half resolution (width ``skip``) in the decoder, after the skip
    # path joins: where fine detail is rebuilt; zero-initialised too
    half_blocks: int = 0
    # a network about as quick as decoding + encoding a frame runs best on one core fewer than
    # the machine has, leaving one to them (the former 32-channel fast at 854x480 on 2 cores: 32 fps
    # instead of 29)
    spare_a_core: bool = False
    # ("unet" arch only) the decoder also takes the encoder's features (half- and quarter-
    # resolution) of the frames just before and after the centre (in a window of one, with no
    # frame after it, the centre's own stand in for those of the next): detail seen in the
    # neighbours at half resolution, which the quarter-resolution ConvLSTM state cannot carry
    neighbours: bool = False

    def __post_init__(self):
        if self.arch == "flat" and (self.blocks or self.half_blocks or self.neighbours):
            raise ValueError("residual blocks and neighbours are for the \"unet\" arch only")


PRESETS = {
    # 64 channels in the first encoder convolution and in the decoder convolution before the
    # output: the residual of a 4x4 cell has 48 values, which the former 32 channels there were a
    # bottleneck for (that net gained only 3.9-4.5 dB over its input, at every sigma)
    "fast": NetConfig(skip=64, feat=32, lstm=16, arch="flat", scale=4, spare_a_core=True),
    "balanced": NetConfig(skip=32, feat=48, lstm=32),
    # "quality" also takes the features of the frames before and after the one it cleans
    "quality": NetConfig(skip=32, feat=48, lstm=32, blocks=8, half_blocks=4, neighbours=True),
}

# Motion-compensated fusion of the cleaned frames (vidclean.fusion), on unless --no-fusion:
# each output is averaged with the FUSION_RADIUS cleaned frames before and after it, warped onto
# it by optical flow of the DIS preset FUSION_FLOW[preset] (a live preview fuses with frames
# before only: it cannot wait for the ones after). "fast" does not fuse: even DIS's "ultrafast"
# flow took about as long as its network, for a gain that left it below "balanced" without fusion
FUSION_RADIUS = 2
FUSION_FLOW = {"balanced": "medium", "quality": "medium"}


@dataclass(frozen=True)
class RefinerConfig:
    """Shape of a preset's refiner (vidclean.model.build_refiner): after the fusion, a small
    network folded space-to-depth by ``fold``, ``depth`` convolutions of ``width`` channels."""

    width: int = 64
    depth: int = 6
    fold: int = 2


# Presets whose fused frames go through a refiner, trained for it (vidclean.train_refiner): it
# takes the fused frame, the mean of the noisy frames along the same motion and the noise level
# per pixel that mean leaves, and gives the fused frame refined: detail that the network smoothed
# away in every frame alike, which averaging its outputs cannot bring back, but the noisy frames'
# mean still holds where enough of them agree. Not for "balanced": it costs about as much as the
# fusion itself.
REFINERS = {"quality": RefinerConfig()}


def refiner_weights_path(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}-refiner.weights.h5"


def fusion_radius(preset: str, enabled: bool = True) -> int:
    """Frames each side a preset's outputs are fused with (0: not fused)."""
    return FUSION_RADIUS if enabled and preset in FUSION_FLOW else 0

# Networks that shipped before and that a preset's weights were warm-started from, kept so that
# the training recipe in README (a chain of warm starts) can be run again:
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


def is_large_frame(pixels: int) -> bool:
    """Whether a frame of this many pixels is "large" (above 1080p)."""
    return pixels > LARGE_FRAME_PIXELS


def model_threads(preset: str) -> int | None:
    """Threads the preset's network should use (None: as many as the backend likes)."""
    if preset in PRESETS and PRESETS[preset].spare_a_core:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores - 1)
    return None


def weights_path(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}.weights.h5"
