"""Train a preset's network from clean clips and stills; checkpoints every epoch and resumes.

    python -m vidclean.training.train --clips ../shared/data/train/davis ../shared/data/train/sam2 \\
        --stills ../shared/data/train/stills --val ../shared/data/val --out runs/balanced

Re-running the same command resumes from ``OUT/checkpoint`` (weights, optimizer state, epoch).
Validation PSNR per Gaussian sigma and per camera-noise level (the benchmark's, told the blind
estimate) is printed and appended to ``OUT/log.csv`` after every epoch; the weights with the best
mean over all of them so far are written to ``OUT/best.weights.h5`` (copy them to
``vidclean/weights/`` to ship).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import time
from pathlib import Path

import cv2
import keras
import numpy as np

from vidclean.core.backend import bfloat16_available, use_bfloat16
from vidclean.core.networks import MAX_DELAY, PRESETS, SIZE_MULTIPLE, Networks
from vidclean.core.noise import estimate_clip_sigma
from vidclean.io.clips import read_clip, read_image
from vidclean.metrics import psnr
from vidclean.presets import FORMER, MAX_WINDOW, net_config
from vidclean.training.data import (CAMERA_READ, CAMERA_SHOT, CRF_RANGE, LOW_SIGMA, RECOMPRESSED, ClipBatches,
                                    find_clips, find_stills)
from vidclean.training.losses import denoising_loss
from vidclean.training.noise import CAMERA_LEVELS, MAX_SIGMA, add_gaussian, camera_level
from vidclean.training.slim import freeze_layers_of, warm_start
from vidclean.training.splits import held_out

VAL_SIGMAS = (10, 20, 30, 50)


def load_clips(roots, max_frames, training: bool = True, halved=()):
    """The clips at or below ``roots``; for training, without the validation clips (splits.held_out).
    Clips at or below a root of ``halved`` are loaded at half size (their JPEG blocking halved too)."""
    paths = [p for root in roots for p in find_clips(root)]
    halved = [Path(h).resolve() for h in halved]
    at_half = {p for p in paths if any(Path(p).resolve().is_relative_to(h) for h in halved)}
    if training:
        skipped = [p for p in paths if held_out(p)]
        if skipped:
            print(f"held out of training (validation clips): {', '.join(p.name for p in skipped)}", flush=True)
        paths = [p for p in paths if p not in skipped]
    clips = [half_size(read_clip(p, max_frames)) if p in at_half else read_clip(p, max_frames) for p in paths]
    return [c for c in clips if len(c) >= 8]


def half_size(clip: np.ndarray) -> np.ndarray:
    """A (T, H, W, 3) clip at half its height and width, each pixel the mean of four."""
    return np.stack([cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA) for f in clip])


def validation_set(roots, frames, patch, seed=1234):
    """Fixed noisy crops of the validation clips: {sigma or camera level: (inputs, clean)}.

    Camera-noise crops are told what the blind estimator reads from them, as ``--sigma auto`` does.
    """
    rng = np.random.default_rng(seed)
    clips = load_clips(roots, max_frames=40, training=False)
    centres = [frames - 1 - k for k in range(MAX_DELAY + 1)]
    crops = []
    for clip in clips:
        n, h, w = clip.shape[:3]
        y, x = (h - patch) // 2, (w - patch) // 2
        crops += [clip[s:s + frames, y:y + patch, x:x + patch] for s in (0, n // 2)]
    clean = np.float32([crop[centres] / 255.0 for crop in crops])
    out = {}
    for sigma in VAL_SIGMAS:
        noisy = np.float32([add_gaussian(crop, sigma, rng) / 255.0 for crop in crops])
        out[sigma] = ((noisy, np.full((len(noisy), 1), sigma / 255, np.float32)), clean)
    for level in CAMERA_LEVELS:
        noisy = [camera_level(crop, level, rng) for crop in crops]
        told = [[estimate_clip_sigma(n) / 255] for n in noisy]
        out[level] = ((np.float32(noisy) / 255.0, np.float32(told)), clean)
    return out


def append_log(path: Path, row: dict) -> None:
    """One epoch's row appended to the run's CSV log (its header first), and printed."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)


