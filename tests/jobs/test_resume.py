"""A long job stopped on the way (even by SIGKILL) continues where it was when run again."""

import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from conftest import make_video, synth_frame
from vidclean.jobs.resume import parts_folder

N = 400  # frames; parts of about 32 (multiples of the state period, 16) make 12 parts


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "long.mp4"
    rng = np.random.default_rng(1)
    make_video(path, [np.clip(synth_frame(i, 64, 48) + rng.normal(0, 12, (48, 64, 3)), 0, 255).astype(np.uint8)
                      for i in range(N)], 64, 48, audio=True)
    return path


def command(src, dst, *extra):
    return [sys.executable, "-m", "vidclean", str(src), str(dst), "--codec", "ffv1", "--preset", "fast",
            "--part-frames", "32", *map(str, extra)]


def frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def whole(long_video, tmp_path_factory):
    """The file cleaned in one uninterrupted pass."""
    out = tmp_path_factory.mktemp("whole") / "whole.mkv"
    subprocess.run(command(long_video, out, "--part-frames", 0, "-q"), check=True, timeout=600)
    return frames(out)


def kill_after_parts(cmd, folder, parts: int) -> None:
    """Starts ``cmd`` and SIGKILLs it once ``parts`` parts are finished beside the output."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if folder.is_dir() and len([p for p in folder.glob("*.json") if p.name != "manifest.json"]) >= parts:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_a_killed_job_continues_and_gives_the_frames_of_an_uninterrupted_run(long_video, whole, tmp_path):
    out = tmp_path / "clean.mkv"
    kill_after_parts(command(long_video, out), parts_folder(out), parts=5)
    assert not out.exists() and parts_folder(out).is_dir()  # nothing partial at the output
    kept = sum(1 for p in parts_folder(out).glob("*.json") if p.name != "manifest.json")
    again = subprocess.run(command(long_video, out), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    note = next(line for line in again.stderr.splitlines() if "continued an interrupted run" in line)
    already = int(note.split(": ")[-1].split(" of ")[0])
    assert f" of {N} frames" in note and already >= kept * 32 - 4  # every finished part was kept
    assert N - already <= N - 5 * 30  # the continued run cleaned only what was left
    cleaned = frames(out)
    assert len(cleaned) == N and all(np.array_equal(a, b) for a, b in zip(cleaned, whole))
    assert not parts_folder(out).exists()
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]


@pytest.mark.parametrize("change", ["options", "input"])
def test_parts_of_other_options_or_another_input_are_not_used(long_video, whole, tmp_path, change):
    src = tmp_path / "long.mp4"
    src.write_bytes(long_video.read_bytes())
    out = tmp_path / "clean.mkv"
    kill_after_parts(command(src, out, "--sigma", 12) if change == "options" else command(src, out),
                     parts_folder(out), parts=2)
    if change == "input":
        os.utime(src, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file changed since
    again = subprocess.run(command(src, out), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "started afresh" in again.stderr and "continued" not in again.stderr
    assert all(np.array_equal(a, b) for a, b in zip(frames(out), whole))


def test_an_interrupted_job_says_its_parts_are_kept(long_video, tmp_path):
    out = tmp_path / "clean.mkv"
    proc = subprocess.Popen(command(long_video, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(parts_folder(out).glob("00001.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert "its finished parts are kept: run the same command to continue" in proc.stderr.read()
    assert not out.exists()


def test_what_is_cleaned_in_one_pass(long_video, tmp_path):
    """A variable frame rate (its parts may not join by stream copy), a URL, --strict, a short file
    and part_frames 0 are cleaned in one pass; a long file at a constant rate in parts."""
    from vidclean.jobs.file import _resumable_plan
    from vidclean.options import CleanOptions

    vfr = tmp_path / "vfr.mkv"
    pts = np.cumsum([0] + [(30, 40, 100)[i % 3] for i in range(N - 1)]).tolist()
    make_video(vfr, N, 32, 24, pts=pts)
    options = CleanOptions(part_frames=32)
    assert len(_resumable_plan(str(long_video), str(tmp_path / "o.mkv"), options)) > 2
    assert _resumable_plan(str(vfr), str(tmp_path / "o.mkv"), options) is None
    assert _resumable_plan(f"file://{long_video}", str(tmp_path / "o.mkv"), options) is None
    assert _resumable_plan(str(long_video), str(tmp_path / "o.mkv"), CleanOptions(part_frames=32, strict=True)) is None
    assert _resumable_plan(str(long_video), str(tmp_path / "o.mkv"), CleanOptions(part_frames=0)) is None
    assert _resumable_plan(str(long_video), "-", options) is None
    assert _resumable_plan(str(long_video), str(tmp_path / "o.mkv"), CleanOptions(part_frames=256)) is None  # < 2 parts


def test_parts_that_do_not_join_give_way_to_one_pass(long_video, whole, tmp_path, monkeypatch):
    import vidclean.jobs.resume as resume
    from vidclean.errors import VidcleanError
    from vidclean.jobs.file import clean_file
    from vidclean.options import CleanOptions

    def refuse(*args, **kwargs):
        raise VidcleanError("out.mkv: writing failed (Invalid argument)")

    monkeypatch.setattr(resume, "join_parts", refuse)
    out = tmp_path / "clean.mkv"
    result = clean_file(str(long_video), str(out), CleanOptions(codec="ffv1", preset="fast", part_frames=32))
    assert result.frames == N and all(np.array_equal(a, b) for a, b in zip(frames(out), whole))
    assert not parts_folder(out).exists()
