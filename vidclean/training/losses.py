"""Training losses, in Keras 3 ops (any backend)."""

from __future__ import annotations

from keras import ops


def denoising_loss(colour_weight: float = 0.0):
    """Mean absolute error per pixel, plus ``colour_weight`` times the mean absolute colour cast:
    each output frame's mean error per channel.

    The absolute error alone is minimised by each pixel's median, not its mean, and can leave a
    colour cast; the cast term pulls each frame's mean towards the clean one's (docs/decisions.md,
    "Training loss"). With ``colour_weight`` 0 this is Keras' "mean_absolute_error" (the former recipe).
    """
    if not colour_weight:
        return "mean_absolute_error"

    def l1_and_colour(clean, out):
        error = out - clean  # (B, D, H, W, 3)
        cast = ops.mean(ops.abs(ops.mean(error, axis=(-3, -2))))
        return ops.mean(ops.abs(error)) + colour_weight * cast

    return l1_and_colour