def score_name(key) -> str:
    return f"psnr_s{key}" if isinstance(key, int) else "psnr_" + key.replace("-", "_")


class Checkpoint(keras.callbacks.Callback):
    """Validates, logs, saves weights + optimizer state each epoch, and stops at a time budget."""

    def __init__(self, nets, val_model, val_set, out: Path, deadline: float):
        super().__init__()
        self.nets, self.val_model, self.val_set, self.out = nets, val_model, val_set, out
        self.deadline = deadline
        self.state = json.loads((out / "state.json").read_text()) if (out / "state.json").exists() else {"epoch": 0, "best": 0.0}
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        scores = {}
        for key, (inputs, clean) in self.val_set.items():
            pred = np.clip(self.val_model.predict(inputs, verbose=0, batch_size=8), 0, 1)
            # window 5 (look-ahead k=2), the default
            scores[key] = float(np.mean([psnr(p[2], c[2], 1.0) for p, c in zip(pred, clean)]))
        gaussian = float(np.mean([v for k, v in scores.items() if k in VAL_SIGMAS]))
        mean = float(np.mean(list(scores.values())))  # Gaussian and camera: what "best" follows
        row = {"epoch": epoch + 1, "loss": round(float(logs.get("loss", np.nan)), 6),
               "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
               **{score_name(k): round(v, 3) for k, v in scores.items()}, "psnr_mean": round(gaussian, 3),
               "psnr_all": round(mean, 3), "minutes": round((time.time() - self.started) / 60, 1)}
        append_log(self.out / "log.csv", row)
        ckpt = self.out / "checkpoint"
        ckpt.mkdir(exist_ok=True)
        self.nets.save_weights(ckpt / "model.weights.h5")
        opt = self.model.optimizer
        np.savez(ckpt / "optimizer.npz", *[keras.ops.convert_to_numpy(v) for v in opt.variables])
        if mean > self.state["best"]:
            self.state["best"] = mean
            self.nets.save_weights(self.out / "best.weights.h5")
        self.state["epoch"] = epoch + 1
        (self.out / "state.json").write_text(json.dumps(self.state))
        if time.time() > self.deadline:
            print(f"time budget reached after epoch {epoch + 1}; re-run the command to resume", flush=True)
            self.model.stop_training = True


def add_data_arguments(ap: argparse.ArgumentParser, camera_noise: float = 0.2, still: float = 0.0) -> None:
    """The options that say which clips to train and validate on and how to make them noisy."""
    ap.add_argument("--clips", nargs="+", required=True, help="frame folders / video files, or folders holding them")
    ap.add_argument("--stills", nargs="*", default=[], help="folders of still images (given synthetic motion)")
    ap.add_argument("--val", nargs="+", required=True, help="validation clips (never trained on)")
    ap.add_argument("--camera-noise", type=float, default=camera_noise, help="fraction of samples with camera-like noise")
    ap.add_argument("--camera-shot", type=float, nargs=2, default=CAMERA_SHOT, metavar=("LO", "HI"),
                    help="range of the camera noise's shot (signal-dependent) term, drawn log-uniformly "
                         f"(default %(default)s; the benchmark's levels use {', '.join(f'{s:g}' for s, _ in CAMERA_LEVELS.values())})")
    ap.add_argument("--camera-read", type=float, nargs=2, default=CAMERA_READ, metavar=("LO", "HI"),
                    help="range of its read (constant) term, drawn log-uniformly (default %(default)s; "
                         f"the benchmark's: {', '.join(f'{r:g}' for _, r in CAMERA_LEVELS.values())})")
    ap.add_argument("--recompressed", type=float, default=RECOMPRESSED,
                    help="fraction of the camera-noise samples then re-compressed with H.264 at CRF "
                         f"{CRF_RANGE[0]}-{CRF_RANGE[1]} (default %(default)s; the benchmark's are all, at CRF 20)")
    ap.add_argument("--still", type=float, default=still,
                    help="fraction of samples of a scene that hardly moves (a frame or still under 0-30%% of "
                         "the synthetic camera motion), where the frames around one help most")
    ap.add_argument("--max-frames", type=int, default=120, help="frames loaded per training clip")
    ap.add_argument("--halved", nargs="*", default=[], metavar="DIR",
                    help="clips at or below these folders are trained on at half size: cleaner detail from "
                         "JPEG-compressed frames (DAVIS 2016's are quality ~75)")
    ap.add_argument("--low-sigma", type=float, default=0.0,
                    help=f"fraction of the Gaussian samples whose sigma is drawn from 0-{LOW_SIGMA:g} instead of "
                         f"0-{MAX_SIGMA:g}: more practice where footage mostly is (default 0)")


