"""The model registry: each preset is a network configuration plus a shipped weights file.

Kept free of Keras so the command line can check its options before the framework loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SIZE_MULTIPLE = 4  # two 2x down-samplings inside the net: frames are padded to a multiple of this
MAX_DELAY = 3  # largest look-ahead k the decoder was trained for: windows up to 2*3+1 = 7 frames
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class NetConfig:
    """Widths of one preset's network."""

    skip: int = 32  # half-resolution encoder / decoder width
    feat: int = 48  # quarter-resolution feature width
    lstm: int = 32  # ConvLSTM state width


PRESETS = {
    "balanced": NetConfig(skip=32, feat=48, lstm=32),
}


def check_window(window: int) -> int:
    """The window length if the networks support it (odd, 1 to 2*MAX_DELAY+1), else ValueError."""
    if window < 1 or window % 2 == 0 or window // 2 > MAX_DELAY:
        raise ValueError(f"window must be odd, between 1 and {2 * MAX_DELAY + 1}; got {window}")
    return window


def weights_path(preset: str) -> Path:
    return WEIGHTS_DIR / f"{preset}.weights.h5"
