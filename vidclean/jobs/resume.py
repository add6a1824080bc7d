"""A long file cleaned in parts kept beside the output, so that an interrupted run can continue.

    result = clean_in_parts("long.mp4", "clean.mp4", options, parts, denoiser_factory)

The parts (vidclean.jobs.segments: each cleaned exactly as a whole run cleans its frames) are
written one after another into a hidden folder beside the output, ``.NAME.vidclean-parts``, each
part file renamed into place only when complete, with a small JSON of its frames and noise level.
A later run of the same command (same input, same options) finds them and cleans only the parts
that are missing; once all are there they are joined by stream copy into the output, and the
folder is removed. A manifest records what the parts were made from: a changed input or changed
options start afresh, with a note.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from vidclean._version import __version__
from vidclean.errors import VidcleanError, reason
from vidclean.io import atomic
from vidclean.jobs.segments import Part, PartMismatch, clean_part, join_parts, part_suffix
from vidclean.options import CleanOptions
from vidclean.presets import refiner_weights_path, weights_path

MANIFEST = "manifest.json"


def parts_folder(dst: str | os.PathLike) -> Path:
    """The hidden folder beside ``dst`` where its finished parts wait."""
    dst = Path(os.path.abspath(dst))
    return dst.with_name(f".{dst.name}.vidclean-parts")


def _manifest(src: str, options: CleanOptions, codec: str, parts: list[Part]) -> dict:
    """What the parts are made from: the input as it is on disk, the options that shape the frames
    and their encoding, the networks' weights and vidclean's version, and the plan."""
    stat = os.stat(src)
    settings = {k: v for k, v in asdict(options).items() if k not in ("overwrite", "strict")}
    weights = [Path(options.weights or weights_path(options.preset)), refiner_weights_path(options.preset)]
    return {"input": os.path.abspath(src), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "options": {**settings, "codec": codec}, "version": __version__,
            "weights": [[str(w), w.stat().st_size, w.stat().st_mtime_ns] for w in weights if w.is_file()],
            "parts": [[p.start, p.stop, p.read_from] for p in parts]}


def _records(folder: Path) -> list[Path]:
    """The records (JSON) of the finished parts in ``folder``."""
    return [p for p in folder.glob("*.json") if p.name != MANIFEST]


def finished_parts(dst: str | os.PathLike) -> int:
    """How many finished parts are kept beside ``dst`` for a run to continue from."""
    return len(_records(parts_folder(dst)))


def _done_parts(folder: Path, manifest: dict, suffix: str, notes: list[str]) -> dict[int, tuple[int, float]]:
    """The parts an earlier run finished, by index: (frames, sum of noise levels). Parts of another
    input or other options, and any unfinished file, are removed."""
    if not folder.is_dir():
        return {}
    try:
        earlier = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        earlier = None
    if earlier != manifest:
        what = "another input or other options" if earlier else "an unknown run"
        notes.append(f"the parts of an earlier run were for {what}: started afresh")
        shutil.rmtree(folder, ignore_errors=True)
        return {}
    done = {}
    for entry in folder.glob(".*"):  # part files still being written when that run stopped
        entry.unlink(missing_ok=True)
    for entry in _records(folder):
        try:
            record = json.loads(entry.read_text())
            if (folder / f"{entry.stem}{suffix}").is_file():
                done[int(entry.stem)] = (int(record["frames"]), float(record["sigma_total"]))
        except (OSError, ValueError, KeyError):
            pass
    return done


def clean_in_parts(src: str, dst: str, options: CleanOptions, parts: list[Part], codec: str,
                   make_denoiser: Callable[[], object], on_frame: Callable[[float], object] | None = None,
                   on_resume: Callable[[int, float], object] | None = None) -> tuple[int, float, list[str]]:
    """Cleans ``src`` into ``dst`` part by part, continuing an earlier run's parts where they match.

    Args:
        parts: the plan (``segments.plan_parts``).
        codec: the encoder of the output (and so of every part).
        make_denoiser: builds the Denoiser, called only if a part is left to clean.
        on_frame: called after each frame cleaned now, with the noise level in use.
        on_resume: called with the frames an earlier run had done and their mean noise level, before
            any is cleaned.

    Returns:
        (frames in the output, sum of their noise levels, notes).

    Raises:
        PartMismatch: the frames decoded are not the planned ones, or the parts do not join (clean
            the file in one pass instead).
    """
    notes: list[str] = []
    folder = parts_folder(dst)
    suffix = part_suffix(codec)
    manifest = _manifest(src, options, codec, parts)
    done = _done_parts(folder, manifest, suffix, notes)
    try:
        folder.mkdir(exist_ok=True)
        atomic.write_bytes(folder / MANIFEST, json.dumps(manifest).encode())
    except OSError as exc:
        raise VidcleanError(f"{folder}: cannot keep the parts of {dst} there ({reason(exc)})") from None
    earlier = sum(frames for frames, _ in done.values())
    if earlier:
        notes.append(f"continued an interrupted run: {earlier} of {parts[-1].stop} frames were already done")
        if on_resume is not None:
            on_resume(earlier, sum(s for _, s in done.values()) / earlier)
    options = replace(options, codec=codec)
    denoiser = None
    for part in parts:
        if part.index in done:
            continue
        denoiser = denoiser or make_denoiser()
        name = f"{part.index:05d}"
        report = None if on_frame is None else (lambda d=denoiser: on_frame(d.last_sigma))
        path = folder / f"{name}{suffix}"
        frames, sigma_total = clean_part(src, part, denoiser, options, str(path), report)
        try:
            atomic.sync(path)  # on disk before its record says it is done (a power cut)
            atomic.write_bytes(folder / f"{name}.json",
                               json.dumps({"frames": frames, "sigma_total": sigma_total}).encode())
        except OSError as exc:
            raise VidcleanError(f"{folder}: cannot keep the parts of {dst} there ({reason(exc)})") from None
        done[part.index] = (frames, sigma_total)
    files = [str(folder / f"{p.index:05d}{suffix}") for p in parts]
    try:
        notes += join_parts(src, files, dst, options.overwrite)
    except VidcleanError as exc:  # parts that do not join (or one damaged since): the file in one pass
        if "already exists" in str(exc):
            raise
        raise PartMismatch(f"{dst}: the parts did not join ({exc})") from None
    shutil.rmtree(folder, ignore_errors=True)
    return sum(f for f, _ in done.values()), sum(s for _, s in done.values()), notes


def discard_parts(dst: str | os.PathLike) -> None:
    """Removes the parts kept for ``dst`` (the file is cleaned whole after all)."""
    shutil.rmtree(parts_folder(dst), ignore_errors=True)
