"""Training data: noisy/clean batches from clips and stills, and the noise levels the net is told."""

from pathlib import Path

import numpy as np
import pytest

from vidclean.core.noise import estimate_sigma
from vidclean.io.clips import read_clip
from vidclean.presets import MAX_DELAY
from vidclean.training import data
from vidclean.training.data import ClipBatches, make_noisy, moving_still
from vidclean.training.noise import h264_roundtrip

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "foliage_clean.mp4"


@pytest.fixture(scope="module")
def clip():
    return read_clip(SAMPLE, 12)


def test_h264_roundtrip_keeps_the_picture_and_smooths_fine_noise(clip):
    rng = np.random.default_rng(0)
    noisy = np.clip(clip[:7].astype(float) + rng.normal(0, 15, clip[:7].shape), 0, 255).astype(np.uint8)
    out = h264_roundtrip(noisy, crf=28)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    # close to what went in...
    assert np.mean(np.abs(out.astype(float) - clip[:7])) < np.mean(np.abs(noisy.astype(float) - clip[:7]))
    # ...but the finest detail of the noise is gone: the estimator reads much less than 15
    assert np.median([estimate_sigma(f) for f in out]) < 0.7 * np.median([estimate_sigma(f) for f in noisy])


def test_h264_roundtrip_is_repeatable_and_takes_odd_sizes(clip):
    noisy = np.clip(clip[:6].astype(float) + np.random.default_rng(1).normal(0, 10, clip[:6].shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    first = h264_roundtrip(noisy, 20)
    assert all(np.array_equal(first, h264_roundtrip(noisy, 20)) for _ in range(3))
    odd = noisy[:3, :33, :63]
    out = h264_roundtrip(odd, 20)
    assert out.shape == odd.shape and np.mean(np.abs(out.astype(float) - odd)) < 10


def test_camera_samples_are_told_what_the_blind_estimate_reads(clip):
    crop = clip[:7, :64, :64]
    for seed in range(12):
        noisy, sigma = make_noisy(crop, np.random.default_rng(seed), camera_fraction=1.0)
        assert noisy.shape == crop.shape and noisy.dtype == np.uint8
        assert sigma == pytest.approx(min(np.median([estimate_sigma(f) for f in noisy]), 55), abs=1e-6)
    # half of them are re-compressed: with every one re-compressed the levels told drop
    told = lambda fraction: [make_noisy(crop, np.random.default_rng(s), 1.0, recompressed=fraction)[1]  # noqa: E731
                             for s in range(12)]
    raw, compressed = told(0.0), told(1.0)
    assert np.mean(compressed) < 0.8 * np.mean(raw)


def test_camera_noise_strength_follows_the_ranges_given(clip):
    """--camera-shot / --camera-read: a range of stronger noise gives noisier samples, told higher levels."""
    crop = clip[:7, :64, :64]

    def told(shot, read):
        samples = [make_noisy(crop, np.random.default_rng(s), 1.0, shot, read) for s in range(6)]
        return np.mean([np.abs(n.astype(float) - crop).mean() for n, _ in samples]), np.mean([t for _, t in samples])

    weak, strong = told((1e-4, 2e-4), (1e-3, 2e-3)), told((2e-2, 3e-2), (2e-2, 3e-2))
    assert strong[0] > 3 * weak[0] and strong[1] > 3 * weak[1]


def test_recompressed_fraction_decides_how_many_camera_samples_go_through_h264(clip, monkeypatch):
    crop = clip[:7, :32, :32]
    calls = []
    monkeypatch.setattr(data, "h264_roundtrip", lambda frames, crf: calls.append(crf) or frames)
    for fraction, expected in ((0.0, 0), (1.0, 8)):
        calls.clear()
        for s in range(8):
            make_noisy(crop, np.random.default_rng(s), 1.0, recompressed=fraction)
        assert len(calls) == expected
    assert all(data.CRF_RANGE[0] <= crf <= data.CRF_RANGE[1] for crf in calls)


def test_gaussian_samples_are_told_their_sigma(clip):
    crop = clip[:7, :64, :64]
    noisy, sigma = make_noisy(crop, np.random.default_rng(3), camera_fraction=0.0)
    assert 0 <= sigma <= 55
    assert np.std(noisy.astype(float) - crop) == pytest.approx(sigma, rel=0.15, abs=1.0)


def test_moving_still_moves():
    rng = np.random.default_rng(0)
    image = np.ascontiguousarray(read_clip(SAMPLE, 1)[0])
    moving = moving_still(image, 7, 48, rng)
    assert moving.shape == (7, 48, 48, 3)
    assert np.mean(np.abs(moving[0].astype(int) - moving[-1])) > 1
    tripod = moving_still(image, 7, 48, rng, motion=0.0)
    assert all(np.array_equal(frame, tripod[0]) for frame in tripod)


def test_still_samples_hardly_move(clip):
    """With still_fraction 1 every sample is one frame (of a clip or a still) under at most 30% of
    the synthetic camera's motion: its frames differ far less than consecutive frames of the clip."""
    still = read_clip(SAMPLE, 1)[0]
    moving = ClipBatches([clip], [still], frames=7, patch=32, batch=8, steps=1, camera_fraction=0.0, seed=2)
    static = ClipBatches([clip], [still], frames=7, patch=32, batch=8, steps=1, camera_fraction=0.0, seed=2,
                         still_fraction=1.0)
    change = lambda clean: np.mean(np.abs(clean[:, 0] - clean[:, -1]))  # noqa: E731  frames 6 and 3
    assert change(static[0][1]) < 0.6 * change(moving[0][1])
    (noisy, _), clean = static[0]
    assert np.mean(np.abs(noisy[:, 3] - noisy[:, 6])) > 2 * np.mean(np.abs(clean[:, 0] - clean[:, 3]))  # fresh noise


def test_batches_are_shaped_for_the_training_model_and_reproducible(clip):
    still = read_clip(SAMPLE, 1)[0]
    # every camera sample through H.264
    batches = ClipBatches([clip], [still], frames=7, patch=32, batch=4, steps=3, camera_fraction=0.5,
                          recompressed=1.0, seed=1)
    (noisy, sigma), clean = batches[0]
    assert noisy.shape == (4, 7, 32, 32, 3) and clean.shape == (4, MAX_DELAY + 1, 32, 32, 3)
    assert sigma.shape == (4, 1) and np.all((sigma >= 0) & (sigma <= 55 / 255))
    assert 0 <= noisy.min() and noisy.max() <= 1 and 0 <= clean.min() and clean.max() <= 1
    again = ClipBatches([clip], [still], frames=7, patch=32, batch=4, steps=3, camera_fraction=0.5,
                        recompressed=1.0, seed=1)[0]
    assert np.array_equal(again[0][0], noisy) and np.array_equal(again[1], clean)
    batches.on_epoch_end()
    assert not np.array_equal(batches[0][0][0], noisy)  # a new epoch draws new samples


def test_low_sigma_draws_the_gaussian_levels_from_the_low_end():
    from vidclean.training.data import LOW_SIGMA

    crop = np.full((3, 16, 16, 3), 128, np.uint8)
    levels = lambda low: [make_noisy(crop, np.random.default_rng(s), 0.0, low_sigma=low)[1] for s in range(200)]  # noqa: E731
    assert max(levels(1.0)) <= LOW_SIGMA
    assert max(levels(0.0)) > 2 * LOW_SIGMA
    assert 0.3 < np.mean(np.array(levels(0.5)) <= LOW_SIGMA) < 0.8
