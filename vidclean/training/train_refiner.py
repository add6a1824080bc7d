"""Train a preset's refiner (vidclean.core.networks.build_refiner) on its own network's fused outputs.

    vidclean train-refiner --clips ../shared/data/train/davis ../shared/data/train/sam2 \\
        ../shared/data/train/vid4 --stills ../shared/data/train/stills --val ../shared/data/val \\
        --out runs/refiner

Two steps, both resumable: re-running the same command goes on where it stopped.

1. Examples: noisy crops of the training clips and stills (Gaussian and camera noise, as the
   network trains on), cleaned by the preset's shipped network, fused with the noisy frames'
   mean (vidclean.core.fusion, as the engine runs it); the middle frames, whose neighbours are all
   there, are kept. Written in chunks, ``OUT/examples/NNNN.npz`` (or in the first folder of
   ``--examples``; the others are read too, made by runs before), with the validation clips' in
   ``validation.npz`` beside them, and in ``made_by.json`` the hash of the network's weights and
   the fusion's settings: examples made otherwise are refused. ``--epochs 0`` makes the
   examples only.
2. Training: random patches of those; a checkpoint every epoch (``OUT/checkpoint.keras``), the
   validation PSNR per noise level of the fused frames and of the refined ones appended to
   ``OUT/log.csv``; the best weights so far in ``OUT/best.weights.h5`` (copy them to
   ``vidclean/weights/PRESET-refiner.weights.h5`` to ship).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import keras
import numpy as np

from vidclean.core import fusion
from vidclean.core.denoiser import Denoiser
from vidclean.core.fusion import MotionFusion
from vidclean.core.networks import build_refiner
from vidclean.core.noise import estimate_clip_sigma
from vidclean.io.clips import read_image
from vidclean.io.reader import Frame
from vidclean.metrics import mean_psnr
from vidclean.presets import FUSION_FLOW, FUSION_RADIUS, REFINERS, weights_path
from vidclean.training.data import ClipBatches, find_stills, make_noisy
from vidclean.training.noise import CAMERA_LEVELS, add_gaussian, camera_level
from vidclean.training.train import VAL_SIGMAS, add_data_arguments, append_log, check_data_arguments, load_clips

CROP_FRAMES = 9  # the network's outputs for 9 frames; the middle 5 have 2 neighbours each side
KEEP = slice(FUSION_RADIUS, CROP_FRAMES - FUSION_RADIUS)


def fused_examples(denoiser, noisy: np.ndarray, sigma: float, flow: str) -> list:
    """The network's outputs for a noisy clip (told ``sigma``), fused with the noisy frames'
    mean: a vidclean.core.fusion.Fused per frame."""
    denoiser.sigma = float(sigma)
    cleaned = [c for _, c in denoiser.run(Frame(i, i, i / 25, f) for i, f in enumerate(noisy))]
    return MotionFusion(FUSION_RADIUS, FUSION_RADIUS, flow).run(cleaned, sigma, noisy)


KEYS = ("fused", "mean", "noise", "clean")


def joined(parts) -> dict:
    """Examples from several sets (dicts or .npz files of KEYS) as one."""
    return {k: np.concatenate([p[k] for p in parts]) for k in KEYS}


def stack(fused: list, clean: np.ndarray) -> dict:
    return {"fused": np.stack([f.image for f in fused]), "mean": np.stack([f.mean for f in fused]),
            "noise": np.stack([f.noise for f in fused]).astype(np.float16), "clean": clean}


def examples_folder(args) -> Path:
    """Where the examples are made, and the validation examples kept."""
    return Path(args.examples[0]) if args.examples else Path(args.out) / "examples"


def chunk_files(folder) -> list[Path]:
    """A folder's chunks of examples, in order (not a chunk still being written, NNNN.tmp.npz)."""
    return sorted(Path(folder).glob("[0-9][0-9][0-9][0-9].npz"))


def made_by(preset: str, flow: str) -> dict:
    """What examples depend on besides the noise: the preset's shipped network (its weights'
    hash) and the fusion's settings. Kept as ``made_by.json`` in a folder of examples."""
    names = ("FLOOR", "TAU_SCALE", "CAP_BASE", "CAP_SLOPE", "CAP_RAMP", "LOOP_MISS", "MEAN_TAU_SCALE", "PATCH")
    return {"preset": preset, "weights_sha256": hashlib.sha256(weights_path(preset).read_bytes()).hexdigest(),
            "fusion": {"radius": FUSION_RADIUS, "flow": flow, **{n.lower(): getattr(fusion, n) for n in names}}}


