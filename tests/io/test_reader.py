import faulthandler
import os
import tempfile
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import corrupt_packets, make_video
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vidclean.errors import VidcleanError
from vidclean.io.reader import Frame, PyAVStream, VideoInfo, VideoStream, open_video
from vidclean.io.writer import VideoWriter
from vidclean.metrics import psnr


def test_info_of_h264_aac_mp4(mp4_25fps_audio):
    path, _ = mp4_25fps_audio
    with open_video(path) as stream:
        info = stream.info
    assert isinstance(stream, VideoStream) and isinstance(stream, PyAVStream)
    assert isinstance(info, VideoInfo)
    assert info.path == str(path)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == 25
    assert info.time_base is not None and info.time_base > 0
    assert info.frame_count == 20
    assert info.duration == pytest.approx(0.8, abs=0.05)
    assert info.rotation == 0
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.audio_streams == 1


def test_frames_in_order_with_timestamps(mp4_25fps_audio):
    path, source = mp4_25fps_audio
    with open_video(path) as stream:
        frames = list(stream)
        tb = stream.info.time_base
        assert stream.frames_lost == 0
    assert len(frames) == 20
    assert [f.index for f in frames] == list(range(20))
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.pts * tb for f in frames] == [Fraction(i, 25) for i in range(20)]
    for f in frames:
        assert f.time == pytest.approx(float(f.pts * tb))
        assert f.rgb.shape == (64, 96, 3) and f.rgb.dtype == np.uint8
        assert f.rgb.flags.c_contiguous
        # Each frame resembles its own source frame far more than the next one.
        assert psnr(f.rgb, source[f.index]) > 27
        if f.index + 1 < len(source):
            assert psnr(f.rgb, source[f.index]) > psnr(f.rgb, source[f.index + 1]) + 5


def test_frame_count_estimated_for_matroska(tmp_path):
    path = tmp_path / "v.mkv"
    make_video(path, 12, 64, 48, codec="ffv1", pix_fmt="bgr0")
    with open_video(path) as stream:
        assert stream.info.frame_count == 12
        assert stream.info.fps == 25
        assert stream.info.duration == pytest.approx(12 / 25, abs=0.05)
        assert len(list(stream)) == 12


@pytest.mark.parametrize(
    "ext, codec, pix_fmt, min_psnr",
    [
        ("mp4", "libx264", "yuv444p", 37),
        ("mp4", "libx264", "yuv420p10le", 27),
        ("mkv", "ffv1", "yuv444p", 45),
        ("mkv", "ffv1", "yuva420p", 27),
    ],
)
def test_pixel_formats_read_as_rgb(tmp_path, ext, codec, pix_fmt, min_psnr):
    path = tmp_path / f"v.{ext}"
    source = make_video(path, 5, 64, 48, codec=codec, pix_fmt=pix_fmt)
    with open_video(path) as stream:
        assert stream.info.pix_fmt == pix_fmt
        frames = list(stream)
    assert len(frames) == 5
    deep = "10le" in pix_fmt  # more than 8 bits: uint16 frames (0-65535)
    for f in frames:
        assert f.rgb.shape == (48, 64, 3) and f.rgb.dtype == (np.uint16 if deep else np.uint8)
        rgb = np.round(f.rgb / 257).astype(np.uint8) if deep else f.rgb
        assert psnr(rgb, source[f.index]) > min_psnr


@pytest.mark.parametrize("pix_fmt", ["gray", "gray10le"])
def test_gray_reads_as_equal_channels_of_the_luma(tmp_path, pix_fmt):
    path = tmp_path / "g.mkv"
    source = make_video(path, 4, 64, 48, codec="ffv1", pix_fmt=pix_fmt)
    with open_video(path) as stream:
        assert stream.info.pix_fmt == pix_fmt
        frames = list(stream)
    assert len(frames) == 4
    for f in frames:
        assert np.array_equal(f.rgb[..., 0], f.rgb[..., 1]) and np.array_equal(f.rgb[..., 0], f.rgb[..., 2])
        luma = source[f.index].astype(np.float64) @ [0.299, 0.587, 0.114]
        scale = 257 if f.rgb.dtype == np.uint16 else 1  # (gray10le reads as 16 bits a sample)
        assert np.abs(f.rgb[..., 0] / scale - luma).mean() < 2


