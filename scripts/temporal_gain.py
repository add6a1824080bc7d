"""What the frames around a frame add: each preset on the validation crops, window 5, against the
same network given that frame alone (repeated, so it sees no other frame).

    python scripts/temporal_gain.py ../shared/data/val
    python scripts/temporal_gain.py ../shared/data/val --presets quality --weights runs/x/best.weights.h5
    python scripts/temporal_gain.py ../shared/data/val --presets quality-v2 --weights OLD.weights.h5

The crops are those `vidclean train` validates on (128x128, 7 frames, fixed seed; Gaussian noise
at sigma 10/20/30/50 told the true sigma, and the benchmark's three camera-noise levels told the
blind estimate). For each, the PSNR of frame 4 cleaned with look-ahead 2 from the clip, and from a
clip of frame 4 seven times: the difference is the temporal gain. Prints a line per preset.

With ``--still``, a second line per preset does the same for a scene that does not move (a
tripod, a webcam): frame 4 of each crop seven times over, each copy with its own noise of the same
kind and level (camera noise re-compressed as a clip, told the blind estimate), against that
frame's first noisy copy alone: what the network makes of frames that agree everywhere. A plain
mean of the five frames of window 5 would cut the noise's standard deviation by a factor of 2.2.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from vidclean.core.backend import bfloat16_available, use_bfloat16
from vidclean.core.networks import PRESETS, Networks
from vidclean.core.noise import estimate_clip_sigma
from vidclean.metrics import psnr
from vidclean.presets import FORMER, net_config, weights_path
from vidclean.training.noise import add_gaussian, camera_level
from vidclean.training.train import score_name, validation_set

FRAMES = 7  # the validation crops' length
K = 2  # look-ahead of window 5 (the default); output K of the training graph is frame FRAMES-1-K
CENTRE = FRAMES - 1 - K


def still_set(val: dict, seed: int = 4321) -> dict:
    """``val``'s crops as still scenes: each crop's frame CENTRE FRAMES times, with fresh noise of the
    same kind per frame; the same layout as ``validation_set``."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, (_, clean) in val.items():
        frames = np.rint(clean[:, K] * 255).astype(np.uint8)  # output K of the training graph is frame CENTRE
        still = np.repeat(frames[:, None], FRAMES, axis=1)
        if isinstance(key, int):
            noisy = [add_gaussian(crop, key, rng) for crop in still]
            told = [[key / 255]] * len(noisy)
        else:
            noisy = [camera_level(crop, key, rng) for crop in still]
            told = [[estimate_clip_sigma(n) / 255] for n in noisy]
        target = np.repeat(frames[:, None], clean.shape[1], axis=1)  # every output is that frame
        out[key] = ((np.float32(noisy) / 255.0, np.float32(told)), np.float32(target) / 255.0)
    return out


def gains(model, data: dict) -> dict:
    """{score name: window-5 PSNR, the centre frame alone, gain} over ``data``'s crops."""
    row = {}
    for key, ((noisy, sigma), clean) in data.items():
        alone = np.repeat(noisy[:, CENTRE:CENTRE + 1], FRAMES, axis=1)
        scores = []
        for clip in (noisy, alone):
            out = np.clip(model.predict([clip, sigma], verbose=0, batch_size=8)[:, K], 0, 1)
            scores.append(float(np.mean([psnr(o, c[K], 1.0) for o, c in zip(out, clean)])))
        row[score_name(key)[5:]] = {"window5": round(scores[0], 3), "alone": round(scores[1], 3),
                                   "gain": round(scores[0] - scores[1], 3)}
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("val", nargs="+", help="validation clips (as for vidclean train --val)")
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=[*PRESETS, *FORMER],
                    help="presets, or a former network (with --weights)")
    ap.add_argument("--weights", help="weights for the one preset given instead of the shipped ones")
    ap.add_argument("--still", action="store_true", help="also on still scenes (see above)")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args(argv)
    if args.weights and len(args.presets) != 1:
        ap.error("--weights needs exactly one preset")
    if not args.weights and any(p in FORMER for p in args.presets):
        ap.error("a former network needs --weights")
    use_bfloat16(bfloat16_available())  # as the engine runs it
    val = validation_set(args.val, FRAMES, 128)
    sets = {"": val, "still": still_set(val)} if args.still else {"": val}
    results = {}
    for preset in args.presets:
        nets = Networks(net_config(preset))
        nets.load_weights(args.weights or weights_path(preset))
        model = nets.training_model(FRAMES, 128)
        for kind, data in sets.items():
            row = results[preset + (f" {kind}" if kind else "")] = gains(model, data)
            print(preset, kind, " ".join(f"{k}={v['window5']:.2f}/{v['alone']:.2f}({v['gain']:+.2f})"
                                         for k, v in row.items()), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
