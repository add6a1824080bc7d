"""Where the low-noise loss comes from: a preset's PSNR per validation clip with the fusion's
settings varied (the network's output computed once per clip and level, then fused each way).

    python scripts/fusion_sweep.py --split tune --sigmas 10 20 --preset quality --json runs/sweep.json

The noisy clips are the benchmark's (vidclean bench: same seed, clip order and levels), so figures
compare with its tables; frames go through the Denoiser in memory (no encode), as in a file run.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from vidclean.bench.quality import benchmark_noise
from vidclean.core import fusion
from vidclean.core.denoiser import Denoiser
from vidclean.io.clips import read_clip
from vidclean.metrics import psnr
from vidclean.training.splits import split_paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="tune")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[10, 20])
    ap.add_argument("--preset", default="quality")
    ap.add_argument("--cap-base", type=float, nargs="+", default=[fusion.CAP_BASE])
    ap.add_argument("--cap-slope", type=float, nargs="+", default=[fusion.CAP_SLOPE])
    ap.add_argument("--tau-scale", type=float, nargs="+", default=[fusion.TAU_SCALE])
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", default="runs/fusion_sweep.json")
    args = ap.parse_args(argv)

    # the fusion reads its settings when it runs: one Denoiser serves them all
    plain, fused = Denoiser(args.preset, fusion=False), Denoiser(args.preset)
    settings = list(itertools.product(args.cap_base, args.cap_slope, args.tau_scale))
    rows = []
    for ci, path in enumerate(split_paths(args.split)):
        clean = read_clip(path, args.frames)
        for li, sigma in enumerate(args.sigmas):
            noisy = benchmark_noise(clean, "gaussian", sigma, args.seed, ci, li)
            plain.sigma = fused.sigma = sigma
            row = {"clip": path.name, "sigma": sigma}
            row["network"] = float(np.mean([psnr(o, c) for o, c in zip(plain.denoise(noisy), clean)]))
            for base, slope, scale in settings:
                fusion.CAP_BASE, fusion.CAP_SLOPE, fusion.TAU_SCALE = base, slope, scale
                row[f"fused b{base:g} s{slope:g} t{scale:g}"] = float(
                    np.mean([psnr(o, c) for o, c in zip(fused.denoise(noisy), clean)]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    for sigma in args.sigmas:
        sel = [r for r in rows if r["sigma"] == sigma]
        print(f"sigma {sigma:g}: " + "  ".join(f"{k} {np.mean([r[k] for r in sel]):.3f}" for k in sel[0]
                                             if k not in ("clip", "sigma")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