def test_odd_size(tmp_path):
    path = tmp_path / "odd.mp4"
    source = make_video(path, 6, 177, 99, pix_fmt="yuv444p")
    with open_video(path) as stream:
        assert (stream.info.width, stream.info.height) == (177, 99)
        frames = list(stream)
    assert len(frames) == 6
    assert frames[3].rgb.shape == (99, 177, 3)
    assert psnr(frames[3].rgb, source[3]) > 35


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_reported_frames_not_rotated(tmp_path, rotation):
    path = tmp_path / "r.mp4"
    make_video(path, 3, 64, 48, rotation=rotation)
    with open_video(path) as stream:
        assert stream.info.rotation == rotation
        assert (stream.info.width, stream.info.height) == (64, 48)
        assert all(f.rgb.shape == (48, 64, 3) for f in stream)


def test_variable_frame_rate_timestamps(tmp_path):
    path = tmp_path / "vfr.mp4"
    pts = [0, 40, 120, 130, 300, 310, 500]  # milliseconds
    make_video(path, 7, 64, 48, pts=pts, time_base=Fraction(1, 1000))
    with open_video(path) as stream:
        tb = stream.info.time_base
        times = [f.pts * tb for f in stream]
    assert times == [Fraction(p, 1000) for p in pts]


def test_avi_with_b_frames_gives_timestamps_in_display_order(tmp_path):
    """AVI stores no presentation times: with B-frames the decoder hands out the right timestamps
    in the wrong order (found by the reliability corpus; the writer then had to move frames)."""
    path = tmp_path / "v.avi"
    source = make_video(path, 12, 48, 32)  # H.264 with B-frames
    with av.open(str(path)) as container:
        raw = [f.pts for f in container.decode(video=0)]
    assert raw != sorted(raw)  # what PyAV alone gives
    with open_video(path) as stream:
        frames = list(stream)
    assert [f.pts for f in frames] == sorted(raw)
    assert [f.time for f in frames] == pytest.approx([(i + raw[0]) / 25 for i in range(12)])
    for f in frames:  # the pictures themselves were in display order all along
        own = psnr(f.rgb, source[f.index])
        assert own > 24
        assert all(own > psnr(f.rgb, source[j]) + 3 for j in (f.index - 1, f.index + 1) if 0 <= j < 12)


def test_damaged_packets_are_counted_and_skipped(tmp_path):
    path = tmp_path / "v.mp4"
    make_video(path, 30, 96, 64)
    damaged = tmp_path / "damaged.mp4"
    corrupt_packets(path, damaged)
    with open_video(damaged) as stream:
        frames = list(stream)
        assert stream.frames_lost > 0
        assert stream.frames_lost == 30 - len(frames)  # the MP4 index says how many there were
    assert 20 <= len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))


def test_iteration_is_single_pass_and_close_stops_it(mp4_25fps_audio):
    path, _ = mp4_25fps_audio
    stream = open_video(path)
    it = iter(stream)
    assert next(it).index == 0
    assert next(it).index == 1
    stream.close()
    assert list(it) == []
    stream.close()  # twice is fine


# -- errors -------------------------------------------------------------------


