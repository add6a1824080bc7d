"""A long video in parts: each part cleaned on its own (on any machine), then joined by stream copy.

    parts = plan_parts("long.mp4", part_frames=1024, window=5, auto_sigma=True)
    names = [f"part{part.index}{part_suffix(options.codec)}" for part in parts]
    for part, name in zip(parts, names):
        clean_part("long.mp4", part, denoiser, options, name)
    join_parts("long.mp4", names, "clean.mp4")

Parts after the first begin where the engine restarts its ConvLSTM state (at multiples of
STATE_PERIOD frames, warmed up on the STATE_WARMUP frames before), plus the motion-compensated
fusion's radius (``fusion`` frames each side; the network cleans from ``fusion`` frames before a
part's start, so from the restart itself, to ``fusion`` past its end). Each part is decoded from the keyframe
before its history (the warm-up, and with ``--sigma auto`` the SIGMA_HISTORY frames before that,
which the noise estimate of the warm-up's first frame reads) to ``window // 2 + fusion`` frames
past its end, so that every frame is cleaned exactly as a run over the whole file cleans it.
The borders are invisible, and with a lossless codec the joined file is frame for frame the
plain command's. A part is encoded alone (it starts with a keyframe), with
the source's timestamps, into a container that gives them back as written (``part_suffix``);
joining copies the packets into the final container with the source's audio.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import av

from vidclean.errors import VidcleanError, reason
from vidclean.io.reader import open_video
from vidclean.io.writer import VideoWriter
from vidclean.jobs.stream import denoise_stream, writer_for
from vidclean.options import CleanOptions
from vidclean.presets import SIGMA_HISTORY, STATE_PERIOD, STATE_WARMUP, check_window


def part_suffix(codec: str) -> str:
    """The container a part is written in: MP4 where it holds the codec (it gives back
    every packet's pts and dts as written, B-frames and a late start included), else Matroska
    (FFV1: no frame reordering, so pts alone suffice)."""
    try:
        name = av.Codec(codec, "w").canonical_name
        with av.open(io.BytesIO(), "w", format="mp4") as probe:
            return ".mp4" if name in probe.supported_codecs else ".mkv"
    except (av.FFmpegError, ValueError):
        return ".mkv"


class PartMismatch(VidcleanError):
    """The frames decoded for a part are not those the plan expected (a damaged file, a seek that
    landed elsewhere): the file has to be cleaned in one piece."""


@dataclass(frozen=True)
class Part:
    index: int
    start: int  # first frame cleaned (frame index in display order)
    stop: int  # one past the last frame cleaned
    timestamps: tuple[int, ...]  # pts of the frames decoded: read_from .. stop + k + fusion - 1 (or the end)
    read_from: int  # first frame decoded: the part's history

    @property
    def frames(self) -> int:
        return self.stop - self.start


# Containers whose index lets a part seek to the keyframe before its first frame and get the
# frames as a whole decode does (MPEG-TS and PS seek to the keyframe after the target, AVI's
# stored timestamps do not follow its B-frames after a seek, raw streams have no index).
SEEKABLE_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}


def frame_timestamps(path: str | os.PathLike) -> list[int] | None:
    """The video frames' timestamps in display order, read from the packets without decoding;
    None (the file is then not split) if some packet has none, or the container is not one of
    SEEKABLE_FORMATS."""
    try:
        with av.open(os.fspath(path), metadata_errors="ignore") as container:
            if not container.streams.video or container.format.name not in SEEKABLE_FORMATS:
                return None
            stamps = []
            for packet in container.demux(container.streams.video[0]):
                if packet.size == 0:  # the demuxer's flush packet
                    continue
                if packet.pts is None:
                    return None
                stamps.append(packet.pts)
    except (av.FFmpegError, OSError, ValueError):
        return None
    return sorted(stamps)


def plan_parts(path: str | os.PathLike, part_frames: int, window: int, auto_sigma: bool,
               fusion: int = 0, stamps: list[int] | None = None) -> list[Part] | None:
    """The parts of ``path``: about ``part_frames`` frames each, starting ``fusion`` frames after
    multiples of STATE_PERIOD (the first at 0); ``fusion`` is the Denoiser's fusion radius
    (frames each side), 0 without fusion; ``stamps`` the file's ``frame_timestamps`` if already read.

    None when the file is cleaned whole: shorter than two parts, not in a container that seeks
    exactly (SEEKABLE_FORMATS), or its timestamps unknown.
    """
    k = check_window(window) // 2
    stamps = frame_timestamps(path) if stamps is None else stamps
    step = max(STATE_PERIOD, -(-part_frames // STATE_PERIOD) * STATE_PERIOD)
    if stamps is None or len(set(stamps)) != len(stamps) or len(stamps) < 2 * step:
        return None
    n = len(stamps)
    # a start `fusion` frames after a restart: the network's first output the part needs is then
    # the restart's own, and no frame of the period before has to be cleaned
    starts = [0] + [s + fusion for s in range(step, n, step)]
    if n - starts[-1] < step // 2:  # a short tail joins the part before
        starts.pop()
    # the state's warm-up, and for each frame of it the frames its noise estimate reads
    history = STATE_WARMUP + (SIGMA_HISTORY if auto_sigma else 0)
    parts = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        first_cleaned = max(0, start - fusion)  # the fusion's first neighbour: a restart, or 0
        read_from = max(0, first_cleaned // STATE_PERIOD * STATE_PERIOD - history)
        parts.append(Part(i, start, stop, tuple(stamps[read_from:min(n, stop + k + fusion)]), read_from))
    return parts


def _frames_of(stream, part: Part):
    """The part's frames from ``stream``, indexed as in the whole file; PartMismatch if they are
    not the planned ones."""
    expected = iter(part.timestamps)
    for i, frame in enumerate(stream, part.read_from):
        pts = next(expected, None)
        if pts is None:  # the look-ahead is complete
            return
        if frame.pts != pts or stream.frames_lost:
            raise PartMismatch(f"{stream.info.path}: frame {i} has timestamp {frame.pts}, planned {pts}")
        yield replace(frame, index=i)
    if next(expected, None) is not None:
        raise PartMismatch(f"{stream.info.path}: the file ended before frame {i + 1} of part {part.index}")


def clean_part(src: str, part: Part, denoiser, options: CleanOptions, dst: str,
               on_frame: Callable[[], object] | None = None) -> tuple[int, float]:
    """Cleans ``part`` of ``src`` into ``dst`` (named with ``part_suffix``, video only); returns (frames, sum of
    the noise levels used), for the file's mean. ``on_frame`` is called after each frame."""
    start_pts = part.timestamps[0] if part.read_from else None
    try:
        stream = open_video(src, start_pts=start_pts)
    except VidcleanError as exc:  # e.g. a seek that found no frame at or after the start
        raise PartMismatch(f"{exc} (part {part.index})") from None
    with stream:
        with writer_for(dst, stream.info, options, overwrite=True) as writer:
            count = denoise_stream(denoiser, _frames_of(stream, part), writer, first=part.read_from,
                                   emit_from=part.start, limit=part.frames, on_frame=on_frame)
        if count != part.frames:
            raise PartMismatch(f"{src}: part {part.index} gave {count} of {part.frames} frames")
    return count, denoiser.sigma_total


def join_parts(src: str, part_files: list[str], dst: str, overwrite: bool = False) -> list[str]:
    """Joins the encoded parts (in order) into ``dst`` by stream copy, with ``src``'s audio;
    returns the writer's notes. ``dst`` appears only when complete."""
    with open_video(src) as stream:
        info = stream.info
    try:
        with av.open(part_files[0]) as first:
            template = first.streams.video[0]
            with VideoWriter(dst, info, template=template, copy_audio_from=src if info.audio_streams else None,
                             overwrite=overwrite) as writer:
                for path in part_files:
                    with av.open(path) as part:
                        for packet in part.demux(part.streams.video[0]):
                            if packet.size:
                                writer.write_packet(packet)
                        packet = None  # before its container closes
    except (av.FFmpegError, OSError, IndexError) as exc:  # a part file damaged or missing
        raise VidcleanError(f"{dst}: cannot read a part ({reason(exc)})") from None
    return list(writer.notes)
