"""Batch mode through the command line: a tree of small videos, one of them broken."""

import os

import pytest
from conftest import assert_clean_error, make_video, vidclean

from vidclean.io.reader import open_video
from vidclean.jobs.batch import find_videos


def frames_of(path):
    with open_video(path) as stream:
        return len(list(stream))


def tree(root):
    """raw/a.mp4 (H.264 + AAC, 6 frames), raw/sub/b.mkv (FFV1, 4 frames), a text file, a broken .mp4."""
    (root / "raw" / "sub").mkdir(parents=True)
    make_video(root / "raw" / "a.mp4", 6, 48, 32, audio=True)
    make_video(root / "raw" / "sub" / "b.mkv", 4, 40, 24, codec="ffv1", pix_fmt="bgr0")
    (root / "raw" / "notes.txt").write_text("not a video")
    (root / "raw" / "sub" / "broken.mp4").write_bytes(os.urandom(2000))
    return root / "raw"


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_tree_is_mirrored_a_bad_file_is_reported_and_skipped(tmp_path):
    raw = tree(tmp_path)
    out = tmp_path / "clean"
    r = vidclean("batch", raw, out, "--window", 1, "--sigma", 10)
    assert r.returncode == 2, r.stderr  # one file failed
    assert listing(out) == ["a.mp4", "sub", "sub/b.mkv"]  # no broken output, no temp file
    assert frames_of(out / "a.mp4") == 6 and frames_of(out / "sub" / "b.mkv") == 4
    with open_video(out / "a.mp4") as stream:
        assert stream.info.audio_streams == 1
    lines = r.stderr.strip().splitlines()
    assert any(line.startswith("a.mp4") and line.endswith("done") and " 6 " in line for line in lines), r.stderr
    assert any(line.startswith("sub/broken.mp4") and "failed: " in line and "not a readable video" in line
               for line in lines), r.stderr
    assert lines[-1].startswith("vidclean: batch: 2 cleaned, 0 already done, 1 failed; 10 frames"), lines[-1]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("redo", ["-y", "--force"])
def test_a_second_run_skips_complete_outputs_and_y_redoes_them(tmp_path, redo):
    raw = tree(tmp_path)
    (raw / "sub" / "broken.mp4").unlink()
    out = tmp_path / "clean"
    assert vidclean("batch", raw, out, "--window", 1, "--sigma", 10, "-q").returncode == 0
    stamps = {p: os.stat(out / p).st_mtime_ns for p in ("a.mp4", "sub/b.mkv")}
    again = vidclean("batch", raw, out, "--window", 1, "--sigma", 10)
    assert again.returncode == 0, again.stderr
    assert "0 cleaned, 2 already done, 0 failed" in again.stderr
    assert {p: os.stat(out / p).st_mtime_ns for p in stamps} == stamps
    forced = vidclean("batch", raw, out, "--window", 1, "--sigma", 10, redo)
    assert forced.returncode == 0 and "2 cleaned, 0 already done" in forced.stderr, forced.stderr
    assert all(os.stat(out / p).st_mtime_ns != t for p, t in stamps.items())


def test_ext_and_codec_choose_the_output_format(tmp_path):
    raw = tree(tmp_path)
    (raw / "sub" / "broken.mp4").unlink()
    out = tmp_path / "clean"
    r = vidclean("batch", raw, out, "--ext", "mkv", "--codec", "ffv1", "--window", 1, "--sigma", 10, "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert listing(out) == ["a.mkv", "sub", "sub/b.mkv"]
    with open_video(out / "a.mkv") as stream:
        assert stream.info.codec == "ffv1"


def test_output_folder_inside_the_input_is_not_taken_for_input(tmp_path):
    raw = tree(tmp_path)
    (raw / "sub" / "broken.mp4").unlink()
    out = raw / "clean"
    assert vidclean("batch", raw, out, "--window", 1, "--sigma", 10, "-q").returncode == 0
    assert listing(out) == ["a.mp4", "sub", "sub/b.mkv"]
    again = vidclean("batch", raw, out, "--window", 1, "--sigma", 10)  # clean/ exists now: not an input
    assert again.returncode == 0 and "0 cleaned, 2 already done, 0 failed" in again.stderr, again.stderr
    assert listing(out) == ["a.mp4", "sub", "sub/b.mkv"]
    assert [p.name for p in find_videos(raw, exclude=out)] == ["a.mp4", "b.mkv"]


def test_quiet_still_names_each_failed_file(tmp_path):
    raw = tree(tmp_path)
    r = vidclean("batch", raw, tmp_path / "clean", "--window", 1, "--sigma", 10, "-q")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidclean: error: ") and "broken.mp4" in lines[0], r.stderr


def test_outputs_that_would_collide_are_refused_before_any_work(tmp_path):
    raw = tree(tmp_path)
    make_video(raw / "a.mov", 3, 32, 24)  # a.mp4 and a.mov both give a.mkv
    out = tmp_path / "clean"
    assert_clean_error(vidclean("batch", raw, out, "--ext", "mkv"), "a.mkv", "a.mov")
    assert not out.exists()
    r = vidclean("batch", raw, out, "--ext", "../x")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "extension" in r.stderr


def test_bad_folders_are_one_line(tmp_path):
    raw = tree(tmp_path)
    assert_clean_error(vidclean("batch", tmp_path / "missing", tmp_path / "out"), "not a folder")
    assert_clean_error(vidclean("batch", raw, raw), "input folder")
    (tmp_path / "file").write_text("x")
    assert_clean_error(vidclean("batch", raw, tmp_path / "file"), "not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(vidclean("batch", empty, tmp_path / "out"), "no video files")
    assert not (tmp_path / "out").exists()
