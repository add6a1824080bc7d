"""The validation clips are fixed, and training never reads them."""

import cv2
from conftest import synth_frame

from vidclean.training.splits import SPLITS, TEST, TUNE, held_out, split_paths


def test_splits_are_disjoint_and_name_real_camera_clips():
    assert not set(TUNE) & set(TEST) and len(TUNE) >= 5 and len(TEST) >= 4
    assert len([c for c in SPLITS["all"] if c.startswith("train/")]) >= 4  # held out of the training folder
    assert [p.name for p in split_paths("test")] == [c.split("/")[-1] for c in TEST]


def test_held_out_by_the_end_of_the_path(tmp_path):
    assert held_out(tmp_path / "data" / "train" / "davis" / "parkour")
    assert held_out("val/vid4/city/")
    assert not held_out(tmp_path / "train" / "davis" / "dog")
    assert not held_out(tmp_path / "other" / "parkour")  # the name alone is not enough


def test_training_skips_validation_clips(tmp_path, capsys):
    from vidclean.training.train import load_clips

    for name in ("parkour", "dog"):
        folder = tmp_path / "train" / "davis" / name
        folder.mkdir(parents=True)
        for i in range(8):
            cv2.imwrite(str(folder / f"{i:05d}.png"), synth_frame(i, 32, 24))
    clips = load_clips([tmp_path / "train"], max_frames=8)
    assert len(clips) == 1
    assert "held out of training (validation clips): parkour" in capsys.readouterr().out
    assert len(load_clips([tmp_path / "train"], max_frames=8, training=False)) == 2


def test_halved_clips_load_at_half_size(tmp_path):
    from vidclean.training.train import load_clips

    for name in ("jpeg", "png"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(8):
            cv2.imwrite(str(folder / f"{i:05d}.png"), synth_frame(i, 64, 48))
    sizes = sorted(c.shape[1:3] for c in load_clips([tmp_path], max_frames=8, halved=[tmp_path / "jpeg"]))
    assert sizes == [(24, 32), (48, 64)]
