"""The one loop of every job: frames through a Denoiser into a VideoWriter, encoding on a thread
behind the model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing

from vidclean.core.pipeline import Behind
from vidclean.io.reader import Frame
from vidclean.io.writer import VideoWriter
from vidclean.options import CleanOptions
from vidclean.presets import is_large_frame


def denoise_stream(denoiser, frames: Iterable[Frame], writer: VideoWriter, *, first: int = 0,
                   emit_from: int | None = None, limit: int | None = None,
                   on_frame: Callable[[], object] | None = None) -> int:
    """Cleans ``frames`` into ``writer`` (encoding on a thread behind the model); returns the count.

    Args:
        first, emit_from: as ``Denoiser.run`` takes them (a part of a video: vidclean.jobs.segments).
        limit: stop after this many frames written (None: all).
        on_frame: called after each frame is handed to the encoder.
    """
    info = writer.info
    behind = 1 if is_large_frame(info.width * info.height) else 4  # frames waiting to be encoded
    count = 0
    # closing the run stops its reading thread before the input is closed, whatever happens;
    # the frames' own pixels are not needed back, only their timestamps
    with closing(denoiser.run(frames, pixels=False, first=first, emit_from=emit_from)) as cleaned, \
            Behind(writer.write, behind) as write:
        for frame, clean in cleaned:
            write(clean, frame.pts)
            count += 1
            if on_frame is not None:
                on_frame()
            if count == limit:
                break
    return count


def writer_for(dst: str, info, options: CleanOptions, **kwargs) -> VideoWriter:
    """The VideoWriter of ``options``' encoding (CRF, pixel format, speed preset) for ``info``'s video."""
    quality = {} if options.crf is None else {"crf": options.crf}  # the writer's default: CRF 17
    return VideoWriter(dst, info, codec=options.codec, pix_fmt=options.pix_fmt, speed=options.encoder_speed,
                       format=options.format, **quality, **kwargs)
