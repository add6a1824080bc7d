"""Writing video with PyAV: a temp file beside the destination, renamed into place when complete."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from vidclean.errors import VidcleanError, reason
from vidclean.io.atomic import commit, discard, partial_path
from vidclean.io.reader import HDR10, STDIO, Colour, VideoInfo, bit_depth
from vidclean.presets import is_large_frame

# Options that make each encoder take `crf` as its quality setting (and stay quiet).
_CRF_OPTIONS = {
    "libx264": {},
    "libx265": {"x265-params": "log-level=error"},
    "libvpx-vp9": {"b": "0"},  # constant quality needs bitrate 0
    "libvpx": {"b": "0"},
    "libsvtav1": {},
    "libaom-av1": {"b": "0"},
}
# Everyday codec names (as ffmpeg users type them) -> the encoders that write them, first available wins.
CODEC_NAMES = {
    "h264": ("libx264",), "avc": ("libx264",), "x264": ("libx264",),
    "h265": ("libx265",), "hevc": ("libx265",), "x265": ("libx265",),
    "vp9": ("libvpx-vp9",), "vp8": ("libvpx",),
    "av1": ("libsvtav1", "libaom-av1", "librav1e"),
    "ffv1": ("ffv1",), "prores": ("prores_ks", "prores"),
}
# The codec an output gets when none is named, by its extension (others: H.264)
_CONTAINER_CODEC = {".webm": "vp9", ".y4m": "rawvideo", ".nut": "rawvideo"}
# Streams written to standard output ("-"): --format -> (FFmpeg muxer, the extension it stands for, codec)
PIPE_FORMATS = {"y4m": ("yuv4mpegpipe", ".y4m", "rawvideo"), "nut": ("nut", ".nut", "rawvideo"),
                "matroska": ("matroska", ".mkv", "ffv1")}
# Encoders that need a device of their own (a GPU's or an SoC's encoder)
_HARDWARE_ENCODERS = ("_nvenc", "_qsv", "_vaapi", "_amf", "_videotoolbox", "_v4l2m2m", "_mf", "_vulkan")


def encoder_for(codec: str | None, ext: str, bit_depth: int = 8) -> str:
    """The encoder to write ``codec`` with (an everyday name such as h265, or an encoder's own
    name), or with none named, the container's usual one (VP9 for .webm, H.264 otherwise, HEVC for
    a video of more than 8 bits)."""
    name = (codec or _CONTAINER_CODEC.get(ext.lower(), "h264" if bit_depth <= 8 else "hevc")).lower()
    choices = CODEC_NAMES.get(name, (name,))
    return next((c for c in choices if c in av.codecs_available), choices[0])


# Encoders with x264's speed presets (ultrafast ... veryslow): fewer searches, bigger files.
SPEED_PRESET_CODECS = ("libx264", "libx265")
SPEED_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Above 1080p: a short look-ahead and one B-frame, overriding the speed preset's, keep x264's
# memory down for files a few percent larger (docs/decisions.md, "Memory")
_LARGE_FRAME_OPTIONS = {"libx264": {"x264-params": "rc-lookahead=3:sync-lookahead=0:bframes=1"}}
# ffv1 stores RGB as bgr0 (no 8-bit gbrp): rgb24 <-> bgr0 is an exact shuffle; above 8 bits, gbrp.
_DEFAULT_PIX_FMT = {"ffv1": "bgr0"}
_HIGH_DEPTH_RGB = {"ffv1": "gbrp{bits}le"}
# FFmpeg's colour matrices (AVColorSpace) -> swscale's (SWS_CS_*), to convert RGB to YUV with the input's own
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9}
# Matrices swscale has no converter for -> the one it converts with instead (and so the output's tag)
_NEAREST_MATRIX = {10: 9}  # BT.2020 constant luminance: as non-constant
_BT601 = 6  # (AVCOL_SPC_SMPTE170M) what swscale converts with for any other matrix
_AUDIO_FALLBACK = {".webm": "libopus"}  # everything else re-encodes to "aac"


def _high_depth_pix_fmt(codec: str, info: VideoInfo, supported: list[str]) -> str | None:
    """The pixel format that keeps a high-bit-depth input's depth with ``codec``: RGB for FFV1, else the
    input's own format or 4:2:0 of its depth, else the first of more than 8 bits; None if there is none."""
    bits = info.bit_depth
    if codec in _HIGH_DEPTH_RGB:
        wanted = [_HIGH_DEPTH_RGB[codec].format(bits=b) for b in (bits, 10, 12, 16)]
    else:  # the input's chroma layout at its depth or 10 bits, else 4:2:0
        chroma = info.pix_fmt[:7] if info.pix_fmt.startswith(("yuv420p", "yuv422p", "yuv444p")) else "yuv420p"
        wanted = [info.pix_fmt, f"{chroma}{bits}le", f"{chroma}10le", f"yuv420p{bits}le", "yuv420p10le", "yuv422p10le"]
    if not supported:  # any format (raw video): YUV as the input has it
        return info.pix_fmt if info.pix_fmt.startswith("yuv") else f"yuv420p{bits}le"
    deep = [f for f in supported if bit_depth(f) > 8]
    return next((f for f in wanted if f in supported), deep[0] if deep else None)


