"""Packs a subset of ../shared/data into .gpu/data for training on the device machine.

    python scripts/pack_gpu_data.py ../shared/data

The device tool carries at most 64 MiB (code, wheels and data together), so this takes, losslessly:
two runs of 11 consecutive frames from each DAVIS clip (start and middle), two runs of 12 from
SAM 2 "bedroom", the three SAM 2 mp4 files whole, 15 stills as lossless WebP (every 5th Kodak,
every 10th CBSD68, every 6th McMaster; pixel-identical, checked) and the first 14 frames of the
validation clip "bus" (validation during the run; the real validation is done afterwards on the
whole of val/). Vid4 "foliage" and Urban100 are left out (PNG, too large). About 28 MB.
"""

import shutil
import sys
from pathlib import Path

import cv2

FRAME_EXTS = {".jpg", ".png"}


def copy_runs(src: Path, dst: Path, name: str, starts, length: int):
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in FRAME_EXTS)
    for k, s in enumerate(starts):
        out = dst / f"{name}_{k}"
        out.mkdir(parents=True)
        for f in files[s:s + length]:
            shutil.copy(f, out / f.name)


def main(source: Path, dest: Path = Path(".gpu/data")):
    shutil.rmtree(dest, ignore_errors=True)
    train = dest / "train"
    for seq in sorted((source / "train/davis").iterdir()):
        copy_runs(seq, train, seq.name, [0, len(list(seq.iterdir())) // 2], 11)
    copy_runs(source / "train/sam2/bedroom", train, "bedroom", [0, 100], 12)
    for mp4 in sorted((source / "train/sam2").glob("*.mp4")):
        shutil.copy(mp4, train / mp4.name)
    val = dest / "val" / "bus"
    val.mkdir(parents=True)
    for f in sorted((source / "val/davis/bus").iterdir())[:14]:
        shutil.copy(f, val / f.name)
    stills = dest / "stills"
    stills.mkdir(parents=True)
    st = source / "train/stills"
    picks = (sorted((st / "kodak24").iterdir())[::5] + sorted((st / "cbsd68").iterdir())[::10]
             + sorted((st / "mcmaster").iterdir())[::6])
    for f in picks:
        image = cv2.imread(str(f), cv2.IMREAD_COLOR)
        target = stills / f"{f.parent.name}_{f.stem}.webp"
        cv2.imwrite(str(target), image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # above 100: lossless
        assert (cv2.imread(str(target), cv2.IMREAD_COLOR) == image).all(), f"{target} is not lossless"
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"{dest}: {size / 1e6:.1f} MB, {len(picks)} stills")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
