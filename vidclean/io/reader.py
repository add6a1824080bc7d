"""Reading video: one VideoStream interface, an open_video() factory, two backends.

``PyAVStream`` reads files and stream URLs; ``OpenCVCamera`` reads a camera (an index or a
device path such as ``/dev/video2``). Both yield the same ``Frame`` objects, so files and
cameras look alike to the rest (as in PySceneDetect's ``open_video``).

Frames come out as RGB (H, W, 3) at the stored (coded) size: uint8, or uint16 (0-65535) for a
stream of more than 8 bits, converted with the stream's own matrix and range. They are never
rotated. The display rotation, the bit depth and the colour tags are reported in VideoInfo so that
a writer can put the same on its output.
"""

from __future__ import annotations

import abc
import heapq
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from vidclean.errors import VidcleanError, reason

# Consecutive unreadable packets after which the rest of a file is given up.
_MAX_CONSECUTIVE_ERRORS = 100
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # rtsp://, http://, ... : not a local path
STDIO = "-"  # as a path: standard input (reading) or standard output (writing)


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
    sample_aspect_ratio: Fraction | None = None  # of the pixels, where not square
    metadata: tuple[tuple[str, str], ...] = ()  # the container's tags: creation time, location, title ...
    bit_depth: int = 8  # bits per component of the stream
    colour: Colour | None = None  # the stream's colour tags, where any is given
    hdr10: HDR10 | None = None  # HDR10 static metadata, where the stream has it


@dataclass(frozen=True)
class Colour:
    """A stream's colour tags, FFmpeg's numbers (AVColorPrimaries, AVColorTransferCharacteristic,
    AVColorSpace, AVColorRange); 2 (0 for range) is "unspecified"."""

    primaries: int = 2
    transfer: int = 2
    matrix: int = 2
    range: int = 0

    @property
    def hdr(self) -> str | None:
        """"PQ" or "HLG" for a high dynamic range transfer, else None."""
        return {16: "PQ", 18: "HLG"}.get(self.transfer)


@dataclass(frozen=True)
class HDR10:
    """HDR10 static metadata: the mastering display (primaries G, B, R and white point as (x, y)
    in CIE 1931, luminance max and min in cd/m2) and the content light level (MaxCLL, MaxFALL)."""

    primaries: tuple[tuple[float, float], ...] | None = None  # G, B, R, white point
    luminance: tuple[float, float] | None = None  # max, min
    light_level: tuple[int, int] | None = None  # MaxCLL, MaxFALL


@dataclass
class Frame:
    index: int
    pts: int | None  # in info.time_base
    time: float | None  # seconds
    rgb: np.ndarray  # (H, W, 3) uint8, or uint16 for a stream of more than 8 bits; C-contiguous


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


# Container tags that describe the file's making, not its content: the muxer writes its own
_TECHNICAL_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "duration"}


def _non_square(sar: Fraction | None) -> Fraction | None:
    """A pixel aspect ratio worth keeping: known and not 1:1."""
    return sar if sar and sar.numerator and sar != 1 else None


def bit_depth(pix_fmt: str) -> int:
    """Bits per component of a pixel format (8 for one FFmpeg does not know)."""
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _colour(frame: av.VideoFrame) -> Colour | None:
    """The colour tags of a decoded frame (the decoder puts the stream's there), None if none is given."""
    colour = Colour(int(frame.color_primaries), int(frame.color_trc), int(frame.colorspace), int(frame.color_range))
    return None if colour == Colour() else colour


def side_data(frame: av.VideoFrame) -> list:
    """A frame's side data entries, whichever PyAV (a sequence until 18.1.0, a mapping by type since 18.1.1)."""
    entries = frame.side_data
    return list(entries.values() if isinstance(entries, Mapping) else entries)


def _hdr10(frame: av.VideoFrame) -> HDR10 | None:
    """HDR10 static metadata from a frame's side data (FFmpeg's AVMasteringDisplayMetadata and
    AVContentLightMetadata structs), None if it has none."""
    mastering = light = None
    for data in side_data(frame):
        raw = bytes(data)
        if data.type == SideDataType.MASTERING_DISPLAY_METADATA and len(raw) >= 88:
            # 10 AVRationals (x, y of R, G, B, white point; min and max luminance), then two flags
            num_den = np.frombuffer(raw[:80], np.int32).reshape(10, 2)
            values = [int(n) / int(d) if d else 0.0 for n, d in num_den]
            has_primaries, has_luminance = np.frombuffer(raw[80:88], np.int32)
            r, g, b, white = (tuple(values[i:i + 2]) for i in range(0, 8, 2))
            mastering = ((g, b, r, white) if has_primaries else None, (values[9], values[8]) if has_luminance else None)
        elif data.type == SideDataType.CONTENT_LIGHT_LEVEL and len(raw) >= 8:
            light = tuple(int(v) for v in np.frombuffer(raw[:8], np.uint32))
    if mastering is None and light is None:
        return None
    return HDR10(*(mastering or (None, None)), light)


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


