"""`vidclean train`: a few steps on the bundled clip, a checkpoint each epoch, and a resumed run."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidclean.core.networks import load_preset
from vidclean.training.train import main

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "foliage_clean.mp4"


def test_train_checkpoints_logs_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--preset", "fast", "--clips", str(SAMPLE), "--stills", str(SAMPLE.parent), "--val", str(SAMPLE),
            "--out", str(out), "--steps", "2", "--batch", "2", "--patch", "32", "--max-frames", "16",
            "--camera-noise", "0.5", "--seed", "3"]
    main([*args, "--epochs", "1"])
    assert (out / "checkpoint" / "model.weights.h5").is_file() and (out / "best.weights.h5").is_file()
    after_one = load_preset("fast", out / "checkpoint" / "model.weights.h5")
    main([*args, "--epochs", "2"])
    assert "resumed at epoch 1" in capsys.readouterr().out
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # from scratch the net starts as the identity: the noisy input's PSNR, ordered by sigma
    assert all(float(r["psnr_s10"]) > float(r["psnr_s20"]) > float(r["psnr_s30"]) > float(r["psnr_s50"]) > 10 for r in rows)
    # and the benchmark's camera-noise levels, told the blind estimate, validated too
    assert all(float(r["psnr_cam_low"]) > float(r["psnr_cam_mid"]) > float(r["psnr_cam_high"]) > 15 for r in rows)
    # the resumed epoch trained: its checkpoint moved on from the first epoch's
    after_two = load_preset("fast", out / "checkpoint" / "model.weights.h5")
    assert not all(np.array_equal(a, b) for a, b in zip(after_one.encoder.get_weights(), after_two.encoder.get_weights()))
    main([*args, "--epochs", "2"])
    assert "training already complete" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--patch", "30"])


# a script, run in a fresh interpreter as `vidclean train` is: --processes sets the process start
# method, and the workers it starts import this script to find Recorded
RECORDED = """
import json, sys
from vidclean.training import train

class Recorded(train.ClipBatches):
    def __init__(self, *a, **kw):
        made.append([kw[k] for k in ("workers", "use_multiprocessing", "camera_shot", "camera_read",
                                      "recompressed", "still_fraction")])
        super().__init__(*a, **kw)

if __name__ == "__main__":
    made = []
    train.ClipBatches = Recorded
    train.main(sys.argv[1:])
    print(json.dumps(made))
"""


def test_warmup_and_worker_processes(tmp_path):
    """--warmup ramps the learning rate up from 0; --processes makes the same batches as threads."""
    args = ["--preset", "fast", "--clips", str(SAMPLE), "--val", str(SAMPLE), "--steps", "2", "--batch", "2",
            "--patch", "32", "--max-frames", "16", "--camera-noise", "0.5", "--seed", "4", "--epochs", "2",
            "--lr", "1e-3", "--warmup", "3", "--camera-shot", "1e-3", "2e-2", "--camera-read", "2e-3", "3e-2",
            "--recompressed", "0.9", "--still", "0.25", "--colour-weight", "0.5"]
    script, made = tmp_path / "recorded.py", []
    script.write_text(RECORDED)
    for name, extra in (("threads", []), ("processes", ["--workers", "2", "--processes"])):
        run = subprocess.run([sys.executable, str(script), *args, "--out", str(tmp_path / name), *extra],
                             capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stderr[-2000:]
        made += json.loads(run.stdout.splitlines()[-1])
    rows = {}
    for name in ("threads", "processes"):
        with (tmp_path / name / "log.csv").open() as f:
            rows[name] = list(csv.DictReader(f))
    # logged after 2 and 4 of 4 steps: 2/3 of the way up the 3-step ramp, then at the cosine's end
    assert float(rows["threads"][0]["lr"]) == pytest.approx(2 / 3 * 1e-3, rel=1e-4)
    assert float(rows["threads"][1]["lr"]) == pytest.approx(0.02 * 1e-3, rel=1e-4)
    assert made == [[2, False, [1e-3, 2e-2], [2e-3, 3e-2], 0.9, 0.25], [2, True, [1e-3, 2e-2], [2e-3, 3e-2], 0.9, 0.25]]
    # same batches, same order: the same training, whether threads or processes made them
    assert [r["loss"] for r in rows["threads"]] == [r["loss"] for r in rows["processes"]]
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "bad"), "--warmup", "4"])
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "bad"), "--workers", "0"])
    for bad in (["--camera-shot", "0", "1e-2"], ["--camera-read", "3e-2", "1e-3"], ["--recompressed", "1.5"],
                ["--still", "-0.1"], ["--colour-weight", "-1"], ["--frames", "6"]):
        with pytest.raises(SystemExit):
            main([*args, "--out", str(tmp_path / "bad"), *bad])


def test_freeze_copied_trains_only_what_the_warm_start_added(tmp_path):
    """`quality` warm-started from `quality-v2` (the same net without the neighbours' features)
    with --freeze-copied: the copied layers keep their weights, the neighbours' convolutions learn."""
    from vidclean.core.networks import Networks
    from vidclean.presets import FORMER

    source = Networks(FORMER["quality-v2"])
    rng = np.random.default_rng(0)  # (a fresh net's zero-initialised output layer would pass no gradient back)
    for part in source.parts():
        part.set_weights([rng.normal(0, 0.02, w.shape).astype(np.float32) for w in part.get_weights()])
    source.save_weights(tmp_path / "v2.weights.h5")
    args = ["--preset", "quality", "--init", str(tmp_path / "v2.weights.h5"), "--init-preset", "quality-v2",
            "--clips", str(SAMPLE), "--val", str(SAMPLE), "--out", str(tmp_path / "run"), "--steps", "2",
            "--batch", "2", "--patch", "32", "--max-frames", "16", "--epochs", "1", "--lr", "1e-2"]
    with pytest.raises(SystemExit):
        main([*args[:4], *args[6:], "--freeze-copied"])  # without --init-preset
    main([*args, "--freeze-copied"])
    trained = load_preset("quality", tmp_path / "run" / "checkpoint" / "model.weights.h5")
    before = {w.path: w.numpy() for p in source.parts() for w in p.weights}
    after = {w.path: w.numpy() for p in trained.parts() for w in p.weights}
    new = sorted(set(after) - set(before))
    assert new == ["dec_half_1_near/kernel", "dec_quarter_1_near/kernel"]
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(np.abs(after[k]).max() > 0 for k in new)  # they started at zero
