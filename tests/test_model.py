"""The networks: a deeper preset warm-started from a shallower one starts as exactly that one."""

import dataclasses

import numpy as np
import pytest

from vidclean.model import Networks, load_preset
from vidclean.registry import PRESETS, weights_path


@pytest.mark.parametrize("extra", [dict(half_blocks=PRESETS["quality"].half_blocks + 1),
                                   dict(blocks=PRESETS["quality"].blocks + 1)])
def test_added_residual_blocks_start_as_identities(extra):
    deeper = Networks(dataclasses.replace(PRESETS["quality"], **extra))
    copied = deeper.warm_start(weights_path("quality"), "quality")
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