def check_data_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits through ``ap.error`` if the options of ``add_data_arguments`` are out of range."""
    if not all(0 < lo <= hi for lo, hi in (args.camera_shot, args.camera_read)):
        ap.error("--camera-shot and --camera-read take LO HI with 0 < LO <= HI")
    if not 0 <= args.recompressed <= 1:
        ap.error("--recompressed must be between 0 and 1")
    if not 0 <= args.still <= 1:
        ap.error("--still must be between 0 and 1")
    if not 0 <= args.low_sigma <= 1:
        ap.error("--low-sigma must be between 0 and 1")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="vidclean train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(ap)
    ap.add_argument("--out", required=True, help="run folder: checkpoint, log.csv, best weights")
    ap.add_argument("--preset", default="balanced", choices=[*PRESETS, *FORMER],
                    help="the network to train: a preset, or a former one (to re-run a chain of warm starts)")
    ap.add_argument("--init", help="weights to start from (warm start); ignored when resuming")
    ap.add_argument("--init-preset", choices=[*PRESETS, *FORMER], help="the preset --init was saved from, when not --preset: its layers are "
                                          "copied where they match (e.g. balanced into quality)")
    ap.add_argument("--freeze-copied", action="store_true",
                    help="with --init-preset: train only the layers that preset lacks (the new part of the "
                         "network, e.g. the neighbours' convolutions); the copied ones stay as they are")
    ap.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="auto (default): bfloat16 where the CPU computes in it, as when cleaning (about twice "
                         "as fast a step on AVX-512 BF16), else float32; float32: XLA-compiled; bfloat16: "
                         "convolutions in bfloat16 through oneDNN (CPUs with AMX or AVX-512 BF16, TensorFlow), no XLA")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--steps", type=int, default=200, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=7, help=f"clip length per sample (>= {MAX_WINDOW})")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=0,
                    help="steps of linear learning-rate warm-up from 0 before the cosine decay (eases a warm start)")
    ap.add_argument("--colour-weight", type=float, default=0.0,
                    help="weight of a loss term on each output frame's mean error per channel (a colour cast), "
                         "added to the mean absolute error (default 0: that alone)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="batches made in parallel (threads, or see --processes)")
    ap.add_argument("--processes", action="store_true",
                    help="make batches in worker processes, not threads: for many cores, as on a GPU "
                         "machine (each worker holds its own copy of the clips)")
    ap.add_argument("--minutes", type=float, default=0, help="stop (resumably) after this many minutes; 0 = no limit")
    args = ap.parse_args(argv)
    if args.patch % SIZE_MULTIPLE:
        ap.error(f"--patch must be a multiple of {SIZE_MULTIPLE}")
    if args.frames < MAX_WINDOW:
        ap.error(f"--frames must be at least {MAX_WINDOW} (the longest window)")
    if args.colour_weight < 0:
        ap.error("--colour-weight must be at least 0")
    if args.epochs < 1 or args.steps < 1:
        ap.error("--epochs and --steps must be at least 1")
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    check_data_arguments(ap, args)
    if not 0 <= args.warmup < args.epochs * args.steps:
        ap.error("--warmup must be at least 0 and fewer than --epochs x --steps")
    if args.freeze_copied and not (args.init and args.init_preset):
        ap.error("--freeze-copied needs --init and --init-preset")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    deadline = time.time() + args.minutes * 60 if args.minutes else float("inf")

    t0 = time.time()
    clips = load_clips(args.clips, args.max_frames, halved=args.halved)
    stills = [read_image(p) for root in args.stills for p in find_stills(root)]
    val_set = validation_set(args.val, args.frames, 128)
    print(f"loaded {len(clips)} clips ({sum(len(c) for c in clips)} frames), {len(stills)} stills, "
          f"{len(val_set[VAL_SIGMAS[0]][1])} validation crops in {time.time() - t0:.0f}s", flush=True)

    nets = Networks(net_config(args.preset))
    if args.freeze_copied:  # before the training model is built and compiled
        frozen = freeze_layers_of(nets, args.init_preset)
        print(f"{frozen} layers frozen (those of {args.init_preset})", flush=True)
    model = nets.training_model(args.frames, args.patch)
    val_model = nets.training_model(args.frames, 128)
    total = args.epochs * args.steps
    if args.warmup:
        schedule = keras.optimizers.schedules.CosineDecay(0.0, total - args.warmup, alpha=0.02,
                                                          warmup_target=args.lr, warmup_steps=args.warmup)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(args.lr, total, alpha=0.02)
    if args.precision == "auto":  # as cleaning reads it: bfloat16 where the CPU computes in it
        args.precision = "bfloat16" if bfloat16_available() else "float32"
    if args.precision == "bfloat16":
        use_bfloat16(True)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=denoising_loss(args.colour_weight),
                  jit_compile=args.precision == "float32")

    ckpt = out / "checkpoint"
    data = ClipBatches(clips, stills, frames=args.frames, patch=args.patch, batch=args.batch,
                       steps=args.steps, camera_fraction=args.camera_noise, seed=args.seed,
                       camera_shot=args.camera_shot, camera_read=args.camera_read, recompressed=args.recompressed,
                       still_fraction=args.still, low_sigma=args.low_sigma,
                       workers=args.workers, use_multiprocessing=args.processes,
                       max_queue_size=max(8, 2 * args.workers))
    callback = Checkpoint(nets, val_model, val_set, out, deadline)
    start_epoch = callback.state["epoch"]
    if start_epoch and (ckpt / "model.weights.h5").exists():
        nets.load_weights(ckpt / "model.weights.h5")
        opt = model.optimizer
        opt.build(model.trainable_variables)
        saved = np.load(ckpt / "optimizer.npz")
        for v, key in zip(opt.variables, saved.files):
            v.assign(saved[key])
        data.epoch = start_epoch
        print(f"resumed at epoch {start_epoch}", flush=True)
    elif args.init and args.init_preset and args.init_preset != args.preset:
        copied = warm_start(nets, args.init, args.init_preset)
        print(f"warm start from {args.init} ({args.init_preset}: {copied} layers copied)", flush=True)
    elif args.init:
        nets.load_weights(args.init)
        print(f"warm start from {args.init}", flush=True)
    if start_epoch >= args.epochs:
        print("training already complete")
        return
    (out / "args.json").write_text(json.dumps(vars(args), indent=1))
    start_method = multiprocessing.get_start_method(allow_none=True)
    if args.processes:  # workers forked from a server process: a fork of this one, TensorFlow's threads running, can hang
        multiprocessing.set_start_method("forkserver", force=True)
    try:
        model.fit(data, epochs=args.epochs, initial_epoch=start_epoch, callbacks=[callback], verbose=2)
    finally:
        multiprocessing.set_start_method(start_method, force=True)


if __name__ == "__main__":
    main()
