import os
import resource
import signal
import tempfile
import types
from fractions import Fraction
from itertools import pairwise

import av
import numpy as np
import pytest
from conftest import audio_duration, dir_listing, make_video, x264_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from vidclean.errors import VidcleanError
from vidclean.io.reader import VideoInfo, open_video
from vidclean.io.writer import VideoWriter, encoder_for
from vidclean.metrics import psnr


def transcode(src, dst, **kwargs):
    """Copy every frame of src to dst with its own pts; returns the writer."""
    with open_video(src) as stream, VideoWriter(dst, stream.info, **kwargs) as writer:
        for frame in stream:
            writer.write(frame.rgb, frame.pts)
    return writer


def read_all(path):
    with open_video(path) as stream:
        frames = list(stream)
        return stream.info, frames


def test_h264_aac_mp4_keeps_frames_rate_size_and_audio(tmp_path, mp4_25fps_audio):
    src, source = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    writer = transcode(src, dst, copy_audio_from=src)
    assert writer.notes == []
    info, frames = read_all(dst)
    assert (info.width, info.height, info.fps) == (96, 64, 25)
    assert info.frame_count == 20 and len(frames) == 20
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.audio_streams == 1
    assert audio_duration(dst) == pytest.approx(audio_duration(src), abs=0.1)
    assert audio_duration(dst) == pytest.approx(0.8, abs=0.1)
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(20)])
    assert all(psnr(f.rgb, source[f.index]) > 25 for f in frames)
    assert dir_listing(tmp_path) == ["in.mp4", "out.mp4"]


def test_audio_is_copied_unchanged(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    transcode(src, dst, copy_audio_from=src)

    def audio_packets(path):
        with av.open(str(path)) as container:
            return [(p.pts, bytes(p)) for p in container.demux(audio=0) if p.size]

    assert audio_packets(dst) == audio_packets(src)


class RecordingOutput:
    """Stands in for the writer's output container, noting the time of each packet muxed."""

    def __init__(self, out):
        self.out, self.log = out, []

    def mux(self, packets):
        packets = packets if isinstance(packets, list) else [packets]
        for p in packets:
            if p.pts is not None:
                self.log.append((p.stream.type, float(p.pts * p.time_base)))
        self.out.mux(packets)

    def __getattr__(self, name):
        return getattr(self.out, name)


def test_audio_muxed_along_with_the_video(tmp_path, mp4_25fps_audio):
    src, source = mp4_25fps_audio
    with open_video(src) as stream:
        info = stream.info
    writer = VideoWriter(tmp_path / "out.mp4", info, copy_audio_from=src)
    writer._out = recorder = RecordingOutput(writer._out)
    with writer:
        for i, rgb in enumerate(source[:10]):
            writer.write(rgb)
            audio = [t for kind, t in recorder.log if kind == "audio"]
            assert audio and max(audio) <= i / 25  # audio muxed up to the current video time ...
            assert max(audio) > i / 25 - 0.05  # ... and not lagging behind
    audio = [t for kind, t in recorder.log if kind == "audio"]
    assert max(audio) > 0.75  # the rest at close
    assert audio_duration(tmp_path / "out.mp4") == pytest.approx(0.8, abs=0.1)


def test_webm_reencodes_aac_to_opus_with_a_note(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    dst = tmp_path / "out.webm"
    writer = transcode(src, dst, codec="libvpx-vp9", copy_audio_from=src)
    assert len(writer.notes) == 1 and "opus" in writer.notes[0]
    info, frames = read_all(dst)
    assert info.codec == "vp9" and len(frames) == 20
    with av.open(str(dst)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    assert audio_duration(dst) == pytest.approx(0.8, abs=0.1)


def test_ffv1_mkv_is_rgb_exact(tmp_path):
    src = tmp_path / "in.mkv"
    make_video(src, 3, 67, 45, codec="ffv1", pix_fmt="bgr0")
    with open_video(src) as stream:
        info = stream.info
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (45, 67, 3), dtype=np.uint8) for _ in range(8)]
    dst = tmp_path / "out.mkv"
    with VideoWriter(dst, info, codec="ffv1") as writer:
        for rgb in frames:
            writer.write(rgb)
    assert writer.notes == []
    out_info, out = read_all(dst)
    assert out_info.codec == "ffv1" and out_info.pix_fmt == "bgr0"
    assert len(out) == len(frames)
    assert all(np.array_equal(f.rgb, rgb) for f, rgb in zip(out, frames))


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_variable_frame_rate_timestamps_kept(tmp_path, ext):
    src = tmp_path / f"in.{ext}"
    pts = [0, 40, 120, 130, 300, 310, 500, 520]  # milliseconds
    make_video(src, len(pts), 64, 48, pts=pts, time_base=Fraction(1, 1000))
    dst = tmp_path / f"out.{ext}"
    transcode(src, dst)
    in_info, in_frames = read_all(src)
    out_info, out_frames = read_all(dst)
    assert [f.pts * out_info.time_base for f in out_frames] == [Fraction(p, 1000) for p in pts]
    assert [f.pts * out_info.time_base for f in out_frames] == [f.pts * in_info.time_base for f in in_frames]


def test_default_pts_follow_the_frame_rate(tmp_path, mp4_25fps_audio):
    src, source = mp4_25fps_audio
    with open_video(src) as stream:
        info = stream.info
    dst = tmp_path / "out.mp4"
    with VideoWriter(dst, info) as writer:
        for rgb in source[:10]:
            writer.write(rgb)
    out_info, frames = read_all(dst)
    assert out_info.fps == 25
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(10)])


