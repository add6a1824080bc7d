"""One video file cleaned end to end: reader -> Denoiser -> writer, for the command line and batch.

    result = clean_file("in.mp4", "out.mp4", options, progress=bar.update)

``options`` carries the command line's cleaning options (preset, window, sigma, no_fusion, tile,
precision, codec, crf, pix_fmt, encoder_preset, overwrite, strict). Decoding runs on a thread ahead of the
model and encoding on one behind it; the output appears only once it is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError
from vidclean.presets import fusion_radius, is_large_frame



@dataclass
class FileResult:
    frames: int
    seconds: float
    sigma: float  # the noise level used: the one given, or the mean of the estimates
    notes: list[str] = field(default_factory=list)


def clean_file(src: str, dst: str, options, progress: Callable[[int | None, float], object] | None = None,
               denoiser=None) -> FileResult:
    """Cleans ``src`` into ``dst``; VidcleanError for what a user may cause (nothing written then).

    ``progress(frame_count, sigma)`` is called after each frame with the file's frame count as
    its header gives it (None if unknown) and the noise level in use. ``denoiser``
    reuses a Denoiser built for these options (a batch of files loads the networks once).
    """
    import av

    from vidclean.core.pipeline import Behind
    from vidclean.io.reader import open_video
    from vidclean.io.writer import VideoWriter

    start = time.time()
    with open_video(src) as stream:
        info = stream.info
        quality = {} if options.crf is None else {"crf": options.crf}  # the writer's default: CRF 17
        with VideoWriter(dst, info, codec=options.codec, pix_fmt=options.pix_fmt, **quality,
                         speed=options.encoder_preset or ENCODER_PRESET.get(options.preset),
                         copy_audio_from=src if info.audio_streams else None,
                         overwrite=options.overwrite) as writer:
            denoiser = denoiser or make_denoiser(options)  # the model loads after the checks
            count = 0
            # decoding runs on a thread ahead of the model, encoding on one behind it; closing the
            # run stops the reading thread before the input is closed, whatever happens
            behind = 1 if is_large_frame(info.width * info.height) else 4  # frames waiting to be encoded
            frames = _intact(stream, src) if options.strict else stream
            # the frames' own pixels are not needed back: only their timestamps
            with closing(denoiser.run(frames, pixels=False)) as cleaned, Behind(writer.write, behind) as write:
                for frame, clean in cleaned:
                    write(clean, frame.pts)
                    count += 1
                    if progress is not None:
                        progress(info.frame_count, denoiser.last_sigma)
            if count == 0:
                raise VidcleanError(f"{src}: no frame could be decoded")
        notes = list(writer.notes)
    if stream.frames_lost:
        notes.append(f"{stream.frames_lost} frame(s) damaged or missing in the input: skipped")
    if any(c.is_alpha for c in av.VideoFormat(info.pix_fmt).components):
        notes.append(f"the input's alpha channel ({info.pix_fmt}) is not kept: the output is opaque")
    return FileResult(count, time.time() - start, denoiser.mean_sigma, notes)


def make_denoiser(options):
    """The Denoiser for these options (Keras loaded quietly)."""
    load_keras()
    from vidclean.core.denoiser import Denoiser

    return Denoiser(options.preset, options.window, options.sigma, options.weights, tile=options.tile,
                    precision=options.precision, fusion=fusion(options))


def fusion(options) -> tuple[int, int] | None:
    """The Denoiser's ``fusion`` for these options: (r, r) frames before and after, or None."""
    r = fusion_radius(options.preset, not options.no_fusion)
    return (r, r) if r else None


def _intact(stream, path: str):
    """The stream's frames, until one is found damaged or missing (--strict): then an error."""
    for frame in stream:
        if stream.frames_lost:
            break
        yield frame
    if stream.frames_lost:  # frames missing at the end show only once the stream has ended
        raise VidcleanError(f"{path}: {stream.frames_lost} frame(s) damaged or missing (--strict); no output written")
