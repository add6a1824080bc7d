"""The motion-compensated fusion, tried on cached network outputs: how its constants, and a second
pass of the network, change the benchmark's figures, without running the network for each try.

    python scripts/fusion_lab.py cache quality runs/lab/quality.npz            # Gaussian 10/20/30/50
    python scripts/fusion_lab.py cache balanced runs/lab/bal_cam.npz --noise camera
    python scripts/fusion_lab.py fuse runs/lab/quality.npz --tau-scale 5 10
    python scripts/fusion_lab.py refine runs/lab/quality.npz
    python scripts/fusion_lab.py second-pass runs/lab/quality.npz --levels 20

``cache`` makes the noisy clips exactly as ``vidclean bench`` does (the same clips, frames, seeds
and levels; by default the benchmark's three validation clips, 8 frames each) and stores them with
the clean frames and the network's outputs alone (``--no-fusion``; told the true sigma, or the
blind estimate for camera noise and with ``--auto``). ``fuse`` prints the mean PSNR per level of
the network alone and fused with each ``--tau-scale`` (vidclean.core.fusion as shipped otherwise), which
for the shipped scale is the benchmark's own figure. ``refine`` adds the preset's refiner after
the fusion (vidclean.core.denoiser.Denoiser.refine), which for "quality" is the benchmark's figure. ``second-pass`` runs the network once more
over each frame's motion-compensated weighted mean of the noisy frames (the fusion's weights with
``--mean-tau-scale``), told a per-pixel noise map of what the mean leaves (sigma * sqrt(sum w^2) /
sum w), fuses that, and averages it with the first pass's fused frames; it prints the first pass
fused, the second fused, and their average. The second pass is not part of vidclean (see
docs/quality.md): the engine takes one noise level per frame, so the map is given by patching two of its
functions here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import vidclean.core.denoiser as engine
import vidclean.core.fusion as fusion
from vidclean.bench.quality import benchmark_noise
from vidclean.io.clips import read_clip
from vidclean.io.reader import Frame
from vidclean.metrics import mean_psnr
from vidclean.presets import FUSION_RADIUS, fusion_flow
from vidclean.training.noise import CAMERA_LEVELS

CLIPS = ["../shared/data/val/vid4/city", "../shared/data/val/vid4/walk", "../shared/data/val/davis/bus"]


def network(preset: str, frames: np.ndarray, sigma, window: int, precision: str, maps=None):
    """The preset's network alone over ``frames``; ``maps`` (one per frame) replaces its noise level."""
    denoiser = engine.Denoiser(preset, window, sigma, precision=precision, fusion=False)
    if maps is not None:
        prepare = denoiser.prepare

        def prepare_with_map(frame, pixels=True):
            item = prepare(frame, pixels)
            if len(item.images) != 1:
                raise SystemExit("second-pass: frames this large go through the network in tiles; use smaller clips")
            height, width = item.images[0].shape[1:3]  # the padded frame
            m = maps[frame.index]
            item.sigma = np.pad(m, ((0, height - m.shape[0]), (0, width - m.shape[1])), mode="edge")
            return item

        denoiser.prepare = prepare_with_map
    out = np.stack([c for _, c in denoiser.run(Frame(i, i, i / 25, f) for i, f in enumerate(frames))])
    return out, denoiser.mean_sigma


def per_pixel_noise_map(image, sigma, noise_map=engine.noise_map):
    """engine.noise_map, also for a per-pixel level (an (h, w) array) as ``second-pass`` gives it."""
    if isinstance(sigma, np.ndarray):
        return (sigma[None, :, :, None] / 255.0).astype(np.float32)
    return noise_map(image, sigma)


def cache(args) -> None:
    gaussian = args.noise == "gaussian"
    levels = args.levels or ([10, 20, 30, 50] if gaussian else list(CAMERA_LEVELS))
    out = {}
    for ci, clip in enumerate(args.clips):
        clean = read_clip(Path(clip), args.frames)
        name = Path(clip).name
        for li, level in enumerate(levels):
            level = float(level) if gaussian else level
            noisy = benchmark_noise(clean, args.noise, level, args.seed, ci, li)  # as vidclean bench makes it
            net, told = network(args.preset, noisy, level if gaussian and not args.auto else None, args.window,
                                args.precision)
            for key, value in (("clean", clean), ("noisy", noisy), ("net", net), ("sigma", np.float32(told))):
                out[f"{name}|{level}|{key}"] = value
            print(f"{name} {level}: told {told:.2f}, network alone {mean_psnr(net, clean):.2f} dB", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, preset=args.preset, window=args.window, precision=args.precision, **out)


def load(path: str) -> tuple[dict, dict]:
    """({(clip, level): {clean, noisy, net, sigma}}, the cache's settings)."""
    z = np.load(path)
    clips: dict = {}
    for key in z.files:
        if key.count("|") == 2:
            name, level, what = key.split("|")
            clips.setdefault((name, level), {})[what] = z[key]
    settings = {k: str(z[k]) for k in ("preset", "window", "precision")}
    return clips, settings


def fuse(net: np.ndarray, sigma: float, flow: str = "medium") -> np.ndarray:
    """``net``'s frames through the fusion as the engine runs it (FUSION_RADIUS each side), with
    DIS preset ``flow``."""
    return np.stack(fusion.MotionFusion(FUSION_RADIUS, FUSION_RADIUS, flow).run(np.ascontiguousarray(net), sigma))


