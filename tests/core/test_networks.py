"""The networks: a deeper or wider preset warm-started from a smaller one starts as exactly that one."""

import dataclasses

import numpy as np
import pytest

from vidclean.core.networks import Networks, load_preset
from vidclean.presets import PRESETS, weights_path
from vidclean.training.slim import warm_start


@pytest.mark.parametrize("extra", [dict(half_blocks=PRESETS["quality"].half_blocks + 1),
                                   dict(blocks=PRESETS["quality"].blocks + 1)])
def test_added_residual_blocks_start_as_identities(extra):
    deeper = Networks(dataclasses.replace(PRESETS["quality"], **extra))
    copied = warm_start(deeper, weights_path("quality"), "quality")
    shipped = load_preset("quality")
    assert copied == sum(1 for m in (shipped.encoder, shipped.decoder, shipped.temporal) for layer in m.layers
                         if layer.get_weights())
    rng = np.random.default_rng(0)
    clip = rng.uniform(0, 1, (2, 7, 32, 32, 3)).astype(np.float32)
    sigma = np.full((2, 1), 20 / 255, np.float32)
    a = deeper.training_model(7, 32).predict([clip, sigma], verbose=0)
    b = shipped.training_model(7, 32).predict([clip, sigma], verbose=0)
    assert np.allclose(a, b, atol=1e-5)
    assert len(deeper.decoder.get_weights()) + len(deeper.encoder.get_weights()) > \
        len(shipped.decoder.get_weights()) + len(shipped.encoder.get_weights())


def test_a_network_given_neighbours_starts_as_the_one_without(tmp_path, monkeypatch):
    """Warm-started, the convolutions that take the neighbours' features get them as extra input
    channels at zero: the same output as the network without them, on any weights."""
    import vidclean.presets as registry

    base = dataclasses.replace(PRESETS["balanced"], neighbours=False)
    monkeypatch.setitem(registry.FORMER, "test-base", base)
    source = Networks(base)
    rng = np.random.default_rng(0)
    for model in (source.encoder, source.decoder, source.temporal):  # no zero-initialised layers left
        model.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
    source.save_weights(tmp_path / "base.weights.h5")
    wide = Networks(dataclasses.replace(base, neighbours=True))
    assert warm_start(wide, tmp_path / "base.weights.h5", "test-base") == sum(
        1 for m in (source.encoder, source.decoder, source.temporal) for layer in m.layers if layer.get_weights())
    clip = rng.uniform(0, 1, (2, 7, 32, 32, 3)).astype(np.float32)
    sigma = np.full((2, 1), 20 / 255, np.float32)
    a = wide.training_model(7, 32).predict([clip, sigma], verbose=0)
    b = source.training_model(7, 32).predict([clip, sigma], verbose=0)
    assert np.abs(b - clip[:, 6:2:-1]).max() > 0.01  # the random net does change its input
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert len(wide.decoder.inputs) == len(source.decoder.inputs) + 4
