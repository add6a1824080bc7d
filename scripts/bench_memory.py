"""Memory over a long run: a synthetic stream through reader -> Denoiser -> writer, RSS sampled.

    python scripts/bench_memory.py --frames 20000 --size 64x64 --json memory.json

Writes a synthetic H.264 input of FRAMES small frames (moving colour waves plus random noise) to a
temporary folder, then cleans it exactly as the command line does (open_video, Denoiser.run,
VideoWriter) and samples the process's memory from /proc/self/status: the resident set (VmRSS)
and its peak so far (VmHWM) at each checkpoint. Flat memory means the figures at the last
checkpoint are those at the first one, give or take allocator noise. Prints one line per
checkpoint and writes everything to JSON. Not a test: it takes minutes (about 40 frames/s for
64x64 on two CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB (Linux)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def synth(i: int, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    rgb = np.stack([
        0.5 + 0.4 * np.sin(2 * np.pi * (1.5 * x + 0.05 * i)),
        0.5 + 0.4 * np.sin(2 * np.pi * (1.2 * y - 0.04 * i)),
        0.5 + 0.4 * np.cos(2 * np.pi * (x + y + 0.03 * i)),
    ], axis=-1) * 255
    rgb += rng.normal(0, 20, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def write_input(path: Path, frames: int, width: int, height: int, fps: int = 25) -> None:
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(synth(i, width, height, rng), format="rgb24")))
        out.mux(stream.encode(None))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--size", default="64x64", help="WIDTHxHEIGHT (default 64x64)")
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--preset", default="balanced", choices=["fast", "balanced", "quality"])
    p.add_argument("--sigma", default="auto", help="noise level, or 'auto' (default)")
    p.add_argument("--checkpoints", default="1,100,1000,2000,5000,10000,15000,20000",
                   help="frame numbers at which memory is recorded (the last frame always is)")
    p.add_argument("--output", default="mp4", choices=["mp4", "mkv"],
                   help="output container (default mp4; MP4 keeps its sample index in memory until the end)")
    p.add_argument("--no-fusion", action="store_true", help="the network alone, as `vidclean --no-fusion` cleans")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    width, height = map(int, args.size.lower().split("x"))
    sigma = None if args.sigma == "auto" else float(args.sigma)
    checkpoints = {int(c) for c in args.checkpoints.split(",") if 0 < int(c) <= args.frames} | {args.frames}

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from vidclean.core.denoiser import Denoiser
    from vidclean.io.reader import open_video
    from vidclean.io.writer import VideoWriter

    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.mp4", Path(tmp) / f"out.{args.output}"
        t0 = time.time()
        write_input(src, args.frames, width, height)
        print(f"input: {args.frames} frames {width}x{height} written in {time.time() - t0:.0f}s", flush=True)
        start = time.time()
        baseline = memory_kib()
        with open_video(src) as stream, VideoWriter(dst, stream.info) as writer:
            # as the command line cleans (fused unless --no-fusion)
            denoiser = Denoiser(args.preset, args.window, sigma, fusion=not args.no_fusion)
            count = 0
            for frame, clean in denoiser.run(stream):
                writer.write(clean, frame.pts)
                count += 1
                if count in checkpoints:
                    mem = memory_kib()
                    samples.append({"frame": count, "seconds": round(time.time() - start, 1),
                                    "rss_kib": mem["VmRSS"], "peak_rss_kib": mem["VmHWM"]})
                    print(f"frame {count:6d}  {samples[-1]['seconds']:8.1f}s  RSS {mem['VmRSS'] / 1024:7.1f} MiB"
                          f"  peak {mem['VmHWM'] / 1024:7.1f} MiB", flush=True)
        lost = stream.frames_lost
        out_size = dst.stat().st_size
    by_frame = {s["frame"]: s for s in samples}
    first = by_frame.get(1000, samples[0])
    last = samples[-1]
    result = {
        "frames": count, "size": [width, height], "preset": args.preset, "window": args.window, "sigma": args.sigma, "output": args.output,
        "fusion": not args.no_fusion,
        "frames_lost": lost, "output_bytes": out_size,
        "seconds": round(time.time() - start, 1), "fps": round(count / (time.time() - start), 2),
        "baseline_before_model": baseline, "samples": samples,
        "rss_growth_kib": last["rss_kib"] - first["rss_kib"],
        "peak_growth_kib": last["peak_rss_kib"] - first["peak_rss_kib"],
        "compared": [first["frame"], last["frame"]],
        "python": sys.version.split()[0],
    }
    print(f"frame {first['frame']} -> {last['frame']}: RSS {first['rss_kib'] / 1024:.1f} -> {last['rss_kib'] / 1024:.1f} MiB,"
          f" peak {first['peak_rss_kib'] / 1024:.1f} -> {last['peak_rss_kib'] / 1024:.1f} MiB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
