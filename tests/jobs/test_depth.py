"""10-bit and HDR footage: the bit depth, the colour tags and HDR10 metadata kept from reader to writer."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

from conftest import HDR10_PARAMS, HLG, make_deep_video, make_video, vidclean
from vidclean.io.reader import side_data


def stream_facts(path):
    """(codec, pixel format, (primaries, transfer, matrix, range), side data types of the first frame, frames)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        first = frames[0]
        colour = (int(first.color_primaries), int(first.color_trc), int(first.colorspace), int(first.color_range))
        return (container.streams.video[0].codec_context.name, first.format.name, colour,
                {d.type.name for d in side_data(first)}, len(frames))


@pytest.fixture(scope="module")
def hlg(tmp_path_factory):
    path = tmp_path_factory.mktemp("deep") / "hlg.mp4"
    return path, make_deep_video(path, 10, 96, 64)


def test_reader_gives_16_bit_frames_and_the_tags(hlg):
    from vidclean.io.reader import Colour, open_video

    path, given = hlg
    with open_video(path) as stream:
        info, frames = stream.info, [f.rgb for f in stream]
    assert (info.bit_depth, info.colour, info.colour.hdr) == (10, Colour(*HLG), "HLG")
    assert frames[0].dtype == np.uint16 and len(frames) == 10
    # converted with the stream's BT.2020 matrix and limited range: close to the RGB encoded
    assert np.abs(frames[3].astype(float) - given[3]).mean() < 800  # (of 65535; mostly 4:2:0 at the edges)
    with open_video(path, depth=8) as stream:
        assert next(iter(stream)).rgb.dtype == np.uint8


def test_writer_round_trip_keeps_depth_and_colour(hlg, tmp_path):
    from vidclean.io.reader import open_video
    from vidclean.io.writer import VideoWriter

    path, _ = hlg
    out = tmp_path / "copy.mp4"
    read = []
    with open_video(path) as stream:
        with VideoWriter(out, stream.info, crf=4) as writer:
            for frame in stream:
                read.append(frame.rgb)
                writer.write(frame.rgb, frame.pts)
    assert stream_facts(out)[:3] == ("hevc", "yuv420p10le", HLG)
    with open_video(out) as stream:
        back = [f.rgb for f in stream]
    assert np.abs(back[3].astype(float) - read[3]).mean() < 800
    # finer than 8 bits: the 10-bit codes between two 8-bit levels are used
    assert np.unique(back[3] >> 6).size > 2 * np.unique(back[3] >> 8).size


def test_cli_keeps_10_bit_hlg_and_8_bit_stays_8_bit(hlg, tmp_path):
    path, _ = hlg
    out = tmp_path / "out.mp4"
    result = vidclean(path, out, "--sigma", "10", "--preset", "fast")
    assert result.returncode == 0, result.stderr
    codec, pix_fmt, colour, _, count = stream_facts(out)
    assert (codec, pix_fmt, colour, count) == ("hevc", "yuv420p10le", HLG, 10)
    assert "HDR (HLG) cleaned as coded, without tone mapping" in result.stderr

    eight = tmp_path / "eight.mp4"
    make_video(eight, 6, 96, 64)
    result = vidclean(eight, tmp_path / "eight_out.mp4", "--sigma", "10", "--preset", "fast")
    assert result.returncode == 0, result.stderr
    assert stream_facts(tmp_path / "eight_out.mp4")[:2] == ("h264", "yuv420p")
    assert "note" not in result.stderr


@pytest.mark.parametrize("codec, ext, pix_fmt, note", [
    ("ffv1", ".mkv", "gbrp10le", None),  # lossless RGB, 10 bits
    ("h264", ".mp4", "yuv420p10le", None),  # x264 High 10
    ("prores", ".mov", "yuv422p10le", None),
    (None, ".webm", "yuv420p", "written in 8 (libvpx-vp9 yuv420p)"),  # this libvpx encodes 8 bits only: said
])
def test_codecs_keep_the_depth_they_can(hlg, tmp_path, codec, ext, pix_fmt, note):
    path, _ = hlg
    out = tmp_path / f"out{ext}"
    result = vidclean(path, out, "--sigma", "10", "--preset", "fast", "--no-fusion", *(["--codec", codec] if codec else []))
    assert result.returncode == 0, result.stderr
    facts = stream_facts(out)
    assert facts[1] == pix_fmt
    assert facts[2][:2] == HLG[:2]  # primaries and transfer, whatever the format (RGB has no matrix)
    if note:
        assert note in result.stderr
    else:
        assert "bits a sample" not in result.stderr


