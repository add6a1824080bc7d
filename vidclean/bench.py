"""Quality benchmark: vidclean against OpenCV's multi-frame NLM on clean clips with added noise.

    vidclean bench ../shared/data/val/vid4/city ../shared/data/val/vid4/walk ../shared/data/val/davis/bus

For every clip and sigma, Gaussian noise (fixed seed, clipped to 8 bits) is written as lossless
FFV1; ``vidclean noisy.mkv out.mkv --codec ffv1`` runs through the real command line, once with
the true sigma and once with ``--sigma auto``, and the result is read back and compared with the
clean frames. OpenCV's ``fastNlMeansDenoisingColoredMulti`` (temporal window 5) runs on the same
noisy frames with its ``h`` tuned per sigma on the clip's middle frame (the best of a grid), which
favours it. Prints a PSNR/SSIM table and writes it to JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidclean.data import read_clip
from vidclean.metrics import colour_error, flicker, psnr, ssim
from vidclean.noise import add_gaussian

NLM_H_GRID = (0.3, 0.4, 0.5, 0.65, 0.8)  # h = factor * sigma; the optimum fell between 0.4 and 0.65 in trials
COLUMNS = {"vidclean": "vidclean", "auto": "vidclean_auto", "nlm": "nlm"}  # --methods -> table column


def write_ffv1(path: Path, frames: np.ndarray, fps=25) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())


def nlm_multi(noisy: np.ndarray, h: float, window: int = 5, only=None) -> np.ndarray:
    """OpenCV multi-frame NLM on every frame (or the indices ``only``), the window reflected at the ends."""
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in noisy]
    n, k = len(bgr), window // 2
    out = []
    for t in range(n) if only is None else only:
        idx = [abs(i) if i < 0 else (2 * (n - 1) - i if i >= n else i) for i in range(t - k, t + k + 1)]
        res = cv2.fastNlMeansDenoisingColoredMulti([bgr[i] for i in idx], k, window, None, h, h, 7, 21)
        out.append(res[..., ::-1])
    return np.stack(out)


def scores(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    return (float(np.mean([psnr(o, c) for o, c in zip(out, clean)])),
            float(np.mean([ssim(o, c) for o, c in zip(out, clean)])))


def fidelity(row: dict, label: str, out: np.ndarray, clean: np.ndarray) -> None:
    """Adds the clip's flicker and per-channel colour error under ``label``."""
    row[f"{label}_flicker"] = flicker(out, clean)
    row[f"{label}_colour"] = colour_error(out, clean)


def run_vidclean(noisy_path: Path, out_path: Path, sigma, preset: str) -> np.ndarray:
    from vidclean.cli import main

    rc = main([str(noisy_path), str(out_path), "--codec", "ffv1", "--sigma", str(sigma),
               "--preset", preset, "-y", "-q"])
    if rc != 0:
        raise RuntimeError(f"vidclean exited {rc}")
    return read_clip(out_path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vidclean bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", help="clean clips: frame folders or video files")
    ap.add_argument("--frames", type=int, default=12, help="frames per clip (default 12)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[10, 20, 30, 50])
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--methods", nargs="+", default=["vidclean", "auto", "nlm"], choices=["vidclean", "auto", "nlm"],
                    help="what to run: vidclean with the true sigma, with --sigma auto, OpenCV NLM")
    ap.add_argument("--reuse", help="a previous run's JSON: take the figures of methods not run now from it "
                                    "(same clips, frames, sigmas and seed), e.g. the slow NLM baseline")
    ap.add_argument("--json", default="bench_quality.json", help="where to write the results")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)

    previous = {(r["clip"], r["sigma"], r["frames"], r["seed"]): r for r in json.loads(Path(args.reuse).read_text())} if args.reuse else {}
    methods = ["noisy"] + [c for m, c in COLUMNS.items()
                           if m in args.methods or any(f"{c}_psnr" in r for r in previous.values())]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for ci, clip_path in enumerate(args.clips):
            clean = read_clip(Path(clip_path), args.frames)
            name = Path(clip_path).name
            for sigma in args.sigmas:
                rng = np.random.default_rng((args.seed, ci, int(sigma * 10)))
                noisy = add_gaussian(clean, sigma, rng)
                noisy_path = tmp / f"{name}_s{sigma:g}.mkv"
                write_ffv1(noisy_path, noisy)
                row = {"clip": name, "sigma": sigma, "frames": len(clean), "seed": args.seed}
                row["noisy_psnr"], row["noisy_ssim"] = scores(noisy, clean)
                fidelity(row, "noisy", noisy, clean)
                old = previous.get((name, sigma, len(clean), args.seed), {})
                row.update({k: v for k, v in old.items() if k not in row})
                for method in ("vidclean", "auto"):
                    if method not in args.methods:
                        continue
                    label = COLUMNS[method]
                    t = time.time()
                    out = run_vidclean(noisy_path, tmp / "out.mkv", "auto" if method == "auto" else sigma, args.preset)
                    row[f"{label}_psnr"], row[f"{label}_ssim"] = scores(out, clean)
                    fidelity(row, label, out, clean)
                    row[f"{label}_seconds"] = round(time.time() - t, 1)
                if "nlm" in args.methods:
                    mid = [len(noisy) // 2]
                    best = max(NLM_H_GRID, key=lambda f: scores(nlm_multi(noisy, f * sigma, only=mid), clean[mid])[0])
                    t = time.time()
                    out = nlm_multi(noisy, best * sigma)
                    row["nlm_psnr"], row["nlm_ssim"] = scores(out, clean)
                    fidelity(row, "nlm", out, clean)
                    row["nlm_h"] = best * sigma
                    row["nlm_seconds"] = round(time.time() - t, 1)
                rows.append(row)
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                       if not k.endswith("_colour")), flush=True)

    print(f"\nmean PSNR / SSIM over {len(args.clips)} clips ({args.frames} frames each)")
    print(f"{'sigma':>6} " + " ".join(f"{m:>22}" for m in methods))
    for sigma in args.sigmas:
        sel = [r for r in rows if r["sigma"] == sigma]
        if not all(m + "_psnr" in r for r in sel for m in methods):
            continue
        cells = [f"{np.mean([r[m + '_psnr'] for r in sel]):8.2f} / {np.mean([r[m + '_ssim'] for r in sel]):.4f}" for m in methods]
        print(f"{sigma:>6g} " + " ".join(f"{c:>22}" for c in cells))
    print("\nflicker (MAE of the frame-to-frame change against the clean clip's, 0-255; lower is better)")
    for sigma in args.sigmas:
        sel = [r for r in rows if r["sigma"] == sigma]
        if all(m + "_flicker" in r for r in sel for m in methods):
            print(f"{sigma:>6g} " + " ".join(f"{np.mean([r[m + '_flicker'] for r in sel]):>22.2f}" for m in methods))
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
