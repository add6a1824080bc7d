"""vidclean batch --ray on a local Ray cluster: parts of a long file on different workers, joined,
equal the plain command's output; a worker killed mid-part is survived.

Run by tests/jobs/test_distributed.py in a pytest process of its own (hence no test_ prefix)."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import make_video, synth_frame

from vidclean.cli.main import main
from vidclean.io.clips import read_clip
from vidclean.jobs.segments import plan_parts

ray = pytest.importorskip("ray")

N = 300  # frames of the long clip: two parts of --segment-frames 128


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """raw/long.mp4 (300 noisy frames, H.264 + AAC) and raw/sub/short.mp4 (30 frames)."""
    root = tmp_path_factory.mktemp("ray") / "raw"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    frames = [np.clip(synth_frame(i, 64, 48) + rng.normal(0, 15, (48, 64, 3)), 0, 255).astype(np.uint8)
              for i in range(N)]
    make_video(root / "long.mp4", frames, 64, 48, audio=True)
    make_video(root / "sub" / "short.mp4", frames[:30], 64, 48)
    return root


@pytest.fixture(scope="module")
def plain(raw, tmp_path_factory):
    """Each input cleaned by the plain command, lossless."""
    out = tmp_path_factory.mktemp("plain")
    for name in ("long.mp4", "sub/short.mp4"):
        assert main([str(raw / name), str(out / (name.replace("/", "_") + ".mkv")), "--codec", "ffv1", "-q"]) == 0
    return {name: read_clip(out / (name.replace("/", "_") + ".mkv")) for name in ("long.mp4", "sub/short.mp4")}


def batch_ray(raw, out):
    return main(["batch", str(raw), str(out), "--ray", "auto", "--segment-frames", "128", "--codec", "ffv1",
                 "--ext", "mkv", "-q"])


def assert_same(out, plain):
    for name, frames in plain.items():
        cleaned = read_clip(out / name.replace(".mp4", ".mkv"))
        assert cleaned.shape == frames.shape
        assert all(np.array_equal(a, b) for a, b in zip(cleaned, frames)), f"{name} differs from the plain run"


def counting_joins(monkeypatch):
    """Records how many parts each joined file had."""
    import vidclean.jobs.distributed as distributed

    joined = []
    real = distributed.join_parts
    monkeypatch.setattr(distributed, "join_parts",
                        lambda src, files, *a: (joined.append(len(files)), real(src, files, *a))[1])
    return joined


def test_segments_on_ray_workers_equal_the_plain_command(cluster, raw, plain, tmp_path, monkeypatch):
    assert len(plan_parts(raw / "long.mp4", 128, window=5, auto_sigma=True)) == 2
    joined = counting_joins(monkeypatch)
    out = tmp_path / "clean"
    assert batch_ray(raw, out) == 0
    assert joined == [2]  # the long file in two parts (not cleaned whole after a mismatch)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["long.mkv", "sub", "sub/short.mkv"]
    assert_same(out, plain)


def ray_task_pids(name):
    """Processes whose title Ray set to the task they are running: "ray::<task name>"."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(f"ray::{name}".encode()):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def test_a_worker_killed_while_it_holds_a_part_is_survived(cluster, raw, plain, tmp_path, monkeypatch):
    joined = counting_joins(monkeypatch)
    out = tmp_path / "clean"
    killed = []
    done = threading.Event()

    def kill_the_first_part_worker():
        deadline = time.time() + 300
        while not killed and not done.is_set() and time.time() < deadline:
            for pid in ray_task_pids("clean_part_task"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_first_part_worker)
    killer.start()
    try:
        rc = batch_ray(raw, out)  # the command line's signal handlers need the main thread
    finally:
        done.set()
        killer.join()
    assert killed, "no worker was seen running a part"
    assert rc == 0
    assert joined == [2]  # the killed part was run again
    assert_same(out, plain)


def test_a_file_whose_frames_are_not_as_planned_is_cleaned_whole(cluster, raw, tmp_path):
    """Damaged packets in the first part: its frames do not match the plan, so the file goes
    again as one task, and comes out as the plain command cleans it (damaged frames skipped)."""
    from conftest import corrupt_packets

    (tmp_path / "raw").mkdir()
    corrupt_packets(raw / "long.mp4", tmp_path / "raw" / "damaged.mp4", which=slice(40, 42))
    assert main([str(tmp_path / "raw" / "damaged.mp4"), str(tmp_path / "plain.mkv"), "--codec", "ffv1", "-q"]) == 0
    expected = read_clip(tmp_path / "plain.mkv")
    assert len(expected) < N  # frames were lost
    assert batch_ray(tmp_path / "raw", tmp_path / "clean") == 0
    cleaned = read_clip(tmp_path / "clean" / "damaged.mkv")
    assert cleaned.shape == expected.shape
    assert all(np.array_equal(a, b) for a, b in zip(cleaned, expected))


def test_a_variable_frame_rate_h264_file_comes_out_whole_and_in_order(cluster, tmp_path):
    """Frame gaps that grow at a part border: x264 may then give the next part a first decode
    timestamp before the last of the part before, and the file is cleaned whole instead; either
    way the output has every frame, at the source's timestamps."""
    (tmp_path / "raw").mkdir()
    src = tmp_path / "raw" / "vfr.mp4"
    pts = [i * 33 if i < 128 else 128 * 33 + (i - 128) * 100 for i in range(300)]
    make_video(src, 300, 48, 32, pts=pts)
    out = tmp_path / "clean"
    rc = main(["batch", str(tmp_path / "raw"), str(out), "--ray", "auto", "--segment-frames", "128", "-q"])
    assert rc == 0
    from vidclean.io.reader import open_video

    with open_video(out / "vfr.mp4") as cleaned, open_video(src) as source:
        assert [round(f.time, 3) for f in cleaned] == [round(f.time, 3) for f in source]
