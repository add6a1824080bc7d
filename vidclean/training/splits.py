"""Which clips of the data folder are for validation, fixed before any tuning, and kept out of training.

``TUNE`` is read freely to choose between designs; ``TEST`` is read only to confirm a finished
change. Both hold real camera footage: ``val/`` and clips held out of ``train/``. Training skips
every clip named here (``held_out``), wherever its root is given (docs/quality.md, "Validation").
"""

from __future__ import annotations

import os
from pathlib import Path

# The data folder (README: "../shared/data" from the repository); VIDCLEAN_DATA overrides it
DATA = Path(os.environ.get("VIDCLEAN_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))

TUNE = (
    "val/vid4/city",  # 704x576, slow pan over fine buildings
    "val/vid4/walk",  # 720x480, people walking
    "val/davis/bus",  # 854x480, fast pan
    "train/davis/car-roundabout",  # 854x480, held out of training from issue 26 on
    "train/davis/parkour",
)
TEST = (
    "train/sam2/bedroom",  # 960x540, handheld indoors, very clean
    "train/davis/soapbox",
    "train/davis/kite-surf",
    "train/davis/horsejump-high",
)
SPLITS = {"tune": TUNE, "test": TEST, "all": TUNE + TEST}


def split_paths(name: str, data: Path | None = None) -> list[Path]:
    """The clips of a split ("tune", "test" or "all") under the data folder."""
    return [(data or DATA) / clip for clip in SPLITS[name]]


def held_out(path: str | os.PathLike) -> bool:
    """Whether a clip is a validation clip (of either split), by the end of its path."""
    parts = Path(path).resolve().parts
    return any(parts[-len(Path(c).parts):] == Path(c).parts for c in TUNE + TEST)
