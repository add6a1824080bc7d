import numpy as np
import pytest
from conftest import synth_frame

from vidclean.core.noise import SigmaTracker, estimate_sigma
from vidclean.training.noise import add_camera_noise, add_gaussian


@pytest.fixture(scope="module")
def clean_frame():
    return synth_frame(3, 360, 240)


def test_gaussian_noise_is_8_bit_and_has_the_asked_level():
    rng = np.random.default_rng(0)
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = add_gaussian(flat, 20, rng)
    assert noisy.dtype == np.uint8
    assert abs(np.std(noisy.astype(float)) - 20) < 0.5


@pytest.mark.parametrize("sigma", [5, 10, 20, 30, 50])
def test_estimate_within_15_percent_on_flat_and_natural_frames(clean_frame, sigma):
    rng = np.random.default_rng(sigma)
    flat = np.full((240, 360, 3), 120, np.uint8)
    assert estimate_sigma(add_gaussian(flat, sigma, rng)) == pytest.approx(sigma, rel=0.1)
    assert estimate_sigma(add_gaussian(clean_frame, sigma, rng)) == pytest.approx(sigma, rel=0.15)


@pytest.mark.parametrize("sigma", [5, 20, 50])
def test_large_frames_are_measured_on_spaced_rows_of_blocks_with_the_same_result(monkeypatch, sigma):
    import cv2

    import vidclean.core.noise as noise

    rng = np.random.default_rng(sigma)
    big = cv2.resize(synth_frame(4, 360, 240), (1920, 1080), interpolation=cv2.INTER_CUBIC)
    noisy = add_gaussian(big, sigma, rng)
    calls = []
    real = noise._haar_diagonal
    monkeypatch.setattr(noise, "_haar_diagonal", lambda x: calls.append(x) or real(x))
    spaced = estimate_sigma(noisy)
    # every second 16-row band of the 67 (34 bands), red channel first
    bands = np.concatenate([noisy[b * 16:(b + 1) * 16, :, 0] for b in range(0, 67, 2)])
    np.testing.assert_array_equal(calls[0], bands.astype(np.float32))
    monkeypatch.setattr(noise, "MAX_BLOCKS", 10**9)
    whole = estimate_sigma(noisy)
    assert calls[-1].shape == (1080, 1920)
    assert spaced == pytest.approx(whole, rel=0.05)
    assert spaced == pytest.approx(sigma, rel=0.15)


def test_clean_frame_estimates_low(clean_frame):
    assert estimate_sigma(clean_frame) < 2


def test_camera_noise_is_signal_dependent_and_colour_correlated():
    rng = np.random.default_rng(0)
    dark, bright = np.full((100, 100, 3), 30, np.uint8), np.full((100, 100, 3), 200, np.uint8)
    linear = lambda x: (x.astype(float) / 255) ** 2.2  # noqa: E731
    n_dark = linear(add_camera_noise(dark, 1e-2, 1e-3, rng)) - linear(dark)
    n_bright = linear(add_camera_noise(bright, 1e-2, 1e-3, rng)) - linear(bright)
    assert np.std(n_bright) > 3 * np.std(n_dark)  # shot noise grows with the signal in linear light
    n_bright = add_camera_noise(bright, 1e-2, 1e-3, rng).astype(float) - 200
    corr = np.corrcoef(n_bright[..., 0].ravel(), n_bright[..., 1].ravel())[0, 1]
    assert corr < -0.1  # the colour matrix's negative off-diagonal terms anti-correlate R and G


def test_tracker_smooths_over_time():
    rng = np.random.default_rng(0)
    flat = np.full((120, 160, 3), 100, np.uint8)
    tracker = SigmaTracker(history=5, every=1)
    values = [tracker.update(add_gaussian(flat, 20, rng)) for _ in range(5)]
    values.append(tracker.update(add_gaussian(flat, 40, rng)))  # one outlier frame barely moves it
    assert values[-1] == pytest.approx(20, rel=0.1)


def test_tracker_measures_every_few_frames_and_follows_a_change():
    rng = np.random.default_rng(1)
    flat = np.full((120, 160, 3), 100, np.uint8)
    tracker = SigmaTracker(history=5, every=4)
    first = [tracker.update(add_gaussian(flat, 10, rng)) for _ in range(8)]
    assert len(tracker.values) == 2  # frames 0 and 4 of 0-7
    assert first[-1] == pytest.approx(10, rel=0.1)
    later = [tracker.update(add_gaussian(flat, 30, rng)) for _ in range(40)]
    assert later[-1] == pytest.approx(30, rel=0.1)  # the median of the last 5 measured follows


def test_clipping_at_black_and_white_does_not_hide_strong_noise():
    rng = np.random.default_rng(2)
    frame = np.full((240, 360, 3), 128, np.uint8)
    frame[:, :120], frame[:, 240:] = 6, 250  # two thirds of the frame next to black or white
    assert estimate_sigma(add_gaussian(frame, 50, rng)) == pytest.approx(50, rel=0.1)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 40, 3), (30, 1, 3), (2, 2, 3), (3, 5, 3)])
def test_tiny_frames_give_a_finite_estimate(shape):
    """A 1x1 video made the automatic noise level NaN, and the output frames garbage."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    sigma = estimate_sigma(frame)
    assert np.isfinite(sigma) and sigma >= 0
    tracker = SigmaTracker()
    assert all(np.isfinite(tracker.update(frame)) for _ in range(3))