@pytest.mark.parametrize(
    "pix_fmt, expected",
    [(None, "yuv444p"), ("yuv420p", "yuv444p"), ("nv12", "yuv444p"), ("yuv420p10le", "yuv444p10le")],
)
def test_odd_size_switches_to_444_with_a_note(tmp_path, pix_fmt, expected):
    src = tmp_path / "in.mp4"
    source = make_video(src, 6, 177, 99, pix_fmt="yuv444p")
    dst = tmp_path / "out.mp4"
    writer = transcode(src, dst, pix_fmt=pix_fmt)
    assert len(writer.notes) == 1 and expected in writer.notes[0] and "177x99" in writer.notes[0]
    info, frames = read_all(dst)
    assert (info.width, info.height, info.pix_fmt) == (177, 99, expected)
    assert len(frames) == 6
    rgb = frames[2].rgb
    if rgb.dtype == np.uint16:  # a 10-bit output reads as 16 bits a sample
        rgb = np.round(rgb / 257).astype(np.uint8)
    assert psnr(rgb, source[2]) > 33


def test_pix_fmt_override(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    transcode(src, dst, pix_fmt="yuv444p")
    assert read_all(dst)[0].pix_fmt == "yuv444p"


def test_crf_changes_the_size(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    transcode(src, tmp_path / "fine.mp4", crf=5)
    transcode(src, tmp_path / "coarse.mp4", crf=45)
    assert os.path.getsize(tmp_path / "fine.mp4") > 2 * os.path.getsize(tmp_path / "coarse.mp4")


@pytest.mark.parametrize("speed, settings", [(None, ("subme=7", "ref=3")), ("veryfast", ("subme=2", "ref=1")),
                                             ("ultrafast", ("cabac=0", "subme=0"))])
def test_speed_preset_reaches_x264(tmp_path, mp4_25fps_audio, speed, settings):
    src, source = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    transcode(src, dst, speed=speed)  # None: x264's own default, medium
    assert all(f" {s} " in x264_settings(dst) for s in settings), x264_settings(dst)
    info, frames = read_all(dst)
    assert len(frames) == 20 and psnr(frames[5].rgb, source[5]) > 25


@pytest.mark.parametrize("codec, ext, name", [("libx265", "mp4", "hevc"), ("libvpx-vp9", "webm", "vp9")])
def test_other_crf_codecs(tmp_path, mp4_25fps_audio, capfd, codec, ext, name):
    src, source = mp4_25fps_audio
    dst = tmp_path / f"out.{ext}"
    writer = transcode(src, dst, codec=codec, crf=20)
    assert writer.notes == []
    info, frames = read_all(dst)
    assert info.codec == name and len(frames) == 20
    assert psnr(frames[5].rgb, source[5]) > 25
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # a normal case prints nothing


@pytest.mark.parametrize("ext, rotation", [("mp4", 90), ("mp4", 270), ("mkv", 90), ("mp4", 180)])
def test_rotation_kept(tmp_path, ext, rotation):
    src = tmp_path / f"in.{ext}"
    make_video(src, 4, 64, 48, rotation=rotation)
    dst = tmp_path / f"out.{ext}"
    transcode(src, dst)
    info, frames = read_all(dst)
    assert info.rotation == rotation
    assert (info.width, info.height) == (64, 48) and frames[0].rgb.shape == (48, 64, 3)


def test_overwrite_replaces_existing(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")
    transcode(src, dst, overwrite=True)
    assert len(read_all(dst)[1]) == 20
    assert dir_listing(tmp_path) == ["in.mp4", "out.mp4"]


# -- refusals and failures: nothing at the destination, no temp file ------------


@pytest.fixture
def info(mp4_25fps_audio):
    with open_video(mp4_25fps_audio[0]) as stream:
        return stream.info


def refused(dst, info, fragment, **kwargs):
    folder = os.path.dirname(os.path.abspath(dst))
    before = dir_listing(folder) if os.path.isdir(folder) else None
    with pytest.raises(VidcleanError) as err:
        VideoWriter(dst, info, **kwargs)
    assert fragment in str(err.value) and str(dst) in str(err.value)
    assert "\n" not in str(err.value)
    if before is not None:
        assert dir_listing(folder) == before


def test_existing_destination_refused(tmp_path, info):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"keep me")
    refused(dst, info, "already exists")
    assert dst.read_bytes() == b"keep me"


def test_same_file_as_input_refused_even_with_overwrite(tmp_path, info):
    src = tmp_path / "in.mp4"
    content = src.read_bytes()
    refused(src, info, "input", overwrite=True)
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    refused(link, info, "input", overwrite=True)
    hard = tmp_path / "hard.mp4"
    os.link(src, hard)
    refused(hard, info, "input", overwrite=True)
    sub = tmp_path / "sub"
    sub.mkdir()
    refused(sub / ".." / "in.mp4", info, "input", overwrite=True)
    assert src.read_bytes() == content


def test_same_file_as_audio_source_refused(tmp_path, info):
    other = tmp_path / "other.mp4"
    make_video(other, 2, 64, 48, audio=True)
    refused(other, info, "input", overwrite=True, copy_audio_from=other)


def test_missing_output_directory(tmp_path, info):
    refused(tmp_path / "nowhere" / "out.mp4", info, "does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_output_directory_is_a_file(tmp_path, info):
    (tmp_path / "file").write_bytes(b"x")
    refused(tmp_path / "file" / "out.mp4", info, "does not exist")


@pytest.mark.parametrize("overwrite", [False, True])
def test_destination_is_a_directory(tmp_path, info, overwrite):
    (tmp_path / "out.mp4").mkdir()
    refused(tmp_path / "out.mp4", info, "is a folder", overwrite=overwrite)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_unwritable_output_directory(tmp_path, info):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(locked / "out.mp4", info, "cannot write")
    finally:
        locked.chmod(0o700)


def test_temp_file_cannot_be_created(tmp_path, info):
    blocker = tmp_path / f".out.partial-{os.getpid()}.mp4"
    blocker.mkdir()  # the temp name is taken by a directory: opening it for writing fails
    refused(tmp_path / "out.mp4", info, "cannot start writing")
    assert blocker.is_dir() and not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("name", ["out.xyz", "out"])
def test_unknown_extension(tmp_path, info, name):
    refused(tmp_path / name, info, "unknown output format")


def test_unknown_codec(tmp_path, info):
    refused(tmp_path / "out.mp4", info, "nosuchcodec", codec="nosuchcodec")


def test_missing_audio_source(tmp_path, info):
    folder_before = dir_listing(tmp_path)
    with pytest.raises(VidcleanError, match="gone.mp4"):
        VideoWriter(tmp_path / "out.mp4", info, copy_audio_from=tmp_path / "gone.mp4")
    assert dir_listing(tmp_path) == folder_before


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_context_leaves_nothing(tmp_path, mp4_25fps_audio, exc_type):
    src, _ = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    with pytest.raises(exc_type):
        with open_video(src) as stream, VideoWriter(dst, stream.info, copy_audio_from=src) as writer:
            for frame in stream:
                writer.write(frame.rgb, frame.pts)
                if frame.index == 10:
                    assert os.path.exists(writer.tmp_path)
                    raise exc_type("stop")
    assert dir_listing(tmp_path) == ["in.mp4"]


def test_exception_keeps_existing_destination(tmp_path, mp4_25fps_audio):
    src, source = mp4_25fps_audio
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with open_video(src) as stream, VideoWriter(dst, stream.info, overwrite=True) as writer:
            writer.write(source[0])
            raise RuntimeError("stop")
    assert dst.read_bytes() == b"previous result"
    assert dir_listing(tmp_path) == ["in.mp4", "out.mp4"]


def test_abort_leaves_nothing(tmp_path, info, mp4_25fps_audio):
    _, source = mp4_25fps_audio
    writer = VideoWriter(tmp_path / "out.mp4", info)
    writer.write(source[0])
    writer.abort()
    writer.abort()  # twice is fine
    assert dir_listing(tmp_path) == ["in.mp4"]
    with pytest.raises(VidcleanError):
        writer.write(source[1])


def test_temp_file_is_hidden_beside_destination(tmp_path, info, mp4_25fps_audio):
    _, source = mp4_25fps_audio
    with VideoWriter(tmp_path / "out.mp4", info) as writer:
        writer.write(source[0])
        assert writer.tmp_path == str(tmp_path / f".out.partial-{os.getpid()}.mp4")
        assert not (tmp_path / "out.mp4").exists()
    assert dir_listing(tmp_path) == ["in.mp4", "out.mp4"]


def test_wrong_frame_shape(tmp_path, info):
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "out.mp4", info) as writer:
            writer.write(np.zeros((info.height, info.width), np.uint8))
    assert dir_listing(tmp_path) == ["in.mp4"]


def test_disk_full_while_writing(tmp_path, info):
    """A real write error from FFmpeg: the file size limit (as a full disk would) makes writes fail."""
    rng = np.random.default_rng(2)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, limit[1]))
    try:
        with pytest.raises(VidcleanError, match="out.mkv: writing failed"):
            with VideoWriter(tmp_path / "out.mkv", info, codec="ffv1") as writer:
                for _ in range(30):
                    writer.write(rng.integers(0, 256, (info.height, info.width, 3), dtype=np.uint8))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    assert dir_listing(tmp_path) == ["in.mp4"]


