"""One video file cleaned end to end: reader -> Denoiser -> writer.

    result = clean_video("in.mp4", "out.mp4", preset="fast", progress=lambda done, total, sigma: ...)

Decoding runs on a thread ahead of the model and encoding on one behind it (``denoise_stream``,
the one loop every job uses); the output appears only once it is complete.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import av
import numpy as np

from vidclean.errors import VidcleanError
from vidclean.io.reader import STDIO, open_video
from vidclean.jobs.resume import clean_in_parts, discard_parts
from vidclean.jobs.segments import PartMismatch, frame_timestamps, plan_parts
from vidclean.jobs.stream import denoise_stream, writer_for
from vidclean.options import CleanOptions


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


Progress = Callable[[int, "int | None", float], object]


def clean_file(src: str, dst: str, options: CleanOptions, progress: Progress | None = None,
               denoiser=None) -> FileResult:
    """Cleans ``src`` into ``dst``; VidcleanError for what a user may cause (nothing written then).

    A file of at least two parts (``options.part_frames``) in a container that seeks exactly is
    cleaned in parts kept beside the output (vidclean.jobs.resume), so that a run stopped on the
    way can be continued by running it again; others in one pass.

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
            parts = _resumable_plan(src, dst, options)
            if parts is not None:
                writer.abort()  # it checked the output; the parts are written beside it, then joined
            done = [0]  # frames in the output so far (an earlier run's included)
            made = []

            def make():  # the networks load after the checks, and only if a frame is left to clean
                if not made:
                    made.append(denoiser or options.denoiser())
                return made[0]

            def on_frame(sigma: float):
                done[0] += 1
                if progress is not None:
                    progress(done[0], info.frame_count, sigma)

            if parts is None:
                run_denoiser = make()
                frames = _intact(stream, src) if options.strict else stream
                counted = lambda: on_frame(run_denoiser.last_sigma)  # noqa: E731
                if denoise_stream(run_denoiser, frames, writer, on_frame=counted) == 0:
                    raise VidcleanError(f"{src}: no frame could be decoded")
                count, sigma = done[0], run_denoiser.mean_sigma
        notes = list(writer.notes)  # (in parts, those of setting up: odd sizes, audio re-encoded)
    if parts is None:
        discard_parts(dst)  # an earlier run's parts, now of no use
    else:
        def resumed(earlier: int, sigma: float):
            done[0] = earlier
            if progress is not None:
                progress(earlier, info.frame_count, sigma)

        try:
            count, sigma_total, more = clean_in_parts(src, dst, options, parts, writer.codec, make, on_frame, resumed)
        except PartMismatch:  # parts that do not match the plan or do not join (a damaged file): in one pass
            discard_parts(dst)
            result = clean_file(src, dst, replace(options, part_frames=0), progress, made[0] if made else denoiser)
            result.seconds = time.time() - start
            return result
        notes += [note for note in more if note not in notes]
        sigma = sigma_total / max(count, 1)
    if piped_audio:
        notes.append("audio from standard input is not kept")
    if stream.frames_lost:
        notes.append(f"{stream.frames_lost} frame(s) damaged or missing in the input: skipped")
    if any(c.is_alpha for c in av.VideoFormat(info.pix_fmt).components):
        notes.append(f"the input's alpha channel ({info.pix_fmt}) is not kept: the output is opaque")
    return FileResult(count, time.time() - start, sigma, notes)


def _resumable_plan(src: str, dst: str, options: CleanOptions):
    """The parts to clean ``src`` in (resumably), or None for one pass: a stream (standard input or
    output, a URL), --strict (it counts frames missing at the end of one read), a variable frame
    rate, or a file too short."""
    if not options.part_frames or STDIO in (src, dst) or options.strict or not os.path.isfile(src):
        return None
    stamps = frame_timestamps(src)
    if stamps is None or max(np.diff(stamps), default=0) - min(np.diff(stamps), default=0) > 1:
        return None  # a variable frame rate: its parts may not join by stream copy
    return plan_parts(src, options.part_frames, options.window, options.sigma is None, options.fusion_radius,
                      stamps)


def clean_video(src, dst, *, progress: Progress | None = None, **options) -> FileResult:
    """What ``vidclean SRC DST [options]`` does: ``src`` cleaned into ``dst``, atomically.

    Args:
        src, dst: video paths; the output's container follows its extension.
        progress: called after each frame with (frames done, frames in the file or None, the
            noise level in use on the 0-255 scale).
        **options: any field of ``CleanOptions`` (preset, window, sigma, fusion, tile, precision,
            weights, codec, crf, pix_fmt, encoder_preset, format, overwrite, strict, part_frames), the
            command line's defaults otherwise.

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