class PyAVStream(VideoStream):
    """Frames of the first video stream of a file, decoded with PyAV (see PyAV's examples)."""

    def __init__(self, path: str | os.PathLike, start_pts: int | None = None, depth: int | None = None):
        """``start_pts``: begin at the frame with this timestamp (or the first after it), decoding
        from the keyframe before it; ``frames_lost`` then counts no frames missing at the end.
        ``depth`` 8: frames in 8 bits whatever the stream's depth (None: uint16 above 8 bits)."""
        self._path = path = os.fspath(path)
        self._start_pts = start_pts
        if path != STDIO and not _URL.match(path):
            _check_input_path(path)
        self.frames_lost = 0
        self._index = 0
        self._first = self._frames = None
        try:
            # "-": standard input, a stream such as yuv4mpegpipe, NUT or Matroska (FFmpeg's pipe:0)
            self._container = av.open("pipe:0" if path == STDIO else path, metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VidcleanError(f"{path}: not a readable video file ({reason(exc)})") from None
        try:
            if not self._container.streams.video:
                raise VidcleanError(f"{path}: contains no video stream")
            self._stream = stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            if start_pts:
                self._container.seek(start_pts, stream=stream, backward=True)
            self._frames = self._decode()
            # The display matrix is only exposed on decoded frames (VideoFrame.rotation),
            # so the first frame is decoded now and kept for the first __next__.
            self._first = next(self._frames, None)
            if self._first is None:
                raise VidcleanError(f"{path}: no decodable video frames")
            self._info = self._make_info(self._first)
            # rgb48le: 16 bits a component, the stream's 10 or 12 scaled up (its own matrix and range)
            self._format = "rgb48le" if self._info.bit_depth > 8 and depth != 8 else "rgb24"
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
            sample_aspect_ratio=_non_square(stream.codec_context.sample_aspect_ratio),
            metadata=tuple((k, v) for k, v in container.metadata.items() if k not in _TECHNICAL_TAGS),
            bit_depth=bit_depth(first.format.name),
            colour=_colour(first),
            hdr10=_hdr10(first),
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
                        if self._start_pts is not None and (frame.pts is None or frame.pts < self._start_pts):
                            continue  # decoded from the keyframe before the start
                        decoded += 1
                        if frame.time is not None:
                            last_time = max(frame.time, last_time or frame.time)
                        yield frame
                break
            except (av.FFmpegError, OSError):
                self.frames_lost += 1
                errors += 1
        if self._start_pts is None:
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
            rgb = np.array(frame.to_ndarray(format=self._format), order="C")
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


def _camera_name(device: int | str) -> str:
    return f"camera {device}" if isinstance(device, int) else device


def _open_capture(device: int | str):
    """An opened cv2.VideoCapture for a camera index or device path, else VidcleanError."""
    name = _camera_name(device)
    linux = sys.platform.startswith("linux")
    if isinstance(device, int):
        if device < 0:
            raise VidcleanError(f"{name}: a camera index is 0 or more")
        node = f"/dev/video{device}" if linux else None
    else:
        node = device if device.startswith("/dev/") else None
    if node is not None and not os.path.exists(node):
        raise VidcleanError(f"{name}: no such camera ({node} does not exist)")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # one line of our own instead
    try:
        capture = cv2.VideoCapture(device, cv2.CAP_V4L2 if linux and node else cv2.CAP_ANY)
        opened = capture.isOpened()
    except cv2.error:
        capture, opened = None, False
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not opened:
        if capture is not None:
            capture.release()
        if node is not None and not os.access(node, os.R_OK | os.W_OK):
            raise VidcleanError(f"{name}: permission denied on {node} (is the user in the 'video' group?)")
        where = f"{node} is not a camera, or it is busy in another program" if node else "no camera there"
        raise VidcleanError(f"{name}: cannot be opened ({where})")
    return capture


class OpenCVCamera(VideoStream):
    """Frames from a camera through OpenCV's VideoCapture (V4L2 on Linux).

    ``device`` is a camera index or a device path; ``size`` (width, height) is asked of the
    camera, which may pick another (``info`` has the size it gives). ``capture`` is an opened
    VideoCapture-like object to read instead of opening ``device`` (for tests). The first frame
    is read here, so that a camera that opens but gives nothing (busy) fails at once; after
    frames have come, ``lost_after`` consecutive failed reads mean the camera is gone.
    ``Frame.pts`` is in milliseconds since the first frame (``info.time_base`` 1/1000).
    """

    first_frame_timeout = 3.0  # seconds
    lost_after = 25  # consecutive failed reads...
    lost_seconds = 3.0  # ...or failed reads for this long (a read may block a while before failing)
    _retry_pause = 0.02  # seconds between failed reads

    def __init__(self, device: int | str = 0, size: tuple[int, int] | None = None, *, capture=None):
        self.name = _camera_name(device)
        self.frames_lost = 0
        self._index = 0
        self._capture = capture if capture is not None else _open_capture(device)
        try:
            if size is not None:
                self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
            deadline = time.monotonic() + self.first_frame_timeout
            while (first := self._read()) is None:
                if time.monotonic() > deadline:
                    raise VidcleanError(
                        f"{self.name}: opened, but no frame came in {self.first_frame_timeout:g} s "
                        "(busy in another program?)"
                    )
                time.sleep(self._retry_pause)
            self._first, self._t0 = first, time.monotonic()
            fps = self._get(cv2.CAP_PROP_FPS)
            fourcc = int(self._get(cv2.CAP_PROP_FOURCC))
            codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\0 ") if fourcc > 0 else ""
            self._info = VideoInfo(
                path=self.name,
                width=first.shape[1],
                height=first.shape[0],
                fps=Fraction(fps).limit_denominator(1001) if 0 < fps < 1000 else None,
                time_base=Fraction(1, 1000),
                frame_count=None,
                duration=None,
                rotation=0,
                codec=codec.lower() or "camera",
                pix_fmt="rgb24",
                audio_streams=0,
            )
        except BaseException:
            self.close()
            raise

    def _get(self, prop: int) -> float:
        try:
            return float(self._capture.get(prop))
        except (cv2.error, TypeError, ValueError):
            return 0.0

    def _read(self) -> np.ndarray | None:
        """The next frame as RGB, or None if the read failed."""
        try:
            ok, image = self._capture.read()
        except cv2.error:
            return None
        if not ok or image is None or image.size == 0:
            return None
        if image.ndim == 2 or image.shape[2] == 1:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)

    @property
    def info(self) -> VideoInfo:
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        failures, last_good = 0, time.monotonic()
        while self._capture is not None:
            rgb, self._first = self._first, None
            if rgb is None:
                rgb = self._read()
            if rgb is None:
                failures += 1
                self.frames_lost += 1
                if failures >= self.lost_after or time.monotonic() - last_good > self.lost_seconds:
                    raise VidcleanError(f"{self.name}: stopped giving frames (unplugged?)")
                time.sleep(self._retry_pause)
                continue
            failures, last_good = 0, time.monotonic()
            seconds = time.monotonic() - self._t0
            yield Frame(self._index, round(seconds * 1000), seconds, rgb)
            self._index += 1

    def close(self) -> None:
        self._first = None
        capture, self._capture = getattr(self, "_capture", None), None
        if capture is not None:
            capture.release()


def is_camera(source: int | str | os.PathLike) -> bool:
    """Whether open_video() takes ``source`` for a camera: an index (an int, or digits that are
    not the name of an existing file) or a video device path (``/dev/video*``)."""
    if isinstance(source, int):
        return True
    source = os.fspath(source)
    return (source.isdigit() and not os.path.exists(source)) or source.startswith("/dev/video")


def open_video(source: int | str | os.PathLike, backend: str | None = None, **kwargs) -> VideoStream:
    """Open a video file, stream URL or camera for reading. Raises VidcleanError for anything unreadable.

    ``backend`` None picks "opencv" for a camera (see is_camera) and "pyav" otherwise; keyword
    arguments go to the backend (PyAVStream takes ``start_pts`` and ``depth``, OpenCVCamera ``size``).
    """
    if backend is None:
        backend = "opencv" if is_camera(source) else "pyav"
    if backend == "pyav":
        return PyAVStream(source, **kwargs)
    if backend == "opencv":
        if not isinstance(source, int):
            source = os.fspath(source)
            source = int(source) if source.isdigit() and not os.path.exists(source) else source
        return OpenCVCamera(source, **kwargs)
    raise VidcleanError(f"unknown video backend {backend!r} (available: pyav, opencv)")