# -- timestamps: properties over random sequences ---------------------------------


def _tiny_info(width=16, height=16, time_base=Fraction(1, 1000)):
    return VideoInfo(path="(synthetic)", width=width, height=height, fps=Fraction(25), time_base=time_base,
                     frame_count=None, duration=None, rotation=0, codec="h264", pix_fmt="yuv420p",
                     audio_streams=0)


def _write_and_read(folder, ext, pts_list):
    dst = os.path.join(folder, f"out.{ext}")
    rng = np.random.default_rng(len(pts_list))
    with VideoWriter(dst, _tiny_info()) as writer:
        for pts in pts_list:
            writer.write(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), pts)
    info, frames = read_all(dst)
    return writer, [f.pts * info.time_base for f in frames]


@settings(max_examples=15, deadline=None)
@given(start=st.integers(0, 500), gaps=st.lists(st.integers(1, 300), max_size=11), ext=st.sampled_from(["mp4", "mkv"]))
def test_any_increasing_timestamps_are_kept_exactly(start, gaps, ext):
    pts = [start]
    for gap in gaps:
        pts.append(pts[-1] + gap)
    with tempfile.TemporaryDirectory() as folder:
        writer, times = _write_and_read(folder, ext, pts)
        assert dir_listing(folder) == [f"out.{ext}"]
    assert times == [Fraction(p, 1000) for p in pts]
    assert writer.notes == []