def _raises_one_line(path, fragment):
    with pytest.raises(VidcleanError) as err:
        open_video(path)
    message = str(err.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_file(tmp_path):
    _raises_one_line(tmp_path / "nope.mp4", "no such file")


def test_directory(tmp_path):
    _raises_one_line(tmp_path, "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    _raises_one_line(path, "empty")


@pytest.mark.parametrize("content", [b"hello, this is not a video\n" * 50, bytes(range(256)) * 40])
def test_not_a_video(tmp_path, content):
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    _raises_one_line(path, "not a readable video")


def test_truncated_header(tmp_path, mp4_25fps_audio):
    source, _ = mp4_25fps_audio
    path = tmp_path / "cut.mp4"
    path.write_bytes(source.read_bytes()[:100])
    with pytest.raises(VidcleanError, match="cut.mp4"):
        open_video(path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000, layout="mono")
        samples = np.zeros((1, 8000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    _raises_one_line(path, "no video stream")


def test_unknown_backend(mp4_25fps_audio):
    path, _ = mp4_25fps_audio
    with pytest.raises(VidcleanError, match="backend"):
        open_video(path, backend="gstreamer")


def _faststart(src, dst):
    """Remux an MP4 with its index (moov) first, as streaming-friendly files are."""
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        v = o.add_stream_from_template(i.streams.video[0])
        for packet in i.demux(i.streams.video[0]):
            if packet.dts is not None:
                packet.stream = v
                o.mux(packet)


@pytest.mark.parametrize("ext", ["mkv", "faststart.mp4"])
def test_truncated_file_gives_what_is_there_and_counts_the_rest_lost(tmp_path, ext):
    whole = tmp_path / f"whole.{ext}"
    if ext == "mkv":
        make_video(whole, 30, 64, 48, codec="ffv1", pix_fmt="yuv420p")
    else:
        make_video(tmp_path / "plain.mp4", 30, 64, 48)
        _faststart(tmp_path / "plain.mp4", whole)
    data = whole.read_bytes()
    if ext != "mkv":
        assert data.find(b"moov") < data.find(b"mdat")
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with open_video(cut) as stream:
        frames = list(stream)
        lost = stream.frames_lost
    assert 5 <= len(frames) <= 25
    assert [f.index for f in frames] == list(range(len(frames)))
    assert abs(len(frames) + lost - 30) <= 1, (len(frames), lost)


def test_plain_mp4_cut_in_half_is_unreadable(tmp_path, mp4_25fps_audio):
    """Its index (moov) is written last, so half a file has none: nothing can be decoded."""
    source, _ = mp4_25fps_audio
    path = tmp_path / "half.mp4"
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _raises_one_line(path, "not a readable video")


def test_long_variable_frame_rate_matroska_is_no_loss(tmp_path):
    """The end-of-stream check must not take long gaps between frames for missing frames."""
    path = tmp_path / "gaps.mkv"
    make_video(path, 5, 32, 24, pts=[0, 40, 1000, 1040, 3000], time_base=Fraction(1, 1000), audio=True)
    with open_video(path) as stream:
        assert len(list(stream)) == 5
        assert stream.frames_lost == 0


# -- fuzzing: mutated small files ------------------------------------------------
#
# Whatever the bytes, reading (and writing what was read, as the command line does) either
# works or raises VidcleanError: no other exception, no crash, no hang. The normal run tries
# 20 fixed mutations; a long run: VIDCLEAN_FUZZ_EXAMPLES=5000 python -m pytest tests/test_reader.py -k fuzz

FUZZ_EXAMPLES = int(os.environ.get("VIDCLEAN_FUZZ_EXAMPLES", "20"))
FUZZ_SEEDS = ["h264_aac.mp4", "ffv1.mkv", "h264.mkv", "h264_rot.mp4", "h264_aac.avi"]


@pytest.fixture(scope="module")
def fuzz_seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    make_video(folder / "h264_aac.mp4", 8, 32, 24, audio=True)
    make_video(folder / "ffv1.mkv", 6, 32, 24, codec="ffv1", pix_fmt="yuv420p")
    make_video(folder / "h264.mkv", 8, 32, 24, pts=[0, 40, 80, 200, 240, 280, 400, 440], time_base=Fraction(1, 1000))
    make_video(folder / "h264_rot.mp4", 6, 31, 17, pix_fmt="yuv444p", rotation=90)
    make_video(folder / "h264_aac.avi", 8, 32, 24, audio=True)
    return {name: (folder / name).read_bytes() for name in FUZZ_SEEDS}


_mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "overwrite"]),
                      st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=48))


def _mutate(data: bytes, mutations) -> bytes:
    data = bytearray(data)
    for op, where, chunk in mutations:
        pos = int(where * len(data))
        if op == "flip":
            data[pos] ^= chunk[0] or 0x80
        elif op == "insert":
            data[pos:pos] = chunk
        elif op == "delete":
            del data[pos : pos + 2 * len(chunk)]
        else:
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=FUZZ_EXAMPLES <= 20,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(FUZZ_SEEDS), mutations=st.lists(_mutation, min_size=1, max_size=6))
def test_fuzz_mutated_files_read_or_fail_cleanly(fuzz_seeds, seed, mutations):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "in" + os.path.splitext(seed)[1])
        with open(path, "wb") as f:
            f.write(_mutate(fuzz_seeds[seed], mutations))
        faulthandler.dump_traceback_later(60, exit=True)  # a hang fails the run, with a traceback
        try:
            with open_video(path) as stream:
                info = stream.info
                out = os.path.join(folder, "out.mkv")
                with VideoWriter(out, info, codec="ffv1",
                                 copy_audio_from=path if info.audio_streams else None) as writer:
                    count = 0
                    for frame in stream:
                        assert frame.rgb.shape == (info.height, info.width, 3)
                        writer.write(frame.rgb, frame.pts)
                        count += 1
            assert count >= 1 and stream.frames_lost >= 0
            with open_video(out) as again:
                assert sum(1 for _ in again) == count
            event("decoded, with frames lost" if stream.frames_lost else "decoded")
        except VidcleanError as e:
            # only the input may be refused: writing what was read must always work
            assert str(e).startswith(f"{path}: ") and "\n" not in str(e)
            event("refused: " + str(e).split(": ", 1)[1].split(" (")[0])
        finally:
            faulthandler.cancel_dump_traceback_later()
        assert [n for n in os.listdir(folder) if n.startswith(".")] == []
