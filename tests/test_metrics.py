"""Quality measures used by the benchmarks and the training log."""

import numpy as np

from vidclean.metrics import colour_error, flicker, psnr


def clip(n=6, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(30, 220, (n, h, w, 3)).astype(np.float64)


def test_psnr_of_known_error():
    a = np.zeros((4, 4, 3))
    assert psnr(a, a) == float("inf")
    assert abs(psnr(a, a + 255 / 10) - 20) < 1e-9  # error a tenth of the peak: 20 dB


def test_a_colour_cast_shows_in_colour_error_not_in_flicker():
    clean = clip()
    cast = clean + np.array([4.0, 0.0, -2.0])
    assert np.allclose(colour_error(cast, clean), [4, 0, -2])
    assert flicker(cast, clean) == 0


def test_noise_that_changes_every_frame_flickers_and_a_fixed_pattern_does_not():
    clean = clip()
    rng = np.random.default_rng(1)
    fresh = clean + rng.normal(0, 10, clean.shape)
    fixed = clean + rng.normal(0, 10, clean.shape[1:])
    # the difference of two independent N(0, 10) frames has std 10*sqrt(2); its mean |.| is that * sqrt(2/pi)
    assert abs(flicker(fresh, clean) - 10 * np.sqrt(2) * np.sqrt(2 / np.pi)) < 0.5
    assert flicker(fixed, clean) < 1e-9
    assert np.allclose(colour_error(fresh, clean), 0, atol=0.5)