@settings(max_examples=15, deadline=None)
@given(pts=st.lists(st.one_of(st.none(), st.integers(0, 2000)), min_size=1, max_size=12),
       ext=st.sampled_from(["mp4", "mkv"]))
def test_disordered_timestamps_still_give_every_frame_strictly_increasing(pts, ext):
    """A damaged input may repeat, reverse or lack timestamps: no frame is dropped, none fails."""
    with tempfile.TemporaryDirectory() as folder:
        writer, times = _write_and_read(folder, ext, pts)
    assert len(times) == len(pts)
    assert all(a < b for a, b in pairwise(times))
    # The rule: a missing timestamp is the frame's place at the nominal rate (25 fps: 40 ms
    # steps); one not after the frame before becomes one frame duration after it.
    expected, moved = [], 0
    for i, p in enumerate(pts):
        p = 40 * i if p is None else p
        if expected and p <= expected[-1]:
            p, moved = expected[-1] + 40, moved + 1
        expected.append(p)
    assert times == [Fraction(p, 1000) for p in expected]
    notes = [n for n in writer.notes if "out of order" in n]
    assert notes == ([f"{moved} frame timestamp(s) out of order in the input: moved after the frame before"]
                     if moved else [])

def test_audio_stream_with_an_unknown_codec_is_left_out_with_a_note(tmp_path):
    """Found by fuzzing: an audio stream FFmpeg has no decoder for crashed the writer."""
    src = tmp_path / "in.mkv"
    make_video(src, 5, 32, 24, audio=True)
    data = src.read_bytes()
    assert data.count(b"A_AAC") == 1
    src.write_bytes(data.replace(b"A_AAC", b"A_ZZZ"))  # the Matroska codec id: now unknown
    dst = tmp_path / "out.mp4"
    writer = transcode(src, dst, copy_audio_from=src)
    assert writer.notes == ["audio stream #1: unknown codec, left out"]
    info, frames = read_all(dst)
    assert len(frames) == 5 and info.audio_streams == 0
    assert dir_listing(tmp_path) == ["in.mkv", "out.mp4"]


