"""Shared helpers: small synthetic videos written with PyAV alone (no ffmpeg binary)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# Encoder options that keep test inputs close to the frames given.
_QUALITY = {"libx264": {"crf": "10"}, "libx265": {"crf": "10", "x265-params": "log-level=error"}}


def synth_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame i of a moving scene: smooth colour waves drifting, and a bright square moving."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rgb = np.empty((height, width, 3), np.float64)
    rgb[..., 0] = 0.5 + 0.4 * np.sin(2 * np.pi * (1.5 * x + 0.05 * i))
    rgb[..., 1] = 0.5 + 0.4 * np.sin(2 * np.pi * (1.2 * y - 0.04 * i))
    rgb[..., 2] = 0.5 + 0.4 * np.cos(2 * np.pi * (x + y + 0.03 * i))
    rgb = (rgb * 255).round().astype(np.uint8)
    size = max(min(width, height) // 4, 2)
    x0, y0 = (3 * i) % max(width - size, 1), (2 * i) % max(height - size, 1)
    rgb[y0 : y0 + size, x0 : x0 + size] = (240, 240, 40)
    return rgb


def make_video(
    path,
    frames_or_n,
    width: int,
    height: int,
    fps=25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    rotation: int = 0,
    pts=None,
    time_base: Fraction = Fraction(1, 1000),
    options: dict | None = None,
) -> list[np.ndarray]:
    """Write a small video with PyAV and return the RGB frames given to the encoder.

    frames_or_n: a number of synthetic frames, or a list of (height, width, 3) uint8 arrays.
    pts: per-frame timestamps in `time_base` units (variable frame rate); default i / fps.
    audio: add a mono 440 Hz AAC sine track as long as the video.
    rotation: display rotation in counter-clockwise degrees (as VideoInfo.rotation).
    options: encoder options added to the defaults (e.g. {"g": "24"}: a keyframe every 24 frames).
    """
    if isinstance(frames_or_n, int):
        frames = [synth_frame(i, width, height) for i in range(frames_or_n)]
    else:
        frames = list(frames_or_n)
    fps = Fraction(fps)
    if pts is None:
        time_base = 1 / fps
        pts = list(range(len(frames)))
    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream(codec, rate=fps, options={**_QUALITY.get(codec, {}), **(options or {})})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        if audio:
            sample_rate = 44100
            astream = out.add_stream("aac", rate=sample_rate, layout="mono")
            seconds = float(pts[-1] * time_base + 1 / fps)
            t = np.arange(round(seconds * sample_rate)) / sample_rate
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            chunk = 1024
            for start in range(0, len(samples), chunk):
                piece = samples[start : start + chunk].reshape(1, -1)
                aframe = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                aframe.sample_rate, aframe.pts = sample_rate, start
                aframe.time_base = Fraction(1, sample_rate)
                out.mux(astream.encode(aframe))
            out.mux(astream.encode(None))
        for rgb, p in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = p, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return frames


def audio_duration(path) -> float:
    """Seconds of decoded audio samples in the first audio stream of `path`."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[0]
        return sum(f.samples for f in container.decode(stream)) / stream.rate


def dir_listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def mp4_25fps_audio(tmp_path):
    """A 25 fps, 20-frame, 96x64 H.264 + AAC mp4."""
    path = tmp_path / "in.mp4"
    frames = make_video(path, 20, 96, 64, fps=25, audio=True)
    return path, frames


def corrupt_packets(src, dst, which=slice(10, 13), seed=0) -> None:
    """Copies the video file ``src`` to ``dst`` with the data of the video packets ``which``
    overwritten by random bytes (their first 4 bytes, the NAL length, kept)."""
    with av.open(os.fspath(src)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(Path(src).read_bytes())
    rng = np.random.default_rng(seed)
    for pos, size in packets[which]:
        data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    Path(dst).write_bytes(bytes(data))


def vidclean(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "vidclean", *map(str, args)], capture_output=True,
                          text=True, timeout=600, **kwargs)


def assert_clean_error(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidclean: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def x264_settings(path) -> str:
    """The option string x264 writes into its stream (an SEI message): "... subme=7 ... ref=3 ..."."""
    data = open(path, "rb").read()
    start = data.index(b"x264 - core")
    return data[start:data.index(b"\0", start)].decode("ascii", "replace")


# HLG BT.2020 as phones tag it: primaries 9, transfer 18 (ARIB STD-B67), matrix 9, limited range
HLG = (9, 18, 9, 1)
# HDR10 static metadata as x265 takes it, and the values it stands for
HDR10_PARAMS = "hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"


def make_deep_video(path, n: int, width: int, height: int, *, colour=HLG, pix_fmt: str = "yuv420p10le",
                    codec: str = "libx265", x265_params: str = "") -> list[np.ndarray]:
    """A video of more than 8 bits (or any ``pix_fmt``) with colour tags ``colour`` (primaries,
    transfer, matrix, range), converted from RGB with that matrix and range; returns the uint16
    RGB frames given (synthetic frames with fine steps between the 8-bit levels)."""
    from av.video.reformatter import Colorspace

    frames = []
    params = ":".join(p for p in ("log-level=error", x265_params) if p)
    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options={"crf": "8", "x265-params": params} if codec == "libx265"
                                else {"crf": "8"})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace, context.color_range = colour
        ramp = np.linspace(0, 40, width, dtype=np.float64)[None, :, None]  # a sub-level ramp across the frame
        for i in range(n):
            rgb = np.clip(synth_frame(i, width, height).astype(np.float64) * 240 + 2000 + ramp * 64, 0, 65535)
            rgb = rgb.astype(np.uint16)
            frames.append(rgb)
            matrix = {1: Colorspace.ITU709, 9: Colorspace.BT2020}.get(colour[2], Colorspace.ITU601)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format=pix_fmt, dst_colorspace=matrix, dst_color_range=colour[3] or None)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return frames