def _x265_hdr10(hdr: HDR10) -> str:
    """x265's parameters for HDR10 static metadata (chromaticity in 0.00002, luminance in 0.0001 cd/m2)."""
    params = ["hdr10=1"]
    if hdr.primaries and hdr.luminance:
        xy = "".join(f"{name}({round(x * 50000)},{round(y * 50000)})" for name, (x, y) in zip(("G", "B", "R", "WP"),
                                                                                            hdr.primaries))
        params.append(f"master-display={xy}L({round(hdr.luminance[0] * 10000)},{round(hdr.luminance[1] * 10000)})")
    if hdr.light_level:
        params.append(f"max-cll={hdr.light_level[0]},{hdr.light_level[1]}")
    return ":".join(params)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


class OutputClosed(VidcleanError):
    """The program reading the stream on standard output has closed it (a broken pipe)."""


class VideoWriter:
    """Encode RGB frames to `path`, keeping the size, rate, timestamps and rotation of `info`.

    Use as a context manager: close() on success, abort() on any exception
    (KeyboardInterrupt included). `notes` lists what was changed on the way.
    `codec` is an encoder or an everyday codec name (`encoder_for`; None: the container's usual one).
    `speed` is the x264/x265 speed preset (`SPEED_PRESETS`; None: the encoder's own, medium).
    A `path` of "-" streams to standard output in `format` (`PIPE_FORMATS`, y4m by default): nothing
    can be taken back there, so an error stops the stream where it is.
    With `template` (a video stream of an encoded file) nothing is encoded: `write_packet` takes
    that stream's packets as they are (a stream copy; vidclean.jobs.segments joins parts this way).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        info: VideoInfo,
        *,
        codec: str | None = None,
        crf: int | None = 17,
        pix_fmt: str | None = None,
        speed: str | None = None,
        copy_audio_from: str | os.PathLike | None = None,
        overwrite: bool = False,
        template: av.video.stream.VideoStream | None = None,
        format: str | None = None,
    ):
        self.path = path = os.fspath(path)
        self.info = info
        self.notes: list[str] = []
        self._out = self._audio_in = self._pending = None
        self._audio_damaged = 0
        self._audio: Iterator[av.Packet] | None = None
        self._count = 0
        self._last_pts: int | None = None
        self._moved = 0  # frames whose timestamp was out of order and moved later
        self._convert = None  # reformat() arguments: RGB to the output's YUV with the input's matrix and range
        self._tags: dict[str, int] = {}  # the input's colour tags, put on every frame
        self.tmp_path = None

        self.pipe = path == STDIO
        if self.pipe:  # standard output: a stream in a format of PIPE_FORMATS, nothing to rename
            if (format or "y4m") not in PIPE_FORMATS:
                raise VidcleanError(f"-: unknown --format {format!r} (choose from {', '.join(PIPE_FORMATS)})")
            muxer, ext, default_codec = PIPE_FORMATS[format or "y4m"]
            target = "pipe:1"
        else:
            if format is not None:
                raise VidcleanError(f"{path}: --format is for a stream to standard output (-); "
                                    "a file's follows its extension")
            for source in (info.path, copy_audio_from):
                if source is not None and os.path.exists(path) and _same_file(path, os.fspath(source)):
                    raise VidcleanError(f"{path}: output would overwrite the input file")
            if os.path.isdir(path):
                raise VidcleanError(f"{path}: is a folder; the output must be a file name with a video extension")
            if os.path.exists(path) and not overwrite:
                raise VidcleanError(f"{path}: already exists (-y replaces it; overwrite=True in Python)")
            folder, name = os.path.split(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise VidcleanError(f"{path}: output directory {folder} does not exist")
            ext = os.path.splitext(name)[1]
            muxer, default_codec = None, None  # the muxer follows the extension
            self.tmp_path = target = partial_path(path)
        codec = encoder_for(codec or default_codec, ext, info.bit_depth)
        if template is None and codec not in av.codecs_available:
            raise VidcleanError(f"{path}: no encoder {codec!r} in this FFmpeg build (everyday names: "
                                f"{', '.join(CODEC_NAMES)})")
        self.codec = codec
        if codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its settings on stderr unless told errors only

        try:
            # (y4m takes more than 8 bits as FFmpeg's "unofficial" formats, which readers know)
            options = {"strict": "-1"} if ext.lower() == ".y4m" else None
            self._out = av.open(target, "w", format=muxer, options=options)  # a file: only picks the muxer, no file yet
        except (av.FFmpegError, OSError, ValueError):
            raise VidcleanError(f"{path}: unknown output format {ext or '(no extension)'!r}") from None
        try:
            self._video = self._copy_video(template) if template is not None else self._add_video(codec, crf, pix_fmt, speed)
            self._out.metadata.update(dict(info.metadata))  # creation time, location, title ...
            if copy_audio_from is not None and muxer == "yuv4mpegpipe":
                self.notes.append("audio: a y4m stream holds no audio; left out")
            elif copy_audio_from is not None:
                self._add_audio(os.fspath(copy_audio_from), ext.lower())
        except BaseException as exc:
            self.abort()
            if isinstance(exc, (av.FFmpegError, OSError, ValueError)):
                what = f"copy {template.codec_context.name}" if template is not None else f"encode {codec}"
                raise VidcleanError(f"{path}: cannot {what} ({reason(exc)})") from None
            raise
        # Create the temp file and open the encoders now, so such errors come before any work.
        hardware = template is None and codec.endswith(_HARDWARE_ENCODERS)
        self._guard(self._out.start_encoding, f"cannot start the {codec} encoder: its hardware (or driver) is not "
                    "available here" if hardware else "cannot start writing")

    # -- setup ---------------------------------------------------------------

    def _add_video(self, codec: str, crf: int | None, pix_fmt: str | None, speed: str | None):
        info = self.info
        self._rate = info.fps or Fraction(25)
        self._time_base = info.time_base or 1 / self._rate
        stream = self._out.add_stream(codec, rate=self._rate)
        stream.width, stream.height = info.width, info.height
        if info.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        supported = [f.name for f in stream.codec_context.codec.video_formats or []]
        if pix_fmt is None and info.bit_depth > 8:
            pix_fmt = _high_depth_pix_fmt(codec, info, supported)
        if pix_fmt is None:
            pix_fmt = _DEFAULT_PIX_FMT.get(codec, "yuv420p")
            if supported and pix_fmt not in supported:
                pix_fmt = supported[0]
        fmt = av.VideoFormat(pix_fmt)
        if (info.width % 2 and fmt.chroma_width(2) < 2) or (info.height % 2 and fmt.chroma_height(2) < 2):
            # Subsampled chroma needs even sizes (libx264 refuses odd ones): use full chroma, same depth.
            depth = bit_depth(pix_fmt)
            choices = [pix_fmt.replace("420", "444").replace("422", "444"), *([f"yuv444p{depth}le"] if depth > 8 else []),
                       "yuv444p"]
            new = next(f for f in choices if f != pix_fmt and (f == "yuv444p" or not supported or f in supported))
            self.notes.append(f"odd frame size {info.width}x{info.height}: encoding {new} instead of {pix_fmt}")
            pix_fmt = new
        if bit_depth(pix_fmt) < info.bit_depth:
            self.notes.append(f"the input's {info.bit_depth} bits a sample are written in {bit_depth(pix_fmt)} "
                              f"({codec} {pix_fmt}); h265 and ffv1 keep them (prores and h264 up to 10)")
        stream.pix_fmt = pix_fmt
        self._tag_colour(stream.codec_context, av.VideoFormat(pix_fmt))
        stream.codec_context.time_base = self._time_base
        stream.time_base = self._time_base  # a hint; the muxer may pick its own
        options = dict(_CRF_OPTIONS.get(codec, {}))
        if crf is not None and codec in _CRF_OPTIONS:
            options["crf"] = str(crf)
        if speed is not None and codec in SPEED_PRESET_CODECS:
            options["preset"] = speed
        if is_large_frame(info.width * info.height):
            options.update(_LARGE_FRAME_OPTIONS.get(codec, {}))
        if info.hdr10 is not None and codec == "libx265":
            options["x265-params"] = f"{options['x265-params']}:{_x265_hdr10(info.hdr10)}"
        elif info.hdr10 is not None:
            self.notes.append(f"HDR10 mastering display and light levels not written: {codec} here cannot; h265 can")
        stream.options = options
        if info.rotation and hasattr(stream, "set_display_rotation"):
            stream.set_display_rotation(info.rotation)  # same counter-clockwise degrees as read
        elif info.rotation:
            self.notes.append(f"rotation {info.rotation} not kept: this PyAV cannot write a display matrix")
        return stream

    def _tag_colour(self, context, fmt: av.VideoFormat) -> None:
        """Puts the input's colour tags on the output stream and its frames (some encoders, ProRes,
        read them there), and the matrix and range that convert RGB to its YUV; HDR is cleaned as
        coded, which a note says."""
        colour = self.info.colour
        if colour is None:
            return
        blank = Colour()  # every tag "unspecified"
        # output tag -> (the value to write, its "unspecified")
        tags = {"color_primaries": (colour.primaries, blank.primaries), "color_trc": (colour.transfer, blank.transfer)}
        if not fmt.is_rgb:
            # the matrix the conversion uses, and tags: the input's, or the nearest swscale has
            matrix = _NEAREST_MATRIX.get(colour.matrix, colour.matrix)
            if matrix != 2 and matrix not in _SWS_MATRIX:
                self.notes.append(f"colour matrix {colour.matrix} cannot be converted to here: written as BT.601")
                matrix = _BT601
            tags.update(colorspace=(matrix, blank.matrix), color_range=(colour.range, blank.range))
            self._convert = {"format": fmt.name, "dst_colorspace": _SWS_MATRIX.get(matrix),
                             "dst_color_range": colour.range or None}
        self._tags = {name: value for name, (value, unspecified) in tags.items() if value != unspecified}
        for name, value in self._tags.items():
            setattr(context, name, value)
        if colour.hdr:
            self.notes.append(f"HDR ({colour.hdr}) cleaned as coded, without tone mapping; its colour tags are kept")

    def _copy_video(self, template):
        self._rate = self.info.fps or Fraction(25)
        self._time_base = self.info.time_base or 1 / self._rate
        stream = self._out.add_stream_from_template(template, opaque=True)
        stream.time_base = self._time_base
        if self.info.rotation and hasattr(stream, "set_display_rotation"):
            stream.set_display_rotation(self.info.rotation)
        return stream

    def _add_audio(self, source: str, ext: str) -> None:
        try:
            self._audio_in = av.open(source, metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VidcleanError(f"{source}: cannot read audio ({reason(exc)})") from None
        streams = {}  # input stream -> (output stream, re-encode?)
        for inp in self._audio_in.streams.audio:
            if inp.codec_context is None:  # a codec FFmpeg does not know (or a damaged header)
                self.notes.append(f"audio stream #{inp.index}: unknown codec, left out")
                continue
            if not inp.rate or not getattr(inp.codec_context, "channels", 1) or not self._decoder_opens(inp):
                self.notes.append(f"audio stream #{inp.index}: no sample rate or channels (damaged?), left out")
                continue
            name = inp.codec_context.name
            if name in self._out.supported_codecs and not self._remuxes(inp):
                self.notes.append(f"audio stream #{inp.index}: {self._out.format.name} refuses its {name} packets"
                                  " (damaged?), left out")
                continue
            if name in self._out.supported_codecs:
                streams[inp] = (self._out.add_stream_from_template(inp), False)
            else:
                new = _AUDIO_FALLBACK.get(ext, "aac")
                out = self._out.add_stream(new, rate=inp.rate, layout=inp.layout)
                if out.codec_context.codec.audio_rates and inp.rate not in out.codec_context.codec.audio_rates:
                    out.rate = 48000
                streams[inp] = (out, True)
                self.notes.append(f"audio: {ext} cannot hold {name}; re-encoded to {new}")
        if streams:
            self._audio = self._increasing(self._audio_packets(streams))

    def _decoder_opens(self, inp) -> bool:
        """Whether the stream's decoder starts: since PyAV 18.1.1 a zeroed AAC configuration still
        reports the container's rate and channels, and only the decoder finds it unusable."""
        try:
            inp.codec_context.open()  # (decoding opens it anyway; a copied stream takes only its parameters)
            return True
        except (av.FFmpegError, OSError, ValueError):
            return False

    def _remuxes(self, inp) -> bool:
        """Whether the output format takes this audio stream's first packets as they are.

        A dry run in memory: a damaged header (AAC without its configuration, say) is refused by
        the muxer only when its packets are written, and then the whole file would fail."""
        source = test = packets = packet = None
        try:
            source = av.open(self._audio_in.name, metadata_errors="ignore")
            test = av.open(io.BytesIO(), "w", format=self._out.format.name)
            stream = source.streams[inp.index]
            out = test.add_stream_from_template(stream)
            packets = source.demux(stream)
            written = 0
            for packet in packets:
                if packet.dts is not None:
                    packet.stream = out
                    test.mux(packet)
                    written += 1
                if written == 4:
                    break
            packet = None
            packets.close()
            test.close()  # the trailer: the interleaved packets are written now
            return True
        except (av.FFmpegError, OSError, ValueError):
            return False
        finally:
            packet = None  # packets go before their container (PyAV crashes otherwise)
            if packets is not None:
                packets.close()
            for container in (test, source):
                if container is not None:
                    try:
                        container.close()
                    except (av.FFmpegError, OSError, ValueError):
                        pass

    def _audio_packets(self, streams: dict) -> Iterator[av.Packet]:
        """Output audio packets in source order: remuxed unchanged, or re-encoded.

        Damaged audio never stops the video: undecodable packets are skipped, and a read error
        ends the audio there, with a note."""
        last = None  # seconds
        try:
            for packet in self._audio_in.demux(list(streams)):
                out, reencode = streams[packet.stream]
                if packet.pts is not None and packet.time_base:
                    last = float(packet.pts * packet.time_base)
                if not reencode:
                    if packet.dts is not None:  # skip the demuxer's empty flush packets
                        packet.stream = out
                        yield packet
                    continue
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    self._audio_damaged += 1
                    continue
                for frame in frames:
                    yield from out.encode(frame)
        except (av.FFmpegError, OSError) as exc:
            where = f" after {last:.1f}s" if last is not None else ""
            self.notes.append(f"audio: unreadable{where} ({reason(exc)}); the rest left out")
        for out, reencode in streams.values():
            if reencode:
                yield from out.encode(None)

    def _increasing(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """The packets whose timestamps increase, per stream, as a muxer needs; others are dropped.

        A damaged timestamp may jump ahead: a packet followed by an earlier one that is still
        after the last packet kept is that jump, and goes, rather than everything after it."""
        last: dict[int, int] = {}  # output stream index -> dts of the last packet kept
        held: dict[int, av.Packet] = {}  # one packet per stream, waiting for the next one
        try:
            for packet in packets:
                key = packet.stream.index
                dts = packet.dts if packet.dts is not None else packet.pts
                if dts is None:
                    self._audio_damaged += 1
                    continue
                prev = held.pop(key, None)
                if prev is not None:
                    prev_dts = prev.dts if prev.dts is not None else prev.pts
                    if dts == prev_dts:  # a repeat
                        held[key] = prev
                        self._audio_damaged += 1
                        continue
                    if dts < prev_dts and (key not in last or dts > last[key]):
                        self._audio_damaged += 1  # prev jumped ahead
                    else:
                        last[key] = prev_dts
                        yield prev
                if key in last and dts <= last[key]:
                    self._audio_damaged += 1
                    continue
                held[key] = packet
            for prev in list(held.values()):
                yield prev
        finally:
            held.clear()  # before the audio input closes

    def _mux_audio(self, until: float | None) -> None:
        """Mux audio packets up to `until` seconds (None: all that are left)."""
        while self._audio is not None:
            if self._pending is None:
                self._pending = next(self._audio, None)
                if self._pending is None:
                    self._audio = None
                    return
            packet = self._pending
            ts = packet.pts if packet.pts is not None else packet.dts
            if until is not None and ts is not None and ts * packet.time_base > until:
                return
            try:
                self._out.mux(packet)
            except (av.error.ArgumentError, av.error.InvalidDataError) as exc:
                # The muxer refuses this audio (a damaged header, say): the video goes on without
                # it. Write errors (disk full...) are not among these: they stop everything.
                self.notes.append(f"audio: refused by the muxer ({reason(exc)}); left out")
                self._pending = None
                audio, self._audio = self._audio, None
                audio.close()
                return
            self._pending = None

    # -- writing -------------------------------------------------------------

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one (H, W, 3) RGB frame, uint8 or uint16 (0-65535, for more than 8 bits); pts in
        info.time_base (None: from the frame index)."""
        if self._out is None:
            raise VidcleanError(f"{self.path}: writer is closed")
        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"expected a ({self.info.height}, {self.info.width}, 3) uint8 or uint16 frame, got "
                             f"{rgb.shape} {rgb.dtype}")
        if pts is None:
            pts = round(self._count / (self._rate * self._time_base))
        if self._last_pts is not None and pts <= self._last_pts:
            # Encoders and muxers need increasing timestamps; a damaged input may not have them.
            # The frame is kept, one frame duration after the last one.
            pts = self._last_pts + max(1, round(1 / (self._rate * self._time_base)))
            self._moved += 1
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
        if self._convert is not None:
            frame = frame.reformat(**self._convert)
        for name, value in self._tags.items():
            setattr(frame, name, value)
        frame.pts, frame.time_base = pts, self._time_base

        def step():
            self._out.mux(self._video.encode(frame))
            self._mux_audio(float(pts * self._time_base))

        self._guard(step)
        self._count += 1
        self._last_pts = pts

    def write_packet(self, packet: av.Packet) -> None:
        """Mux one packet of the `template` stream's kind (its timestamps in its own time base)."""
        if self._out is None:
            raise VidcleanError(f"{self.path}: writer is closed")

        seconds = None if packet.pts is None else float(packet.pts * packet.time_base)

        def step():
            packet.stream = self._video
            self._out.mux(packet)
            if seconds is not None:
                self._mux_audio(seconds)

        self._guard(step)
        self._count += 1

    def _guard(self, step, failure: str = "writing failed") -> None:
        """Run an encode/mux step; if it fails (disk full, Ctrl-C...) delete the temp file.

        av and OS errors become a VidcleanError; anything else is re-raised as it is.
        """
        try:
            step()
        except BaseException as exc:
            self.abort()
            if self.pipe and (isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE):
                raise OutputClosed("-: the reader of standard output has gone") from None
            if isinstance(exc, (av.FFmpegError, OSError)):
                raise VidcleanError(f"{self.path}: {failure} ({reason(exc)})") from None
            raise

    def close(self) -> None:
        """Flush the encoder, mux the remaining audio, and move the file into place."""
        if self._out is None:
            return

        def finish():
            if self._video.codec_context.is_encoder:
                self._out.mux(self._video.encode(None))
            self._mux_audio(None)
            self._out.close()
            self._close_inputs()
            if not self.pipe:
                commit(self.tmp_path, self.path)

        self._guard(finish)
        self._out = None
        if self._moved:
            self.notes.append(f"{self._moved} frame timestamp(s) out of order in the input: moved after the frame before")
        if self._audio_damaged:
            self.notes.append(f"audio: {self._audio_damaged} damaged packet(s) skipped")

    def abort(self) -> None:
        """Stop writing and delete the temp file; the destination is left untouched."""
        out, self._out = self._out, None
        try:
            if out is not None:
                out.close()
        except (av.FFmpegError, OSError):
            pass
        self._close_inputs()
        discard(self.tmp_path)

    def _close_inputs(self) -> None:
        # Packets and generators go before the container they came from (PyAV crashes otherwise).
        audio, self._audio, self._pending = self._audio, None, None
        if audio is not None:
            audio.close()
        audio_in, self._audio_in = self._audio_in, None
        if audio_in is not None:
            audio_in.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