def check_examples(folders, maker: dict) -> None:
    """Exits with a one-line error if a folder's examples were made by another network or fusion
    (they would train the refiner for outputs it will not see); notes folders without a record."""
    for folder in map(Path, folders):
        record = folder / "made_by.json"
        if record.exists():
            found = json.loads(record.read_text())
            if found != maker:
                words = {"preset": "preset", "weights_sha256": "network (weights)", "fusion": "fusion (settings)"}
                what = [words[k] for k in maker if found.get(k) != maker[k]]
                raise SystemExit(f"train-refiner: the examples in {folder} were made by another "
                                 f"{' and '.join(what)} than now; make new ones in another folder")
        elif chunk_files(folder):
            print(f"note: {folder} does not record the network that made its examples; not checked", flush=True)


def make_examples(args, denoiser, flow: str) -> None:
    """Writes the chunks of examples not written yet."""
    folder = examples_folder(args)
    folder.mkdir(parents=True, exist_ok=True)
    if not chunk_files(folder) and not (folder / "validation.npz").exists():
        (folder / "made_by.json").write_text(json.dumps(made_by(args.preset, flow), indent=1))
    chunks = -(-args.crops // args.chunk)
    if all((folder / f"{c:04d}.npz").exists() for c in range(chunks)):
        return
    clips = load_clips(args.clips, args.max_frames, halved=args.halved)
    stills = [read_image(p) for root in args.stills for p in find_stills(root)]
    source = ClipBatches(clips, stills, frames=CROP_FRAMES, patch=args.crop, still_fraction=args.still)
    t0 = time.time()
    for c in range(chunks):
        path = folder / f"{c:04d}.npz"
        if path.exists():
            continue
        rng = np.random.default_rng((args.seed, c))
        parts = []
        for _ in range(min(args.chunk, args.crops - c * args.chunk)):
            clip = source.sample(rng)
            noisy, sigma = make_noisy(clip, rng, args.camera_noise, args.camera_shot, args.camera_read,
                                      args.recompressed, args.low_sigma)
            parts.append(stack(fused_examples(denoiser, noisy, sigma, flow)[KEEP], clip[KEEP]))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **joined(parts))
        tmp.rename(path)
        print(f"examples: chunk {c + 1}/{chunks} ({time.time() - t0:.0f}s)", flush=True)


def validation_examples(args, denoiser, flow: str) -> dict:
    """{level: examples} from the middle of each validation clip, per Gaussian sigma and camera
    level (told the blind estimate, as ``--sigma auto`` is); cached beside the examples."""
    path = examples_folder(args) / "validation.npz"
    levels = [*map(str, VAL_SIGMAS), *CAMERA_LEVELS]  # the log's columns keep this order
    if path.exists():
        z = np.load(path)
        return {level: {k: z[f"{level}|{k}"] for k in KEYS} for level in levels}
    rng = np.random.default_rng(1234)
    out = {}
    clips = [c for c in load_clips(args.val, max_frames=40, training=False) if len(c) >= CROP_FRAMES]
    if not clips:
        raise SystemExit(f"train-refiner: no validation clip of at least {CROP_FRAMES} frames")
    for level in levels:
        parts = []
        for clip in clips:
            n, h, w = clip.shape[:3]
            y, x, s = (h - args.val_crop) // 2, (w - args.val_crop) // 2, (n - CROP_FRAMES) // 2
            crop = clip[s:s + CROP_FRAMES, y:y + args.val_crop, x:x + args.val_crop]
            if level in CAMERA_LEVELS:
                noisy = camera_level(crop, level, rng)
                sigma = estimate_clip_sigma(noisy)
            else:
                sigma = float(level)
                noisy = add_gaussian(crop, sigma, rng)
            parts.append(stack(fused_examples(denoiser, noisy, sigma, flow)[KEEP], crop[KEEP]))
        out[level] = joined(parts)
    np.savez(path, **{f"{level}|{k}": v for level, ex in out.items() for k, v in ex.items()})
    return out


def inputs(ex: dict, index=slice(None)) -> list:
    """The refiner's inputs (0-1 floats) for examples ``index``."""
    return [ex["fused"][index].astype(np.float32) / 255, ex["mean"][index].astype(np.float32) / 255,
            ex["noise"][index, ..., None].astype(np.float32) / 255]


class Patches(keras.utils.PyDataset):
    """Random (inputs, clean) patches of the examples, the same for a given seed and epoch."""

    def __init__(self, examples: dict, patch: int, batch: int, steps: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.ex, self.patch, self.batch, self.steps, self.seed = examples, patch, batch, steps, seed
        self.epoch = 0

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, index):
        rng = np.random.default_rng((self.seed, self.epoch, index))
        n, h, w = self.ex["fused"].shape[:3]
        p = self.patch
        picks = [(i, y, x) for i, y, x in zip(rng.integers(n, size=self.batch), rng.integers(h - p + 1, size=self.batch),
                                              rng.integers(w - p + 1, size=self.batch))]
        crop = {k: np.stack([v[i, y:y + p, x:x + p] for i, y, x in picks]) for k, v in self.ex.items()}
        return tuple(inputs(crop)), crop["clean"].astype(np.float32) / 255