# -- damaged audio never costs the video (found by fuzzing) -------------------------


def _zero_aac_config(path):
    """Overwrite the AAC AudioSpecificConfig of a Matroska file with zeros: no channels."""
    with av.open(str(path)) as container:
        config = bytes(container.streams.audio[0].codec_context.extradata)
    element = b"\x63\xa2" + bytes([0x80 | len(config)])  # CodecPrivate, its size
    data = path.read_bytes()
    assert data.count(element + config) == 1
    path.write_bytes(data.replace(element + config, element + bytes(len(config))))


@pytest.mark.parametrize("ext, codec", [("webm", "libvpx-vp9"), ("mp4", "libx264")])
def test_audio_with_no_channels_is_left_out_with_a_note(tmp_path, ext, codec):
    src = tmp_path / "in.mkv"
    make_video(src, 5, 32, 24, audio=True)
    _zero_aac_config(src)
    writer = transcode(src, tmp_path / f"out.{ext}", codec=codec, copy_audio_from=src)
    assert writer.notes == ["audio stream #1: no sample rate or channels (damaged?), left out"]
    info, frames = read_all(tmp_path / f"out.{ext}")
    assert len(frames) == 5 and info.audio_streams == 0


def test_audio_the_muxer_would_refuse_is_left_out_up_front(tmp_path):
    """AAC whose configuration is lost (a damaged MP4 esds box) copies into MP4 but not Matroska,
    and the muxer said so only mid-file, failing the whole output (found by fuzzing)."""
    src = tmp_path / "in.mp4"
    make_video(src, 5, 32, 24, audio=True)
    with av.open(str(src)) as container:
        config = bytes(container.streams.audio[0].codec_context.extradata)
    data = src.read_bytes()
    specific = b"\x05\x80\x80\x80" + bytes([len(config)]) + config  # DecoderSpecificInfo
    assert data.count(specific) == 1
    src.write_bytes(data.replace(specific, b"\x07" + specific[1:]))  # now an unknown tag
    writer = transcode(src, tmp_path / "out.mkv", copy_audio_from=src)
    assert writer.notes == ["audio stream #1: matroska refuses its aac packets (damaged?), left out"]
    info, frames = read_all(tmp_path / "out.mkv")
    assert len(frames) == 5 and info.audio_streams == 0
    writer = transcode(src, tmp_path / "out.mp4", copy_audio_from=src)  # MP4 takes it as it is
    assert writer.notes == [] and read_all(tmp_path / "out.mp4")[0].audio_streams == 1


