"""The training loss: absolute error per pixel, plus a term on each frame's colour cast."""

import numpy as np
import pytest

from vidclean.training.losses import denoising_loss


def frames(shape=(2, 4, 8, 8, 3), seed=0):
    return np.random.default_rng(seed).uniform(0.2, 0.8, shape).astype(np.float32)


def test_without_the_colour_term_it_is_keras_mean_absolute_error():
    assert denoising_loss(0.0) == "mean_absolute_error"


def test_a_cast_counts_once_as_error_and_again_as_a_cast():
    loss = denoising_loss(2.0)
    clean = frames()
    shifted = clean.copy()
    shifted[..., 1] += 0.03  # green up by 0.03 everywhere: a cast of 0.03 on one channel of three
    assert float(loss(clean, shifted)) == pytest.approx(0.01 + 2.0 * 0.01, rel=1e-4)


def test_an_error_that_averages_out_in_each_frame_is_no_cast():
    loss = denoising_loss(2.0)
    clean = frames()
    checker = np.indices(clean.shape[2:4]).sum(axis=0) % 2 * 2 - 1  # +1 / -1 in a checkerboard
    noisy = clean + 0.05 * checker[None, None, :, :, None].astype(np.float32)
    assert float(loss(clean, noisy)) == pytest.approx(0.05, rel=1e-4)
