"""Speed benchmark: frames per second and peak memory, per preset and frame size.

    vidclean bench --speed ../shared/data/val/davis/bus --sizes 640x360 854x480 1280x720 1920x1080

For each size a noisy source clip (the given clean clip resized, Gaussian sigma 20, H.264 CRF 18
in .mp4) is made once. Then, per preset:

* end to end: ``vidclean SRC OUT.mp4 --preset P`` in a fresh process (decode + denoise + encode,
  the defaults a user gets); fps is ``(N - 1) / (T(N) - T(1))`` from a run on N frames and one on
  the first frame alone, so start-up (imports, weights, compilation) cancels out; the peak
  resident memory is the N-frame process's own (its VmHWM);
* model only: the engine on frames already in memory, timed from the first output to the last;
  at the first size also at windows 3, 5 and 7 (work per frame must not grow with the window).

For comparison, on the same source: ffmpeg's ``hqdn3d`` and ``nlmeans`` at default settings
(through the ``ffmpeg`` program when installed, else ``nlmeans`` through PyAV's own FFmpeg
filters), and OpenCV's ``fastNlMeansDenoisingColoredMulti`` (window 5, h = 0.5 sigma) on a few
frames. With ``--memory-frames 100 2000``, sources of those lengths at ``--memory-size``
(854x480) are cleaned too, for their peak memory (it must not grow with the length). Prints a
table and writes everything to JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidclean.bench.baselines import ffmpeg_filter_fps, nlm_multi
from vidclean.core.window import reflect_index
from vidclean.io.clips import read_clip
from vidclean.io.reader import Frame, open_video
from vidclean.presets import PRESETS, weights_path

SIGMA = 20


def make_source(clean: np.ndarray, size: tuple[int, int], frames: int, path: Path, seed: int = 0) -> None:
    """The clip resized to ``size``, looped back and forth to ``frames``, noisy, as H.264 mp4."""
    width, height = size
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for i in range(frames):
            rgb = cv2.resize(clean[reflect_index(i, len(clean))], (width, height), interpolation=cv2.INTER_AREA)
            noisy = np.clip(rgb + rng.normal(0, SIGMA, rgb.shape), 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")))
        out.mux(stream.encode())


# The command (python -m vidclean) in a child process that prints its own peak resident memory (VmHWM, KiB) when
# it ends. wait4()'s ru_maxrss cannot be used: Linux carries the parent's resident size over fork
# and exec into the child's, so every child looked as large as this benchmark process.
_REPORTING_PEAK = """import runpy, sys
sys.argv[0] = "vidclean"
try:
    runpy.run_module("vidclean", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as stop:
    code = stop.code
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
sys.exit(code)
"""


def vidclean_process(args: list[str]) -> tuple[float, int]:
    """Runs ``vidclean ARGS``; returns (wall seconds, peak resident bytes of that process)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _REPORTING_PEAK, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"vidclean {' '.join(args)} exited {done.returncode}: {done.stderr[-300:]}")
    return seconds, int(done.stdout.split()[-1]) * 1024


def end_to_end(src: Path, src_one: Path, preset: str, tmp: Path, frames: int) -> dict:
    opts = ["--preset", preset, "-y", "-q"]
    t_n, peak = vidclean_process([str(src), str(tmp / "out.mp4"), *opts])
    t_1, _ = vidclean_process([str(src_one), str(tmp / "out1.mp4"), *opts])
    return {"e2e_fps": (frames - 1) / max(t_n - t_1, 1e-9), "peak_rss_mb": peak / 2**20, "e2e_seconds": t_n}


def model_only(preset: str, frames: list[np.ndarray], window: int) -> float:
    from vidclean.core.denoiser import Denoiser  # loads Keras: only when measured

    denoiser = Denoiser(preset, window=window, sigma=SIGMA, fusion=False)
    stamps = [time.perf_counter() for _ in denoiser.run((Frame(i, i, None, f) for i, f in enumerate(frames)),
                                                      read_ahead=0)]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def opencv_nlm(frames: list[np.ndarray], count: int = 3) -> float:
    clip = np.stack(frames[: count + 4])
    start = time.perf_counter()
    nlm_multi(clip, 0.5 * SIGMA, only=range(2, 2 + count))
    return count / (time.perf_counter() - start)