@pytest.mark.parametrize("ext", ["ts", "mkv"])
def test_audio_from_mpeg_ts_and_matroska_is_still_copied(tmp_path, ext):
    """The up-front check must not refuse what works: ADTS AAC from MPEG-TS carries no extradata."""
    src = tmp_path / f"in.{ext}"
    make_video(src, 5, 32, 24, audio=True)
    writer = transcode(src, tmp_path / "out.mp4", copy_audio_from=src)
    assert writer.notes == []
    assert read_all(tmp_path / "out.mp4")[0].audio_streams == 1
    assert audio_duration(tmp_path / "out.mp4") == pytest.approx(audio_duration(src), abs=0.05)


def test_audio_packets_out_of_order_are_dropped_not_the_rest(tmp_path, info):
    writer = VideoWriter(tmp_path / "out.mp4", info)
    stream = types.SimpleNamespace(index=1)
    dts = [-23, 0, 23, 46, 9937, 70, 93, None, 93, 116, 50, 139]  # a jump ahead, none, a repeat, going back
    packets = [types.SimpleNamespace(stream=stream, dts=d, pts=d) for d in dts]
    kept = [p.dts for p in writer._increasing(iter(packets))]
    writer.abort()
    assert kept == [-23, 0, 23, 46, 70, 93, 116, 139]  # only the damaged ones go, not what follows
    assert writer._audio_damaged == 4


class RefusingAudio(RecordingOutput):
    """An output container whose muxer refuses audio packets, as it does a damaged audio header's."""

    def mux(self, packets):
        packets = packets if isinstance(packets, list) else [packets]
        if any(p.stream.type == "audio" for p in packets):
            raise av.error.ArgumentError(22, "Invalid argument")
        super().mux(packets)


def test_audio_refused_by_the_muxer_leaves_the_video(tmp_path, mp4_25fps_audio):
    src, source = mp4_25fps_audio
    with open_video(src) as stream:
        info = stream.info
    writer = VideoWriter(tmp_path / "out.mp4", info, copy_audio_from=src)
    writer._out = RefusingAudio(writer._out)
    with writer:
        for rgb in source:
            writer.write(rgb)
    assert writer.notes == ["audio: refused by the muxer (Invalid argument); left out"]
    assert len(read_all(tmp_path / "out.mp4")[1]) == 20
    assert dir_listing(tmp_path) == ["in.mp4", "out.mp4"]


@pytest.mark.parametrize("codec, ext, name", [(None, "webm", "vp9"), (None, "mp4", "h264"), (None, "mkv", "h264"),
                                              ("h265", "mp4", "hevc"), ("hevc", "mkv", "hevc"), ("vp9", "mkv", "vp9"),
                                              ("av1", "mp4", "av1"), ("prores", "mov", "prores")])
def test_codec_from_the_container_or_an_everyday_name(tmp_path, mp4_25fps_audio, codec, ext, name):
    src, _ = mp4_25fps_audio
    writer = transcode(src, tmp_path / f"out.{ext}", codec=codec)
    info, frames = read_all(tmp_path / f"out.{ext}")
    assert len(frames) == 20 and av.Codec(info.codec).canonical_name == name, (writer.codec, info.codec)


def test_everyday_names_resolve_to_available_encoders():
    assert encoder_for(None, ".WEBM") == "libvpx-vp9" and encoder_for(None, ".mov") == "libx264"
    assert encoder_for("H265", ".mp4") == "libx265" and encoder_for("libx264", ".webm") == "libx264"
    assert encoder_for("av1", ".mkv") in av.codecs_available


@pytest.mark.skipif("hevc_nvenc" not in av.codecs_available or os.path.exists("/dev/nvidia0"),
                    reason="needs an FFmpeg with NVENC on a machine without an NVIDIA GPU")
def test_a_hardware_encoder_without_its_hardware_is_one_clear_error(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    with pytest.raises(VidcleanError, match="hevc_nvenc encoder: its hardware"):
        transcode(src, tmp_path / "out.mp4", codec="hevc_nvenc")
    assert not [n for n in dir_listing(tmp_path) if n.startswith((".out", "out"))]