def test_hdr10_metadata_is_kept(tmp_path):
    from vidclean.io.reader import open_video

    src = tmp_path / "pq.mkv"
    make_deep_video(src, 6, 96, 64, colour=(9, 16, 9, 1), x265_params=HDR10_PARAMS)
    out = tmp_path / "out.mkv"
    result = vidclean(src, out, "--sigma", "10", "--preset", "fast", "--no-fusion")
    assert result.returncode == 0, result.stderr
    assert {"MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL"} <= stream_facts(out)[3]
    with open_video(src) as a, open_video(out) as b:
        assert a.info.hdr10 == b.info.hdr10
    hdr = a.info.hdr10
    assert hdr.primaries[0] == (0.265, 0.69) and hdr.luminance == (1000.0, 0.0001) and hdr.light_level == (1000, 400)


@pytest.mark.parametrize("colour, pix_fmt", [
    ((1, 1, 1, 1), "yuv444p"),  # 8-bit BT.709, limited range: HD camera footage
    ((1, 1, 1, 2), "yuv444p"),  # 8-bit full range (as phones' yuvj420p)
    ((9, 18, 9, 2), "yuv444p10le"),  # 10-bit full range
])
def test_colour_round_trip_through_the_writer(tmp_path, colour, pix_fmt):
    """Read, written with the input's matrix and range, read again: the same colours, the same tags.
    A writer that converted with BT.601 or limited range while tagging these would move them.
    (4:4:4, because swscale's default 4:2:0 chroma siting alone moves 8-bit colours by about a level.)"""
    from vidclean.io.reader import open_video
    from vidclean.io.writer import VideoWriter

    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    codec = "libx264" if pix_fmt == "yuv444p" else "libx265"
    make_deep_video(src, 4, 96, 64, colour=colour, pix_fmt=pix_fmt, codec=codec)
    with open_video(src) as stream:
        read = [f.rgb for f in stream]
        with VideoWriter(out, stream.info, crf=4, codec=codec, pix_fmt=pix_fmt) as writer:
            for i, rgb in enumerate(read):
                writer.write(rgb, i)
    facts = stream_facts(out)
    assert (facts[1].replace("yuvj", "yuv"), facts[2]) == (pix_fmt, colour)  # (FFmpeg calls full-range 8-bit yuvj420p)
    with open_video(out) as stream:
        back = [f.rgb for f in stream]
    scale = 257 if read[0].dtype == np.uint16 else 1  # (on the 8-bit scale)
    assert np.abs(back[2].astype(float) - read[2]).mean() / scale < 3  # (the encoder at CRF 4)
    # the mean colour kept within a level (measured: up to 0.94; a wrong range shifts it by 3 to 8 levels)
    assert np.abs(back[2].reshape(-1, 3).mean(0) - read[2].reshape(-1, 3).mean(0)).max() / scale < 1


def test_denoiser_takes_and_gives_uint16_without_8_bit_rounding(hlg):
    from vidclean import Denoiser
    from vidclean.io.reader import open_video

    with open_video(hlg[0]) as stream:
        frames = [f.rgb for f in stream]
    denoiser = Denoiser("fast", sigma=10)
    clean = list(denoiser.denoise(frames))
    assert len(clean) == 10 and clean[0].dtype == np.uint16
    assert np.mean(clean[4] % 257 != 0) > 0.5  # not 8-bit values scaled up
    eight = list(denoiser.denoise([(f >> 8).astype(np.uint8) for f in frames]))
    assert eight[0].dtype == np.uint8
    assert np.abs(clean[4] / 257 - eight[4]).mean() < 1.5  # the same cleaning at either depth
    with pytest.raises(ValueError, match="differs"):
        list(denoiser.denoise([frames[0], eight[1]]))


def test_10_bit_y4m_through_a_pipe(hlg, tmp_path):
    path, _ = hlg
    y4m = tmp_path / "in.y4m"
    with av.open(str(path)) as src, av.open(str(y4m), "w", options={"strict": "-1"}) as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p10le"
        for frame in src.decode(video=0):
            frame.pts = None
            out.mux(stream.encode(frame))
    with open(y4m, "rb") as stdin:
        result = subprocess.run([sys.executable, "-m", "vidclean", "-", "-", "--sigma", "10", "--preset", "fast"],
                                stdin=stdin, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    (tmp_path / "out.y4m").write_bytes(result.stdout)
    assert stream_facts(tmp_path / "out.y4m")[1::3] == ("yuv420p10le", 10)