def by_level(clips: dict, levels) -> dict:
    """{level: [clip, ...]}, for the levels asked (all if none)."""
    found: dict = {}
    for (_, level), clip in sorted(clips.items()):
        if not levels or level in levels:
            found.setdefault(level, []).append(clip)
    return found


def fuse_command(args) -> None:
    clips, settings = load(args.cache)
    flows = args.flow or [fusion_flow(settings["preset"])]
    for level, group in by_level(clips, args.levels).items():
        cells = [f"alone {np.mean([mean_psnr(c['net'], c['clean']) for c in group]):.2f}"]
        for scale in args.tau_scale:
            fusion.TAU_SCALE = scale
            for flow in flows:
                score = np.mean([mean_psnr(fuse(c["net"], float(c["sigma"]), flow), c["clean"]) for c in group])
                cells.append(f"tau scale {scale:g} {flow} {score:.2f}")
        print(f"{level:>9}: " + ", ".join(cells), flush=True)


def with_noisy_mean(net: np.ndarray, noisy: np.ndarray, sigma: float) -> list:
    """``net``'s frames through the fusion given the noisy frames: a vidclean.core.fusion.Fused each,
    with the weighted mean of the noisy frames warped onto it (weights read from the network's
    outputs, with fusion.MEAN_TAU_SCALE) and the noise level per pixel that mean leaves."""
    return fusion.MotionFusion(FUSION_RADIUS, FUSION_RADIUS).run(np.ascontiguousarray(net), sigma, noisy)


def refine_command(args) -> None:
    clips, settings = load(args.cache)
    denoiser = engine.Denoiser(settings["preset"], precision=settings["precision"], fusion=(FUSION_RADIUS, FUSION_RADIUS))
    if denoiser.refiner is None:
        raise SystemExit(f"refine: preset {settings['preset']} has no refiner")
    for level, group in by_level(clips, args.levels).items():
        rows = []
        for c in group:
            sigma = float(c["sigma"])
            out = with_noisy_mean(c["net"], c["noisy"], sigma)
            refined = [denoiser.refine(x, sigma) for x in out]
            rows.append([mean_psnr(x, c["clean"]) for x in (c["net"], [x.image for x in out], refined)])
        alone, fused, refined = np.mean(rows, axis=0)
        print(f"{level:>9}: alone {alone:.2f}, fused {fused:.2f}, fused and refined {refined:.2f}", flush=True)


def second_pass(args) -> None:
    clips, settings = load(args.cache)
    engine.noise_map = per_pixel_noise_map
    fusion.MEAN_TAU_SCALE = args.mean_tau_scale
    for level, group in by_level(clips, args.levels).items():
        rows = []
        for c in group:
            sigma = float(c["sigma"])
            first = fuse(c["net"], sigma)
            means = with_noisy_mean(c["net"], c["noisy"], sigma)
            again, _ = network(settings["preset"], np.stack([m.mean for m in means]), sigma, int(settings["window"]),
                               settings["precision"], [m.noise for m in means])
            second = fuse(again, sigma)
            both = np.clip(np.rint((first.astype(np.float32) + second) / 2), 0, 255).astype(np.uint8)
            rows.append([mean_psnr(x, c["clean"]) for x in (first, second, both)])
        first, second, both = np.mean(rows, axis=0)
        print(f"{level:>9}: first pass fused {first:.2f}, second pass fused {second:.2f}, their mean {both:.2f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="noisy clips as vidclean bench makes them, and the network's outputs alone")
    c.add_argument("preset")
    c.add_argument("out", help="the .npz to write")
    c.add_argument("--clips", nargs="+", default=CLIPS)
    c.add_argument("--frames", type=int, default=8)
    c.add_argument("--noise", choices=["gaussian", "camera"], default="gaussian")
    c.add_argument("--levels", type=float, nargs="+", help="Gaussian sigmas (default 10 20 30 50)")
    c.add_argument("--auto", action="store_true", help="tell the network the blind estimate also for Gaussian noise")
    c.add_argument("--window", type=int, default=5)
    c.add_argument("--precision", default="float32", choices=["auto", "float32"])
    c.add_argument("--seed", type=int, default=2024)
    for name, text in (("fuse", "the fusion with each --tau-scale"), ("refine", "the fusion and the preset's refiner"),
                       ("second-pass", "a second pass of the network")):
        p = sub.add_parser(name, help=text)
        p.add_argument("cache", help="a .npz from the cache command")
        p.add_argument("--levels", nargs="+", help="the levels to try (as cached: 20.0, cam-low; default all)")
    sub.choices["fuse"].add_argument("--tau-scale", type=float, nargs="+", default=[fusion.TAU_SCALE])
    sub.choices["fuse"].add_argument("--flow", nargs="+", choices=list(fusion.FLOW_PRESETS),
                                     help="DIS presets to try (default: the cached preset's, as the engine uses)")
    sub.choices["second-pass"].add_argument("--mean-tau-scale", type=float, default=fusion.MEAN_TAU_SCALE,
                                            help="the fusion's tau scale for the noisy frames' mean (default 15)")
    args = ap.parse_args(argv)
    if args.command == "cache" and args.noise == "camera" and args.levels:
        ap.error("--levels is for Gaussian noise; camera noise has its three levels")
    if getattr(args, "levels", None) and args.command != "cache":
        args.levels = [str(float(x)) if x.replace(".", "", 1).isdigit() else x for x in args.levels]
    {"cache": cache, "fuse": fuse_command, "refine": refine_command, "second-pass": second_pass}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
