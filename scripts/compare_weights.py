r"""Weights against weights: one preset's PSNR per tuning clip with the shipped weights and others,
on the benchmark's Gaussian and camera noise (fused, in memory, no encode).

    python scripts/compare_weights.py --preset balanced --sigmas 10 20 --camera cam-low cam-mid \
        --weights runs/a/best.weights.h5 runs/b/best.weights.h5 --json runs/compare.json

Gaussian rows are told the true sigma; camera rows one blind estimate for the whole clip (where
``--sigma auto`` follows its estimate frame by frame). The noisy clips are the benchmark's (same
seed, clip order and levels; the same --frames too, since the camera noise's H.264 round trip
depends on the clip's length), so figures come close to `vidclean bench`'s without being its.
Weights given here run without the refiner, as in the bench; the shipped ones with it (`quality`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vidclean.bench.quality import benchmark_noise
from vidclean.core.denoiser import Denoiser
from vidclean.core.noise import estimate_clip_sigma
from vidclean.io.clips import read_clip
from vidclean.metrics import psnr
from vidclean.training.noise import CAMERA_LEVELS
from vidclean.training.splits import split_paths


def label(path: str) -> str:
    """A short name for a weights file: its run folder (runs/x/best.weights.h5 -> x)."""
    parts = Path(path).parts
    return parts[-3] if len(parts) >= 3 and parts[-2] == "checkpoint" else parts[-2] if len(parts) >= 2 else path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--weights", nargs="+", required=True, help="weights files to set beside the shipped ones")
    ap.add_argument("--split", default="tune")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--sigmas", type=float, nargs="*", default=[10, 20])
    ap.add_argument("--camera", nargs="*", default=["cam-low", "cam-mid"], choices=list(CAMERA_LEVELS))
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", default="runs/compare_weights.json")
    args = ap.parse_args(argv)

    denoisers = {"shipped": Denoiser(args.preset)}
    names = [label(w) for w in args.weights]
    names = names if len(set(names)) == len(names) and "shipped" not in names else args.weights
    denoisers.update({n: Denoiser(args.preset, weights=w) for n, w in zip(names, args.weights)})
    levels = [("gaussian", s) for s in args.sigmas] + [("camera", c) for c in args.camera]
    rows = []
    for ci, path in enumerate(split_paths(args.split)):
        clean = read_clip(path, args.frames)
        for noise, level in levels:
            # the bench seeds camera levels by their place in CAMERA_LEVELS, Gaussian ones by sigma
            li = list(CAMERA_LEVELS).index(level) if noise == "camera" else 0
            noisy = benchmark_noise(clean, noise, level, args.seed, ci, li)
            told = level if noise == "gaussian" else estimate_clip_sigma(noisy)
            row = {"clip": path.name, "level": level}
            for name, d in denoisers.items():
                d.sigma = told
                row[name] = float(np.mean([psnr(o, c) for o, c in zip(d.denoise(noisy), clean)]))
            rows.append(row)
            print(f"{str(level):>8} {path.name[:16]:>16} " + " ".join(
                f"{n} {row[n]:.2f} ({row[n] - row['shipped']:+.2f})" for n in denoisers), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print("\nmean (and minus shipped); worst clip's change")
    for _, level in levels:
        sel = [r for r in rows if r["level"] == level]
        cells = []
        for n in denoisers:
            mean = np.mean([r[n] for r in sel])
            worst = min(r[n] - r["shipped"] for r in sel)
            cells.append(f"{n} {mean:.2f} ({mean - np.mean([r['shipped'] for r in sel]):+.2f}, worst {worst:+.2f})")
        print(f"{str(level):>8} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
