"""vidclean: a streaming video denoiser (a per-frame CNN and a ConvLSTM over time, then a
motion-compensated fusion), PyAV in and out, with its trained weights in the package.

    import vidclean

    denoiser = vidclean.Denoiser()                       # preset "balanced", window 5, sigma "auto", fusion on
    with vidclean.open_video("in.mp4") as stream:
        for clean in denoiser.denoise(frame.rgb for frame in stream):   # H x W x 3 uint8 RGB arrays
            ...

    vidclean.clean_video("in.mp4", "out.mp4", preset="fast")            # what `vidclean in.mp4 out.mp4` does

Names load on first use: ``import vidclean`` does not import TensorFlow or Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vidclean._version import __version__

# public name -> the module that defines it (imported when the name is first used)
_EXPORTS = {
    "Denoiser": "vidclean.core.denoiser",
    "clean_video": "vidclean.jobs.file",
    "FileResult": "vidclean.jobs.file",
    "CleanOptions": "vidclean.options",
    "LiveOptions": "vidclean.options",
    "open_video": "vidclean.io.reader",
    "VideoStream": "vidclean.io.reader",
    "Frame": "vidclean.io.reader",
    "VideoWriter": "vidclean.io.writer",
    "VidcleanError": "vidclean.errors",
    "PRESETS": "vidclean.presets",
}

__all__ = ["CleanOptions", "Denoiser", "FileResult", "Frame", "LiveOptions", "PRESETS", "VidcleanError", "VideoStream",
           "VideoWriter", "__version__", "clean_video", "open_video"]

if TYPE_CHECKING:
    from vidclean.core.denoiser import Denoiser
    from vidclean.errors import VidcleanError
    from vidclean.io.reader import Frame, VideoStream, open_video
    from vidclean.io.writer import VideoWriter
    from vidclean.jobs.file import FileResult, clean_video
    from vidclean.options import CleanOptions, LiveOptions
    from vidclean.presets import PRESETS


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vidclean' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
