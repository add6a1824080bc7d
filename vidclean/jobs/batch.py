"""Batch mode: every video under a folder, cleaned into the same tree under another.

    entries = plan(Path("raw"), Path("clean"), ext=None, overwrite=False)
    run_batch(entries, CleanOptions(preset="fast"))

Files are found by extension, cleaned one after another with one set of networks (each file
already keeps every core busy: decoding, the model and encoding run side by side), and written
under the output folder with the same relative names. With ``--ray`` the files (and parts of
long ones) are Ray tasks instead (vidclean.jobs.distributed). An output appears only once complete (the
writer renames it into place), so one that exists is whole: a second run skips it, ``overwrite``
redoes it. A file that fails is marked failed and the batch goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vidclean.errors import VidcleanError
from vidclean.io.reader import open_video
from vidclean.jobs.distributed import import_ray, run_batch_ray
from vidclean.jobs.file import clean_file
from vidclean.options import CleanOptions

# Extensions taken for videos (compared lower-case).
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                    ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".y4m", ".nut"}


@dataclass
class Entry:
    src: Path
    dst: Path
    status: str = "to do"  # to do, done, already done (an earlier run), failed: ...
    frames: int = 0
    seconds: float = 0.0
    sigma: float | None = None

    def fail(self, exc: BaseException) -> None:
        """Marks the file failed, with the reason."""
        self.status = f"failed: {exc if isinstance(exc, VidcleanError) else f'{self.src}: {exc!r}'}"


def find_videos(root: Path, exclude: Path | None = None) -> list[Path]:
    """Video files under ``root`` (hidden files and folders, and ``exclude``, left out), sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (exclude is None or here / d != exclude))
        found += [here / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return found


def plan(in_root: Path, out_root: Path, ext: str | None, overwrite: bool) -> list[Entry]:
    """One entry per input video: its output path, and whether an earlier run completed it."""
    if not in_root.is_dir():
        raise VidcleanError(f"{in_root}: not a folder")
    if out_root.exists() and not out_root.is_dir():
        raise VidcleanError(f"{out_root}: exists and is not a folder")
    if out_root.resolve() == in_root.resolve():
        raise VidcleanError(f"{out_root}: is the input folder; the outputs need a folder of their own")
    exclude = out_root.resolve() if out_root.resolve().is_relative_to(in_root.resolve()) else None
    entries = []
    for src in find_videos(in_root.resolve(), exclude):
        rel = src.relative_to(in_root.resolve())
        dst = out_root / (rel.with_suffix(ext) if ext else rel)
        entries.append(Entry(src, dst, "to do" if overwrite or not dst.exists() else "already done"))
    inputs, outputs = {e.src for e in entries}, {}
    for e in entries:
        target = e.dst.resolve()
        if target in inputs:
            raise VidcleanError(f"{e.dst}: output of {e.src} would overwrite an input")
        if target in outputs:
            raise VidcleanError(f"{e.dst}: output of both {outputs[target]} and {e.src} (use another --ext?)")
        outputs[target] = e.src
    return entries


def frame_count(path: Path) -> int | None:
    """Frames the file's header announces (None if it says nothing, or cannot be read)."""
    try:
        with open_video(path) as stream:
            return stream.info.frame_count
    except VidcleanError:
        return None


class BatchProgress:
    """What a batch reports as it goes; this one does nothing (the command line's shows a bar)."""

    def start(self, total_frames: int | None) -> None:
        """The batch starts: the frames of every file to clean, if their headers all say."""

    def file(self, number: int, count: int) -> None:
        """File ``number`` (from 1) of ``count`` starts (one machine only; Ray's run side by side)."""

    def frames(self, n: int) -> None:
        """``n`` more frames cleaned (negative: a file's frames taken back, to be done again whole)."""

    def failed(self, entry: Entry) -> None:
        """``entry`` failed (its status says why) and the batch goes on."""


def run_batch(entries: list[Entry], options: CleanOptions, *, ray: str | None = None, segment_frames: int = 1024,
              progress: BatchProgress | None = None) -> None:
    """Cleans the entries still to do, setting each one's status, frames, seconds and sigma.

    Args:
        entries: from ``plan``.
        options: the cleaning options of every file (``overwrite``: redo outputs that exist).
        ray: a Ray cluster's address ("auto", "local", "ray://..."); None: on this machine.
        segment_frames: with Ray, long MP4/MOV and Matroska files are cut into parts of about this many frames.
        progress: told of each file and frame.
    """
    progress = progress or BatchProgress()
    todo = [e for e in entries if e.status == "to do"]
    if ray:
        import_ray()  # before any work: without Ray, say how to install it
    totals = [frame_count(e.src) for e in todo]
    progress.start(None if None in totals else sum(totals))
    if ray:
        run_batch_ray(todo, options, ray, segment_frames, progress)
        return
    denoiser = options.denoiser() if todo else None  # the networks load once, for every file
    for i, (entry, total) in enumerate(zip(todo, totals)):
        progress.file(i + 1, len(todo))
        done = [0]

        def count(n, file_total, sigma):  # (n jumps past an earlier run's frames when a file continues)
            progress.frames(n - done[0])
            done[0] = n

        try:
            entry.dst.parent.mkdir(parents=True, exist_ok=True)
            result = clean_file(str(entry.src), str(entry.dst), options, count, denoiser=denoiser)
        except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, must not stop the batch
            entry.fail(exc)
            progress.failed(entry)
            if total:  # the frames it will not give
                progress.frames(max(total - done[0], 0))
            continue
        entry.status, entry.frames, entry.seconds, entry.sigma = "done", result.frames, result.seconds, result.sigma


def summary(entries: list[Entry], in_root: Path, seconds: float) -> list[str]:
    """The batch's table, a row per file, and its closing line."""
    rows = [(str(e.src.relative_to(in_root)), str(e.frames) if e.frames else "-",
             f"{e.seconds:.1f}" if e.seconds else "-", f"{e.sigma:.1f}" if e.sigma is not None else "-", e.status)
            for e in entries]
    header = ("file", "frames", "seconds", "sigma", "status")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    lines = ["  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(row[:4], widths)))
             + "  " + row[4] for row in [header, *rows]]
    done = [e for e in entries if e.status == "done"]
    frames = sum(e.frames for e in done)
    failed = sum(e.status.startswith("failed") for e in entries)
    skipped = sum(e.status == "already done" for e in entries)
    lines.append(f"vidclean: batch: {len(done)} cleaned, {skipped} already done, {failed} failed; {frames} frames in "
                 f"{seconds:.1f}s ({len(done) / seconds:.2f} files/s, {frames / seconds:.1f} frames/s)")
    return lines
