"""`vidclean train-refiner`: examples from the bundled clip, a checkpoint each epoch, a resumed run."""

import csv
import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from vidclean.core.networks import build_refiner
from vidclean.presets import REFINERS
from vidclean.training.train_refiner import main

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "foliage_clean.mp4"


def test_examples_then_training_checkpoint_log_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--clips", str(SAMPLE), "--val", str(SAMPLE), "--out", str(out), "--crops", "3", "--chunk", "2",
            "--crop", "64", "--val-crop", "64", "--patch", "32", "--batch", "2", "--steps", "2", "--max-frames", "12"]
    main([*args, "--epochs", "1"])
    chunks = sorted((out / "examples").glob("[0-9]*.npz"))
    assert [p.name for p in chunks] == ["0000.npz", "0001.npz"]
    z = np.load(chunks[0])
    # 2 crops, the 5 middle frames of each: fused, noisy mean, its noise map, clean
    assert z["fused"].shape == z["mean"].shape == z["clean"].shape == (10, 64, 64, 3)
    assert z["noise"].shape == (10, 64, 64)
    assert (z["noise"] >= 0).all() and not np.array_equal(z["fused"], z["clean"])
    assert (out / "checkpoint.keras").is_file() and (out / "best.weights.h5").is_file()
    assert (out / "examples" / "validation.npz").is_file()
    made = [p.stat().st_mtime_ns for p in chunks]
    main([*args, "--epochs", "2"])
    assert "resumed at epoch 1" in capsys.readouterr().out
    # resumed with more epochs, the learning rate decays over them all (2 epochs x 2 steps), not
    # over the first command's one epoch
    optimizer = keras.optimizers.serialize(keras.models.load_model(out / "checkpoint.keras").optimizer)
    assert optimizer["config"]["learning_rate"]["config"]["decay_steps"] == 4
    assert [p.stat().st_mtime_ns for p in chunks] == made  # the examples were not made again
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # every validation level logged, fused and refined, ordered by noise as they should be
    assert float(rows[0]["fused_10"]) > float(rows[0]["fused_20"]) > float(rows[0]["fused_50"]) > 20
    assert {"refined_cam-low", "refined_cam-high", "gain_mean"} <= set(rows[0])
    # the fused frames do not change: the resumed run (validation examples read back) logs them
    # under the same columns
    assert all(rows[0][k] == rows[1][k] for k in rows[0] if k.startswith("fused_"))
    model = build_refiner(REFINERS["quality"])
    model.load_weights(out / "best.weights.h5")
    with h5py.File(out / "best.weights.h5") as f:  # the weights to ship: without the optimizer's state
        assert "optimizer" not in f
    main([*args, "--epochs", "2"])
    assert "training already complete" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--patch", "33"])
    with pytest.raises(SystemExit):  # the data options are checked as `vidclean train` checks them
        main([*args, "--still", "2"])
    # examples made by another network are refused, not trained on
    record = out / "examples" / "made_by.json"
    made_by = json.loads(record.read_text())
    assert made_by["preset"] == "quality" and len(made_by["weights_sha256"]) == 64
    record.write_text(json.dumps({**made_by, "weights_sha256": "0" * 64}))
    with pytest.raises(SystemExit, match=r"made by another network \(weights\)"):
        main([*args, "--epochs", "3"])


def test_an_untrained_refiner_passes_the_fused_frame_through():
    model = build_refiner(REFINERS["quality"])
    rng = np.random.default_rng(0)
    fused, mean, noise = rng.random((1, 16, 24, 3)), rng.random((1, 16, 24, 3)), rng.random((1, 16, 24, 1))
    assert np.allclose(model.predict_on_batch([fused, mean, noise]), fused, atol=1e-6)
