"""The preset registry: what each preset asks of the machine."""

import os

import pytest

from vidclean.registry import PRESETS, model_threads


@pytest.mark.parametrize("cores, fast", [(1, 1), (2, 1), (8, 7)])
def test_fast_network_leaves_a_core_to_decoding_and_encoding(monkeypatch, cores, fast):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert model_threads("fast") == fast
    assert model_threads("balanced") is None  # the heavier network gains from every core
    assert model_threads("no-such-preset") is None


def test_without_affinity_the_core_count_is_used(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert model_threads("fast") == 3
    assert PRESETS["fast"].spare_a_core and not PRESETS["balanced"].spare_a_core


def test_fast_is_not_fused_the_others_are_unless_asked_not_to():
    from vidclean.registry import FUSION_RADIUS, fusion_radius

    assert fusion_radius("fast") == 0 and fusion_radius("balanced") == fusion_radius("quality") == FUSION_RADIUS
    assert fusion_radius("balanced", enabled=False) == 0