class Checkpoint(keras.callbacks.Callback):
    """Each epoch: the validation PSNR (fused, refined) per level to log.csv; the model with its
    optimizer to checkpoint.keras; the weights with the best mean gain to best.weights.h5."""

    def __init__(self, out: Path, val: dict, bare: keras.Model):
        super().__init__()
        self.out, self.val, self.bare = out, val, bare
        self.state = json.loads((out / "state.json").read_text()) if (out / "state.json").exists() else \
            {"epoch": 0, "best": -1e9}

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "loss": round(float(logs["loss"]), 7)}
        gains = []
        for level, ex in self.val.items():
            refined = np.concatenate([self.model.predict_on_batch(inputs(ex, slice(i, i + 4)))
                                      for i in range(0, len(ex["fused"]), 4)])
            refined = np.clip(np.rint(refined * 255), 0, 255).astype(np.uint8)
            fused, ours = mean_psnr(ex["fused"], ex["clean"]), mean_psnr(refined, ex["clean"])
            row[f"fused_{level}"], row[f"refined_{level}"] = round(fused, 3), round(ours, 3)
            gains.append(ours - fused)
        row["gain_mean"] = round(float(np.mean(gains)), 3)
        append_log(self.out / "log.csv", row)
        self.model.save(self.out / "checkpoint.keras")
        if row["gain_mean"] > self.state["best"]:
            self.state["best"] = row["gain_mean"]
            self.bare.set_weights(self.model.get_weights())  # the weights alone, without the optimizer's
            self.bare.save_weights(self.out / "best.weights.h5")
        self.state["epoch"] = epoch + 1
        (self.out / "state.json").write_text(json.dumps(self.state))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="vidclean train-refiner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(ap, camera_noise=0.4, still=0.1)
    ap.add_argument("--out", required=True, help="folder for examples, checkpoints and the log")
    ap.add_argument("--examples", nargs="+", help="folders of examples (default OUT/examples): made in the first "
                                                  "if missing, read from all")
    ap.add_argument("--preset", default="quality", choices=sorted(REFINERS))
    ap.add_argument("--crops", type=int, default=2000, help="noisy crops to make examples of (5 frames each)")
    ap.add_argument("--chunk", type=int, default=100, help="crops per examples file")
    ap.add_argument("--crop", type=int, default=128, help="crop side in pixels")
    ap.add_argument("--val-crop", type=int, default=192, help="validation crop side in pixels")
    ap.add_argument("--epochs", type=int, default=10, help="0: make the examples only")
    ap.add_argument("--steps", type=int, default=400, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--init", help="weights to start from (a run's best.weights.h5), else from zero residual")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    check_data_arguments(ap, args)
    if args.patch > args.crop or args.patch % REFINERS[args.preset].fold:
        ap.error(f"--patch must be at most --crop and a multiple of {REFINERS[args.preset].fold}")
    if args.val_crop % REFINERS[args.preset].fold:
        ap.error(f"--val-crop must be a multiple of {REFINERS[args.preset].fold}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    flow = FUSION_FLOW[args.preset]
    check_examples([examples_folder(args), *(args.examples or [])[1:]], made_by(args.preset, flow))
    denoiser = Denoiser(args.preset, window=5, sigma=0.0, precision="float32", fusion=False)
    make_examples(args, denoiser, flow)
    val = validation_examples(args, denoiser, flow)
    del denoiser
    if not args.epochs:
        return
    callback = Checkpoint(out, val, build_refiner(REFINERS[args.preset]))
    start = callback.state["epoch"]
    if start >= args.epochs:  # before the examples are read (gigabytes)
        print("training already complete")
        return
    files = chunk_files(examples_folder(args))[: -(-args.crops // args.chunk)]
    files += [f for folder in (args.examples or [])[1:] for f in chunk_files(folder)]
    examples = joined([np.load(f) for f in files])
    print(f"{len(examples['fused'])} example frames, {sum(len(v['fused']) for v in val.values())} validation frames",
          flush=True)

    keras.utils.set_random_seed(args.seed)
    data = Patches(examples, args.patch, args.batch, args.steps, args.seed)
    # the learning rate decays over this command's --epochs x --steps: a run resumed with more
    # epochs goes on as if it had been planned for them from the start
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, args.epochs * args.steps, alpha=0.05)
    if start and (out / "checkpoint.keras").exists():
        model = keras.models.load_model(out / "checkpoint.keras")
        model.optimizer.learning_rate = schedule
        data.epoch = start
        print(f"resumed at epoch {start}", flush=True)
    else:
        model = build_refiner(REFINERS[args.preset])
        if args.init:
            model.load_weights(args.init)
            print(f"warm start from {args.init}", flush=True)
        model.compile(keras.optimizers.Adam(schedule), loss="mse")
    model.fit(data, epochs=args.epochs, initial_epoch=start, callbacks=[callback], verbose=2)


if __name__ == "__main__":
    main()
