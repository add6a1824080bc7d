"""Reading video: one VideoStream interface, an open_video() factory, a PyAV backend.

Frames come out as RGB (H, W, 3) uint8 at the stored (coded) size; they are never
rotated. The display rotation is reported in VideoInfo.rotation so that a writer can
put the same display matrix on its output.
"""

from __future__ import annotations

import abc
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from vidclean.errors import VidcleanError

# Consecutive unreadable packets after which the rest of a file is given up.
_MAX_CONSECUTIVE_ERRORS = 100


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # stored (coded) size; frames are NOT rotated
    height: int
    fps: Fraction | None  # stream average_rate, else guessed_rate
    time_base: Fraction | None
    frame_count: int | None  # stream.frames if known, else round(duration * fps), else None
    duration: float | None  # seconds
    rotation: int  # display rotation, counter-clockwise degrees: 0, 90, 180 or 270
    codec: str
    pix_fmt: str
    audio_streams: int


@dataclass
class Frame:
    index: int
    pts: int | None  # in info.time_base
    time: float | None  # seconds
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous


class VideoStream(abc.ABC):
    """A source of frames; files and (later) cameras look alike to the rest."""

    frames_lost: int = 0  # damaged packets / frames skipped so far

    @property
    @abc.abstractmethod
    def info(self) -> VideoInfo: ...

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_input_path(path: str) -> None:
    if not os.path.exists(path):
        raise VidcleanError(f"{path}: no such file")
    if os.path.isdir(path):
        raise VidcleanError(f"{path}: is a directory, not a video file")
    if os.path.getsize(path) == 0:
        raise VidcleanError(f"{path}: file is empty")


def _tag_seconds(tag: str | None) -> float | None:
    """Seconds from a "HH:MM:SS.fraction" tag, None if absent or malformed."""
    try:
        h, m, sec = tag.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except (AttributeError, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class PyAVStream(VideoStream):
    """Frames of the first video stream of a file, decoded with PyAV (see PyAV's examples)."""

    def __init__(self, path: str | os.PathLike):
        self._path = path = os.fspath(path)
        _check_input_path(path)
        self.frames_lost = 0
        self._index = 0
        self._first = self._frames = None
        try:
            self._container = av.open(path, metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VidcleanError(f"{path}: not a readable video file ({_reason(exc)})") from None
        try:
            if not self._container.streams.video:
                raise VidcleanError(f"{path}: contains no video stream")
            self._stream = stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            self._frames = self._decode()
            # The display matrix is only exposed on decoded frames (VideoFrame.rotation),
            # so the first frame is decoded now and kept for the first __next__.
            self._first = next(self._frames, None)
            if self._first is None:
                raise VidcleanError(f"{path}: no decodable video frames")
            self._info = self._make_info(self._first)
        except BaseException:
            self.close()
            raise

    def _make_info(self, first: av.VideoFrame) -> VideoInfo:
        stream, container = self._stream, self._container
        fps = stream.average_rate or stream.guessed_rate or None
        tb = stream.time_base
        if stream.duration and tb:
            duration = float(stream.duration * tb)
        elif tagged := _tag_seconds(stream.metadata.get("DURATION")):  # Matroska per-stream tag
            duration = tagged
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = None
        if stream.frames:
            frame_count = stream.frames
        elif duration and fps:
            frame_count = round(duration * fps)
        else:
            frame_count = None
        return VideoInfo(
            path=self._path,
            width=first.width,
            height=first.height,
            fps=fps,
            time_base=tb,
            frame_count=frame_count,
            duration=duration,
            rotation=round(first.rotation / 90) * 90 % 360,
            codec=stream.codec_context.name,
            pix_fmt=first.format.name,
            audio_streams=len(container.streams.audio),
        )

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; damaged packets are counted in frames_lost and skipped.

        At the end, frames the container announced but that never came (a truncated file,
        frames the decoder dropped) are counted in frames_lost too.

        AVI stores no presentation times, only one timestamp per packet in decode order: with
        B-frames the decoder hands the frames (in display order) the timestamps of others nearby.
        There each frame gets the earliest timestamp of the packets decoded so far instead."""
        errors = decoded = 0
        last_time = None
        decode_order = self._container.format.name == "avi"
        stamps: list[int] = []  # heap of packet timestamps not yet given to a frame (AVI)
        while errors < _MAX_CONSECUTIVE_ERRORS:
            # A demuxer error ends the demux generator; a new one reads on from there.
            packets = self._container.demux(self._stream)
            try:
                for packet in packets:
                    try:
                        frames = packet.decode()  # the empty packet at the end flushes
                    except av.FFmpegError:
                        self.frames_lost += 1
                        errors += 1
                        continue
                    errors = 0
                    if decode_order and packet.pts is not None:
                        heapq.heappush(stamps, packet.pts)
                    for frame in frames:
                        if decode_order and stamps:
                            frame.pts = heapq.heappop(stamps)
                        decoded += 1
                        if frame.time is not None:
                            last_time = max(frame.time, last_time or frame.time)
                        yield frame
                break
            except (av.FFmpegError, OSError):
                self.frames_lost += 1
                errors += 1
        self._count_missing(decoded, last_time)

    def _count_missing(self, decoded: int, last_time: float | None) -> None:
        stream = self._stream
        if stream.frames:  # an exact count from the container's index (MP4, MOV)
            self.frames_lost = max(self.frames_lost, stream.frames - decoded)
            return
        # Otherwise, the stream's own duration (not the container's: audio may run longer).
        fps = stream.average_rate or stream.guessed_rate
        duration = _tag_seconds(stream.metadata.get("DURATION"))
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        if fps and duration and last_time is not None:
            # Frames that would fit between the last one decoded and the announced end; a
            # margin of one frame, so that a long last frame (variable frame rate) is no loss.
            missing = int((duration - last_time) * fps) - 1
            if missing > 0:
                self.frames_lost += missing

    @property
    def info(self) -> VideoInfo:
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        while self._container is not None:
            frame, self._first = self._first, None
            if frame is None:
                frame = next(self._frames, None)
                if frame is None:
                    return
            # A copy, so that no array shares memory with PyAV; and no av.VideoFrame is
            # held across the yield: freeing one after close() crashes PyAV 18.
            rgb = np.array(frame.to_ndarray(format="rgb24"), order="C")
            out = Frame(self._index, frame.pts, frame.time, rgb)
            del frame
            self._index += 1
            yield out

    def close(self) -> None:
        """Release the file; iteration ends. Frames and generators go before the container."""
        self._first = None
        frames, self._frames = getattr(self, "_frames", None), None
        if frames is not None:
            frames.close()
        container, self._container = getattr(self, "_container", None), None
        if container is not None:
            container.close()


def open_video(path: str | os.PathLike, backend: str = "pyav") -> VideoStream:
    """Open a video file for reading. Raises VidcleanError for anything unreadable."""
    if backend != "pyav":
        raise VidcleanError(f"unknown video backend {backend!r} (available: pyav)")
    return PyAVStream(path)