def decode(path: Path) -> list[np.ndarray]:
    with open_video(path) as stream:
        return [f.rgb for f in stream]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vidclean bench --speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", help="a clean clip (frame folder or video) to make the sources from")
    ap.add_argument("--sizes", nargs="+", default=["640x360", "854x480", "1280x720", "1920x1080"])
    ap.add_argument("--presets", nargs="+", default=[p for p in PRESETS if weights_path(p).exists()])
    ap.add_argument("--frames", type=int, default=300, help="frames per source clip (default 300: start-up and the last frames then weigh little)")
    ap.add_argument("--no-compare", action="store_true", help="skip ffmpeg and OpenCV")
    ap.add_argument("--memory-frames", type=int, nargs="*", default=[],
                    help="also clean sources of these lengths at --memory-size and compare peak memory "
                         "(flat memory: e.g. 100 2000)")
    ap.add_argument("--memory-size", default="854x480", help="frame size of those sources (default 854x480)")
    ap.add_argument("--json", default="bench_speed.json", help="where to write the results")
    args = ap.parse_args(argv)

    clean = read_clip(Path(args.clip), 30)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for si, size in enumerate(args.sizes):
            width, height = (int(v) for v in size.lower().split("x"))
            src, src_one = tmp / f"src_{size}.mp4", tmp / f"one_{size}.mp4"
            make_source(clean, (width, height), args.frames, src)
            make_source(clean, (width, height), 1, src_one)
            frames = decode(src)
            for preset in args.presets:
                row = {"size": size, "method": f"vidclean {preset}", "frames": args.frames}
                row.update(end_to_end(src, src_one, preset, tmp, args.frames))
                for window in (3, 5, 7) if si == 0 else (5,):
                    row[f"model_fps_w{window}"] = model_only(preset, frames[:40], window)
                rows.append(row)
                print(json.dumps(row), flush=True)
            if not args.no_compare:
                few = min(args.frames, 10)
                for name, graph in (("ffmpeg hqdn3d", "hqdn3d"), ("ffmpeg nlmeans", "nlmeans")):
                    fps = ffmpeg_filter_fps(src, graph, args.frames if graph == "hqdn3d" else few)
                    if fps is not None:
                        rows.append({"size": size, "method": name, "e2e_fps": fps})
                        print(json.dumps(rows[-1]), flush=True)
                rows.append({"size": size, "method": "OpenCV NLM multi (w5)", "e2e_fps": opencv_nlm(frames)})
                print(json.dumps(rows[-1]), flush=True)
        width, height = (int(v) for v in args.memory_size.lower().split("x"))
        for count in args.memory_frames:
            src = tmp / f"long_{count}.mp4"
            make_source(clean, (width, height), count, src)
            for preset in args.presets:
                seconds, peak = vidclean_process([str(src), str(tmp / "out.mp4"), "--preset", preset, "-y", "-q"])
                rows.append({"size": args.memory_size, "method": f"vidclean {preset}", "frames": count,
                             "peak_rss_mb": peak / 2**20, "e2e_seconds": seconds, "memory_run": True})
                print(json.dumps(rows[-1]), flush=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\n{'size':>10} | {'method':<24} | {'fps end to end':>14} | {'model fps (w5)':>14} | {'peak RSS MB':>11}")
    for r in rows:
        if r.get("memory_run"):
            print(f"{r['method']} at {r['size']}, {r['frames']} frames: peak RSS {r['peak_rss_mb']:.0f} MB")
            continue
        model = f"{r['model_fps_w5']:.2f}" if "model_fps_w5" in r else "-"
        peak = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
        print(f"{r['size']:>10} | {r['method']:<24} | {r['e2e_fps']:>14.2f} | {model:>14} | {peak:>11}")
    for r in rows:
        if "model_fps_w3" in r:
            print(f"{r['method']} at {r['size']}, model fps by window: "
                  + ", ".join(f"{w}: {r[f'model_fps_w{w}']:.2f}" for w in (3, 5, 7)))
    print(f"written to {args.json}")
    return 0
