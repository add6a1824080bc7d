"""A long video cleaned in parts and joined by stream copy equals the video cleaned whole."""

import av
import numpy as np
import pytest
from conftest import make_video, synth_frame

from vidclean.cli.main import main
from vidclean.io.clips import read_clip
from vidclean.jobs.segments import clean_part, join_parts, part_suffix, plan_parts
from vidclean.options import CleanOptions
from vidclean.presets import FUSION_RADIUS, SIGMA_HISTORY, STATE_PERIOD, STATE_WARMUP

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
    return CleanOptions(codec=codec, **extra)


def packets(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        return [(p.pts, p.dts) for p in c.demux(video) if p.size], [s.type for s in c.streams]


@pytest.fixture(scope="module")
def vfr_video(tmp_path_factory):
    """420 noisy frames, 48x32, H.264 with a keyframe every 24 frames, at a variable frame rate
    (frame gaps of 30, 40 and 100 ms in turn), in Matroska."""
    path = tmp_path_factory.mktemp("vfr") / "vfr.mkv"
    rng = np.random.default_rng(2)
    frames = [np.clip(synth_frame(i, 48, 32) + rng.normal(0, 15, (32, 48, 3)), 0, 255).astype(np.uint8)
              for i in range(420)]
    pts = np.cumsum([0] + [(30, 40, 100)[i % 3] for i in range(419)]).tolist()
    make_video(path, frames, 48, 32, pts=pts, options={"g": "24"})
    return path


def test_parts_start_at_state_restarts_and_carry_their_history(long_video):
    parts = plan_parts(long_video, 120, window=5, auto_sigma=True)
    assert [(p.start, p.stop) for p in parts] == [(0, 128), (128, N)]  # 120 rounds up to a multiple of STATE_PERIOD (16)
    assert all(p.start % STATE_PERIOD == 0 for p in parts)
    assert parts[1].read_from == 128 - STATE_WARMUP - SIGMA_HISTORY and len(parts[1].timestamps) == N - parts[1].read_from
    assert len(parts[0].timestamps) == 128 + 2  # the look-ahead of a 5-frame window
    fixed = plan_parts(long_video, 120, window=5, auto_sigma=False)
    assert fixed[1].read_from == 128 - STATE_WARMUP
    assert plan_parts(long_video, 200, window=5, auto_sigma=True) is None  # shorter than two parts
    # with the fusion a part starts 2 frames after the restart, so that the network cleans from the
    # restart (the 2 frames before the start), and it reads 2 more after its end
    fused = plan_parts(long_video, 120, window=5, auto_sigma=False, fusion=2)
    assert [(p.start, p.stop) for p in fused] == [(0, 130), (130, N)]
    assert fused[1].read_from == 128 - STATE_WARMUP and len(fused[0].timestamps) == 130 + 2 + 2
    assert plan_parts(long_video, 120, window=5, auto_sigma=True, fusion=2)[1].read_from == 128 - STATE_WARMUP - SIGMA_HISTORY


def test_files_in_containers_that_do_not_seek_exactly_are_not_split(long_video, tmp_path):
    for name in ("long.ts", "long.avi"):
        make_video(tmp_path / name, N, 32, 32, codec="mpeg4" if name.endswith(".avi") else "libx264")
        assert plan_parts(tmp_path / name, 100, window=5, auto_sigma=True) is None, name


@pytest.mark.parametrize("sigma,window,fusion", [(None, 3, True), (15.0, 7, True), (15.0, 5, False)])
def test_three_parts_seeking_mid_file_at_a_variable_frame_rate(vfr_video, tmp_path, sigma, window, fusion):
    """Parts that seek to a keyframe inside the file, a middle part, a fixed and an estimated
    sigma: FFV1 frame for frame and the timestamps of the whole run."""
    whole = tmp_path / "whole.mkv"
    extra = ([] if sigma is None else ["--sigma", str(sigma)]) + ([] if fusion else ["--no-fusion"])
    assert main([str(vfr_video), str(whole), "--codec", "ffv1", "--window", str(window), *extra, "-q"]) == 0
    opts = options("ffv1", window=window, sigma=sigma, fusion=fusion)
    denoiser = opts.denoiser()
    parts = plan_parts(vfr_video, 128, window=window, auto_sigma=sigma is None, fusion=FUSION_RADIUS if fusion else 0)
    r = FUSION_RADIUS if fusion else 0
    assert [(p.start, p.stop) for p in parts] == [(0, 128 + r), (128 + r, 256 + r), (256 + r, 420)]
    # its seek lands on a keyframe after the file's first; no period before its own is read
    assert parts[-1].read_from == 256 - STATE_WARMUP - (SIGMA_HISTORY if sigma is None else 0)
    files = []
    for part in parts:
        files.append(str(tmp_path / f"part{part.index}.mkv"))
        clean_part(str(vfr_video), part, denoiser, opts, files[-1])
    joined = tmp_path / "joined.mkv"
    join_parts(str(vfr_video), files, str(joined))
    assert packets(joined) == packets(whole)
    a, b = read_clip(whole), read_clip(joined)
    assert len(a) == len(b) == 420 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("codec,suffix", [("ffv1", ".mkv"), ("libx264", ".mp4")])
def test_parts_joined_equal_the_whole_run(long_video, tmp_path, codec, suffix):
    whole = tmp_path / f"whole{suffix}"
    assert main([str(long_video), str(whole), "--codec", codec, "-q"]) == 0
    opts = options(codec)
    denoiser = opts.denoiser()
    files = []
    for part in plan_parts(long_video, 128, window=5, auto_sigma=True, fusion=FUSION_RADIUS):
        files.append(str(tmp_path / f"part{part.index}{part_suffix(codec)}"))
        frames, _ = clean_part(str(long_video), part, denoiser, opts, files[-1])
        assert frames == part.frames
    joined = tmp_path / f"joined{suffix}"
    join_parts(str(long_video), files, str(joined))
    (whole_packets, whole_streams), (joined_packets, joined_streams) = packets(whole), packets(joined)
    assert joined_streams == whole_streams == ["video", "audio"]
    # the same timestamps; x264's B-frames reorder differently around the part border only
    assert sorted(p for p, _ in joined_packets) == sorted(p for p, _ in whole_packets)
    a, b = read_clip(whole), read_clip(joined)
    assert a.shape == b.shape == (N, 48, 64, 3)
    if codec == "ffv1":  # lossless: frame for frame the same
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    else:  # two encodes of the same frames: as faithful to the lossless run as each other
        lossless = tmp_path / "lossless.mkv"
        assert main([str(long_video), str(lossless), "--codec", "ffv1", "-q"]) == 0
        ref = read_clip(lossless).astype(float)
        psnr = [10 * np.log10(255**2 / np.mean((x - ref) ** 2)) for x in (a, b)]
        assert psnr[0] > 25 and abs(psnr[0] - psnr[1]) < 1.0, psnr
