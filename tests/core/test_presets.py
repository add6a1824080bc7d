"""The preset registry: the presets' networks and their fusion."""

import pytest

from vidclean.presets import FORMER, FUSION_FLOW, FUSION_RADIUS, PRESETS, fusion_radius, net_config, weights_path


def test_every_preset_ships_weights_and_is_fused_unless_asked_not_to():
    for preset in PRESETS:
        assert weights_path(preset).is_file()
        assert fusion_radius(preset) == FUSION_RADIUS and preset in FUSION_FLOW
        assert fusion_radius(preset, enabled=False) == 0


def test_former_networks_are_known_by_name_for_warm_starts_but_are_not_presets():
    assert net_config("quality-v2") == FORMER["quality-v2"] and "quality-v2" not in PRESETS
    assert net_config("fast") == PRESETS["fast"]
    with pytest.raises(KeyError):
        net_config("no-such-preset")
