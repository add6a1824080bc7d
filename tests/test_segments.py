"""A long video cleaned in parts and joined by stream copy equals the video cleaned whole."""

import argparse

import av
import numpy as np
import pytest

from conftest import make_video, synth_frame
from vidclean.cli import main
from vidclean.data import read_clip
from vidclean.job import make_denoiser
from vidclean.registry import SIGMA_HISTORY, STATE_PERIOD, STATE_WARMUP
from vidclean.segments import clean_part, join_parts, part_suffix, plan_parts

N = 300  # frames: parts at 0, 128 (the tail of 44 joins the part before)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """300 noisy frames, 64x48, H.264 (B-frames) + AAC."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    rng = np.random.default_rng(0)
    frames = [np.clip(synth_frame(i, 64, 48) + rng.normal(0, 15, (48, 64, 3)), 0, 255).astype(np.uint8)
              for i in range(N)]
    make_video(path, frames, 64, 48, audio=True)
    return path


def options(codec, **extra):
    return argparse.Namespace(preset="balanced", window=5, sigma=None, weights=None, tile=None, precision="auto",
                              codec=codec, crf=None, pix_fmt=None, encoder_preset=None, overwrite=False,
                              strict=False, **extra)


def packets(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        return [(p.pts, p.dts) for p in c.demux(video) if p.size], [s.type for s in c.streams]


def test_parts_start_at_state_restarts_and_carry_their_history(long_video):
    parts = plan_parts(long_video, 100, window=5, auto_sigma=True)
    assert [(p.start, p.stop) for p in parts] == [(0, 128), (128, N)]  # 100 rounds up to 128
    assert all(p.start % STATE_PERIOD == 0 for p in parts)
    assert parts[1].read_from == 128 - STATE_WARMUP - SIGMA_HISTORY and len(parts[1].timestamps) == N - parts[1].read_from
    assert len(parts[0].timestamps) == 128 + 2  # the look-ahead of a 5-frame window
    fixed = plan_parts(long_video, 100, window=5, auto_sigma=False)
    assert fixed[1].read_from == 128 - STATE_WARMUP
    assert plan_parts(long_video, 200, window=5, auto_sigma=True) is None  # shorter than two parts


@pytest.mark.parametrize("codec,suffix", [("ffv1", ".mkv"), ("libx264", ".mp4")])
def test_parts_joined_equal_the_whole_run(long_video, tmp_path, codec, suffix):
    whole = tmp_path / f"whole{suffix}"
    assert main([str(long_video), str(whole), "--codec", codec, "-q"]) == 0
    opts = options(codec)
    denoiser = make_denoiser(opts)
    files = []
    for part in plan_parts(long_video, 128, window=5, auto_sigma=True):
        files.append(str(tmp_path / f"part{part.index}{part_suffix(codec)}"))
        frames, _ = clean_part(str(long_video), part, denoiser, opts, files[-1])
        assert frames == part.frames
    joined = tmp_path / f"joined{suffix}"
    join_parts(str(long_video), files, str(joined), opts)
    (whole_packets, whole_streams), (joined_packets, joined_streams) = packets(whole), packets(joined)
    assert joined_streams == whole_streams == ["video", "audio"]
    # the same timestamps; x264's B-frames reorder differently around the part border only
    assert sorted(p for p, _ in joined_packets) == sorted(p for p, _ in whole_packets)
    a, b = read_clip(whole), read_clip(joined)
    assert a.shape == b.shape == (N, 48, 64, 3)
    if codec == "ffv1":  # lossless: frame for frame the same
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    else:  # two encodes of the same frames
        assert np.mean(np.abs(a.astype(int) - b)) < 4
