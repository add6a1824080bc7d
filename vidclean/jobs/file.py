"""One video file cleaned end to end: reader -> Denoiser -> writer.

    result = clean_video("in.mp4", "out.mp4", preset="fast", progress=lambda done, total, sigma: ...)

Decoding runs on a thread ahead of the model and encoding on one behind it (``denoise_stream``,
the one loop every job uses); the output appears only once it is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field

import av

from vidclean.core.pipeline import Behind
from vidclean.errors import VidcleanError
from vidclean.io.reader import STDIO, Frame, open_video
from vidclean.io.writer import VideoWriter
from vidclean.options import CleanOptions
from vidclean.presets import is_large_frame


@dataclass
class FileResult:
    """What cleaning one file did.

    Args:
        frames: frames written.
        seconds: wall time of the whole job.
        sigma: the noise level used: the one given, or the mean of the estimates.
        notes: what was changed or lost on the way, one line each.
    """

    frames: int
    seconds: float
    sigma: float
    notes: list[str] = field(default_factory=list)


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


Progress = Callable[[int, "int | None", float], object]


def clean_file(src: str, dst: str, options: CleanOptions, progress: Progress | None = None,
               denoiser=None) -> FileResult:
    """Cleans ``src`` into ``dst``; VidcleanError for what a user may cause (nothing written then).

    Args:
        progress: called after each frame with (frames done, the file's frame count as its header
            gives it or None if unknown, the noise level in use).
        denoiser: a Denoiser built for these options, reused (a batch loads the networks once).
    """
    start = time.time()
    with open_video(src) as stream:
        info = stream.info
        piped_audio = bool(info.audio_streams) and src == STDIO  # standard input cannot be read twice
        with writer_for(dst, info, options, copy_audio_from=src if info.audio_streams and not piped_audio else None,
                        overwrite=options.overwrite) as writer:
            denoiser = denoiser or options.denoiser()  # the model loads after the checks
            done = [0]

            def on_frame():
                done[0] += 1
                if progress is not None:
                    progress(done[0], info.frame_count, denoiser.last_sigma)

            frames = _intact(stream, src) if options.strict else stream
            if denoise_stream(denoiser, frames, writer, on_frame=on_frame) == 0:
                raise VidcleanError(f"{src}: no frame could be decoded")
        notes = list(writer.notes)
    if piped_audio:
        notes.append("audio from standard input is not kept")
    if stream.frames_lost:
        notes.append(f"{stream.frames_lost} frame(s) damaged or missing in the input: skipped")
    if any(c.is_alpha for c in av.VideoFormat(info.pix_fmt).components):
        notes.append(f"the input's alpha channel ({info.pix_fmt}) is not kept: the output is opaque")
    return FileResult(done[0], time.time() - start, denoiser.mean_sigma, notes)


def clean_video(src, dst, *, progress: Progress | None = None, **options) -> FileResult:
    """What ``vidclean SRC DST [options]`` does: ``src`` cleaned into ``dst``, atomically.

    Args:
        src, dst: video paths; the output's container follows its extension.
        progress: called after each frame with (frames done, frames in the file or None, the
            noise level in use on the 0-255 scale).
        **options: any field of ``CleanOptions`` (preset, window, sigma, fusion, tile, precision,
            codec, crf, pix_fmt, encoder_preset, overwrite, strict), the command line's defaults
            otherwise.

    Returns:
        A FileResult (frames, seconds, sigma, notes).

    Raises:
        VidcleanError: bad input, output or options, worded for the user; nothing is written then.
    """
    try:
        opts = CleanOptions(**options)
    except TypeError as exc:
        raise VidcleanError(str(exc)) from None
    return clean_file(str(src), str(dst), opts, progress)


def _intact(stream, path: str):
    """The stream's frames, until one is found damaged or missing (--strict): then an error."""
    for frame in stream:
        if stream.frames_lost:
            break
        yield frame
    if stream.frames_lost:  # frames missing at the end show only once the stream has ended
        raise VidcleanError(f"{path}: {stream.frames_lost} frame(s) damaged or missing (--strict); no output written")
