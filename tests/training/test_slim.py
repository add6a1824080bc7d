"""Channel pruning (vidclean.training.slim): a narrower network started from a wider one's channels."""

import numpy as np
import pytest

from vidclean.core.networks import Networks
from vidclean.presets import PRESETS, NetConfig
from vidclean.training.slim import LAYERS, WIDTH, _indices, _kernels, narrow_from, narrowing


def outputs(nets, seed=0):
    rng = np.random.default_rng(seed)
    clip = rng.random((2, 7, 32, 32, 3), dtype=np.float32)
    sigma = np.float32([[20 / 255], [40 / 255]])
    return np.asarray(nets.training_model(7, 32)([clip, sigma]))


def randomised(nets, seed=1):
    """Random weights everywhere (the output layer starts at zero otherwise)."""
    rng = np.random.default_rng(seed)
    for layer in _kernels(nets).values():
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
    return nets


def embedded(narrow, wide_cfg, seed=2):
    """A wider network that computes exactly what ``narrow`` does: its channels placed at random
    positions of each group, every other channel's weights (made and read) zero. Returns the
    network and the positions."""
    rng = np.random.default_rng(seed)
    wide = Networks(wide_cfg)
    narrow_widths = {g: getattr(narrow.cfg, w) for g, w in WIDTH.items()}
    wide_widths = {g: getattr(wide_cfg, w) for g, w in WIDTH.items()}
    where = {g: np.sort(rng.choice(wide_widths[g], narrow_widths[g], replace=False)) for g in WIDTH}
    src, dst = _kernels(narrow), _kernels(wide)
    for _, name, ins, outs in LAYERS:
        kernel, bias = src[name].get_weights()
        wide_kernel, wide_bias = np.zeros_like(dst[name].get_weights()[0]), np.zeros_like(dst[name].get_weights()[1])
        rows = np.concatenate([i for _, i in _indices(ins, wide_widths, where)])
        cols = np.concatenate([i for _, i in _indices(outs, wide_widths, where)])
        wide_kernel[np.ix_(range(3), range(3), rows, cols)] = kernel
        wide_bias[cols] = bias
        dst[name].set_weights([wide_kernel, wide_bias])
    return wide, where


def test_narrowing_to_the_same_widths_changes_nothing():
    source = randomised(Networks(NetConfig(skip=8, feat=12, lstm=4)))
    target = Networks(NetConfig(skip=8, feat=12, lstm=4))
    narrow_from(source, target)
    np.testing.assert_array_equal(outputs(target), outputs(source))


def test_the_channels_that_carry_the_output_are_kept_and_give_it_exactly():
    # every group narrowed: the skip path (and its depth-to-space), the features, the ConvLSTM's gates
    narrow = randomised(Networks(NetConfig(skip=8, feat=8, lstm=4)))
    wide, where = embedded(narrow, NetConfig(skip=16, feat=12, lstm=8))
    np.testing.assert_allclose(outputs(wide), outputs(narrow), atol=1e-5)  # the embedding is right
    target = Networks(NetConfig(skip=8, feat=8, lstm=4))
    kept = narrow_from(wide, target)
    assert all(np.array_equal(kept[g], where[g]) for g in WIDTH), (kept, where)
    np.testing.assert_allclose(outputs(target), outputs(narrow), atol=1e-5)


def test_only_a_plain_unet_is_narrowed_and_only_to_fewer_channels():
    assert narrowing(PRESETS["balanced"], PRESETS["fast"])
    assert not narrowing(PRESETS["balanced"], PRESETS["balanced"])  # same widths: copied layer by layer
    assert not narrowing(PRESETS["quality"], PRESETS["fast"])  # residual blocks, neighbours
    assert not narrowing(PRESETS["fast"], PRESETS["balanced"])  # wider
    with pytest.raises(ValueError, match="wider"):
        narrow_from(Networks(PRESETS["fast"]), Networks(PRESETS["balanced"]))
    with pytest.raises(ValueError, match="plain"):
        narrow_from(Networks(PRESETS["quality"]), Networks(PRESETS["fast"]))
