"""Motion-compensated fusion (vidclean.core.fusion) on frames of the bundled real clip.

"Cleaned" frames here are the clean ones plus a residual noise of their own each, as a denoiser
leaves; the real network's outputs are tested end to end in tests/test_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import vidclean.core.fusion as fusion
from vidclean.core.fusion import MotionFusion
from vidclean.io.clips import read_clip
from vidclean.metrics import psnr

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "foliage_clean.mp4"


@pytest.fixture(scope="module")
def clean():
    return read_clip(SAMPLE)[:12]  # 12 frames of 360x240 moving foliage


def residual(frames, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(frames + rng.normal(0, sigma, frames.shape)), 0, 255).astype(np.uint8)


def run(frames, sigma, before=2, after=2, flow="medium"):
    f = MotionFusion(before, after, flow)
    pairs = []
    for i, frame in enumerate(frames):
        pairs += f.push(frame, sigma, i)
    pairs += f.flush()
    assert [tag for tag, _ in pairs] == list(range(len(frames)))  # every frame, once, in order
    return np.stack([image for _, image in pairs])


def test_a_still_scene_averages_out_what_differs_from_frame_to_frame(clean):
    still = np.repeat(clean[:1], 8, axis=0)
    cleaned = residual(still, 4.0, seed=1)
    assert psnr(run(cleaned, 20), still) > psnr(cleaned, still) + 3  # measured +5.8 dB


def test_a_panning_camera_is_followed_by_the_flow(clean):
    # one real frame panned 3 pixels right and 1 down per frame
    panned = np.stack([np.roll(clean[0], (i, 3 * i), axis=(0, 1)) for i in range(8)])[:, 16:-16, 32:-32]
    cleaned = residual(panned, 4.0, seed=1)
    assert psnr(run(cleaned, 20), panned) > psnr(cleaned, panned) + 3  # measured +5.0 dB
    # the same average without following the motion would blur: worse than no fusion at all
    blurred = np.mean(cleaned[2:7].astype(np.float32), axis=0)
    assert psnr(blurred, panned[4]) < psnr(cleaned[4], panned[4]) - 3


def test_foliage_moving_every_which_way_still_gains_where_much_is_left(clean):
    cleaned = residual(clean, 8.0, seed=2)
    assert psnr(run(cleaned, 20), clean) > psnr(cleaned, clean) + 1.5  # measured +3.7 dB


def test_frames_that_agree_to_within_alignment_pass_unchanged(clean):
    # noise-free frames: nothing to average out, so nothing is blended (the flow's and the
    # interpolation's own error is the FLOOR)
    still = np.repeat(clean[:1], 6, axis=0)
    assert np.array_equal(run(still, 10), still)


def test_moving_frames_told_they_are_noise_free_pass_unchanged(clean):
    # the foliage moves: aligned, its frames differ by more than the FLOOR, but at a noise level
    # of 0 there is nothing to average out, and the cap on tau is 0
    assert fusion.fusion_cap(0.0) == 0.0 and fusion.fusion_cap(1.0) == pytest.approx(2.3)
    assert fusion.fusion_cap(2.0) == pytest.approx(fusion.fusion_cap(2.0 + 1e-9))  # the ramp joins the line
    assert np.array_equal(run(clean[:6], 0.0), clean[:6])


def test_flows_to_frames_further_away_are_composed_hop_by_hop(clean):
    # each composed flow is cached on its frame; it must be the flow of the hops, each read where
    # the path so far has arrived
    f = MotionFusion(before=3, after=3)
    for i, frame in enumerate(residual(clean[:7], 6.0, seed=4)):
        f.push(frame, 20, i)
    grid = f._grid(*f.entries[0].gray.shape)

    def hops(i, j):
        step = 1 if j > i else -1
        total = None
        for a in range(i, j, step):
            hop = f.entries[a].forward if step > 0 else f.entries[a - 1].backward
            total = hop if total is None else total + cv2.remap(hop, grid + total, None, cv2.INTER_LINEAR,
                                                                 borderMode=cv2.BORDER_REPLICATE)
        return total

    n = len(f.entries)  # the frames still held (the first ones fused have left)
    assert n >= 4 and any(e.composed for e in f.entries)  # some composed while fusing
    for i in range(n):
        for j in range(n):
            if i != j:  # computed (or cached) now, then from the cache
                assert np.array_equal(f.flow_to(i, j), hops(i, j)) and np.array_equal(f.flow_to(i, j), hops(i, j)), (i, j)


def test_a_cut_to_another_scene_is_not_blended_in(clean):
    cut = np.concatenate([clean[:6], (clean[6:] * 0.5).astype(np.uint8)])  # a darker scene from frame 6
    cleaned = residual(cut, 4.0, seed=3)
    fused = run(cleaned, 20)
    for t in (5, 6):  # the frames on each side of the cut keep their own scene
        assert psnr(fused[t], cut[t]) > psnr(cleaned[t], cut[t]), t  # measured +0.9, +2.7 dB


def test_outputs_wait_for_the_frames_after(clean):
    f = MotionFusion(before=2, after=2, flow="ultrafast")
    assert f.push(clean[0], 10, "a") == [] and f.push(clean[1], 10, "b") == []
    assert [tag for tag, _ in f.push(clean[2], 10, "c")] == ["a"]
    assert [tag for tag, _ in f.flush()] == ["b", "c"]
    # nothing before or after: each frame comes back as it is, at once
    f = MotionFusion(before=0, after=0)
    assert np.array_equal(f.push(clean[3], 10, 3)[0][1], clean[3])
    # the causal fusion of a live preview: no delay
    f = MotionFusion(before=2, after=0)
    assert [tag for tag, _ in f.push(clean[0], 10, 0) + f.push(clean[1], 10, 1)] == [0, 1]
    with pytest.raises(ValueError):
        MotionFusion(before=-1)


def test_frames_of_another_size_are_refused(clean):
    f = MotionFusion()
    f.push(clean[0], 10)
    with pytest.raises(ValueError, match="same size"):
        f.push(clean[1][:100], 10)


def test_large_frames_take_their_flow_from_a_smaller_copy(clean, monkeypatch):
    assert MotionFusion.flow_scale(720, 1280) == 1
    assert MotionFusion.flow_scale(1080, 1920) == 2 and MotionFusion.flow_scale(2160, 3840) == 3
    # the sample treated as "large": the flow of a half-size copy still follows the pan
    monkeypatch.setattr(fusion, "FLOW_PIXELS", 360 * 240 // 4)
    panned = np.stack([np.roll(clean[0], (i, 3 * i), axis=(0, 1)) for i in range(8)])[:, 16:-16, 32:-32]
    cleaned = residual(panned, 4.0, seed=1)
    assert psnr(run(cleaned, 20), panned) > psnr(cleaned, panned) + 3


def test_frames_too_small_for_the_flow_pass_unchanged(clean):
    tiny = residual(clean[:4, :10, :40], 4.0, seed=4)  # 10 pixels high: DIS needs 12
    assert np.array_equal(run(tiny, 20), tiny)


def run_with_noisy(cleaned, noisy, sigma, before=2, after=2):
    """Fused outputs (vidclean.core.fusion.Fused) of cleaned frames given with their noisy inputs."""
    return MotionFusion(before, after).run(cleaned, sigma, noisy)


def test_given_the_noisy_frames_their_mean_along_the_flow_and_its_noise_come_too(clean):
    panned = np.stack([np.roll(clean[0], (i, 3 * i), axis=(0, 1)) for i in range(8)])[:, 16:-16, 32:-32]
    cleaned, noisy = residual(panned, 4.0, seed=1), residual(panned, 20.0, seed=3)
    out = run_with_noisy(cleaned, noisy, 20)
    # the fused frames are the fusion's without the noisy frames
    plain = run(cleaned, 20)
    assert all(np.array_equal(o.image, f) for o, f in zip(out, plain))
    assert all(np.array_equal(a, b) for a, b in zip(MotionFusion().run(cleaned, 20), plain))
    middle = out[4]
    assert middle.mean.dtype == np.uint8 and middle.noise.dtype == np.float32
    assert middle.noise.shape == panned.shape[1:3]
    # 5 frames that agree: the mean keeps about 1/sqrt(5) of the noise, and its map says so
    inner = (slice(8, -8), slice(8, -8))
    error = lambda x: np.sqrt(np.mean((x[inner].astype(np.float32) - panned[4][inner]) ** 2))  # noqa: E731
    assert error(middle.mean) < 0.6 * error(noisy[4])  # measured 0.45
    assert 0.4 * 20 < np.median(middle.noise) < 0.6 * 20  # measured 0.45 * 20
    # a frame alone: the mean is the noisy frame itself, at the level told
    alone = run_with_noisy(cleaned[:1], noisy[:1], 20)[0]
    assert np.array_equal(alone.mean, noisy[0]) and np.all(alone.noise == 20)


def test_the_noisy_mean_leaves_out_another_scene(clean):
    other = clean[:, ::-1, ::-1]
    frames = np.concatenate([clean[:3], other[3:6]])
    out = run_with_noisy(residual(frames, 4.0, seed=1), residual(frames, 10.0, seed=2), 10)
    # the last frame before the cut: its mean along the flow has nothing of the other scene
    assert psnr(out[2].mean, frames[2]) > psnr(residual(frames, 10.0, seed=2)[2], frames[2]) + 2  # measured +3.0
    with pytest.raises(ValueError, match="size"):
        MotionFusion().push(clean[0], 10, 0, noisy=clean[0][:-2])


@pytest.mark.parametrize("flow_pixels", [fusion.FLOW_PIXELS, 360 * 240 // 4])  # full-size flow; half-size
def test_fusing_a_band_of_rows_at_a_time_gives_the_frame_fused_in_one_piece(clean, monkeypatch, flow_pixels):
    monkeypatch.setattr(fusion, "FLOW_PIXELS", flow_pixels)
    frames = clean[:6]
    cleaned, noisy = residual(frames, 8.0, seed=1), residual(frames, 20.0, seed=3)
    whole = run_with_noisy(cleaned, noisy, 20)
    monkeypatch.setattr(fusion, "BAND_PIXELS", 360 * 23)  # bands of 23 rows (the last one of 10)
    assert fusion.bands(240, 360)[-2:] == [(207, 230), (230, 240)]
    for keep in (fusion.KEEP_PIXELS, 0):  # the bands' warps kept between measuring and weighting, or made again
        monkeypatch.setattr(fusion, "KEEP_PIXELS", keep)
        banded = run_with_noisy(cleaned, noisy, 20)
        for a, b in zip(whole, banded):
            assert np.array_equal(a.image, b.image) and np.array_equal(a.mean, b.mean)
            assert np.allclose(a.noise, b.noise, rtol=1e-6)
    # and the fusion did blend: not the cleaned frames passed through
    assert psnr(np.stack([x.image for x in whole]), frames) > psnr(cleaned, frames) + 1
