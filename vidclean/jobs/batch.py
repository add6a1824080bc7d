"""Batch mode: every video under a folder, cleaned into the same tree under another.

    vidclean batch raw/ clean/ [--ext mkv] [--force] [cleaning options]

Files are found by extension, cleaned one after another with one set of networks (each file
already keeps every core busy: decoding, the model and encoding run side by side), and written
under the output folder with the same relative names. With ``--ray`` the files (and parts of
long ones) are Ray tasks instead (vidclean.jobs.distributed). An output appears only once complete (the
writer renames it into place), so one that exists is whole: a second run skips it, ``--force``
redoes it. A file that fails is reported and skipped; the exit status is 2 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vidclean.errors import VidcleanError

# Extensions taken for videos (compared lower-case).
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                    ".wmv", ".flv", ".3gp", ".ogv", ".mxf", ".dv", ".y4m", ".nut"}

EXAMPLES = """\
examples:
  vidclean batch raw/ clean/                    every video under raw/, the same tree under clean/
  vidclean batch raw/ clean/ --preset fast      the fast preset for all
  vidclean batch raw/ clean/ --ext mkv --codec ffv1   lossless Matroska outputs
  vidclean batch raw/ clean/ --force            clean again files already done
  vidclean batch raw/ clean/ --ray auto         on the Ray cluster this machine belongs to
  vidclean batch raw/ clean/ --ray ray://head:10001   on a named Ray cluster
  vidclean batch raw/ clean/ --ray local        a Ray cluster of this machine alone
"""


@dataclass
class Entry:
    src: Path
    dst: Path
    status: str = "to do"  # to do, done, already done (an earlier run), failed: ...
    frames: int = 0
    seconds: float = 0.0
    sigma: float | None = None

    def fail(self, exc: BaseException, quiet: bool) -> None:
        """Marks the file failed (the reason in the summary; with ``quiet``, at once on stderr)."""
        self.status = f"failed: {exc if isinstance(exc, VidcleanError) else f'{self.src}: {exc!r}'}"
        if quiet:
            print(f"vidclean: error: {self.status[len('failed: '):]}", file=sys.stderr)


def find_videos(root: Path, exclude: Path | None = None) -> list[Path]:
    """Video files under ``root`` (hidden files and folders, and ``exclude``, left out), sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (exclude is None or here / d != exclude))
        found += [here / f for f in sorted(files) if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return found


def plan(in_root: Path, out_root: Path, ext: str | None, force: bool) -> list[Entry]:
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
        entries.append(Entry(src, dst, "to do" if force or not dst.exists() else "already done"))
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
    from vidclean.io.reader import open_video

    try:
        with open_video(path) as stream:
            return stream.info.frame_count
    except VidcleanError:
        return None


def run_batch(args) -> int:
    from tqdm import tqdm

    from vidclean.cli.main import raise_if_signalled
    from vidclean.jobs.file import clean_file, make_denoiser

    in_root, out_root = Path(args.input_dir), Path(args.output_dir)
    args.overwrite = args.force  # an output that exists is replaced only with --force
    ext = None if args.ext is None else "." + args.ext  # _extension took off any leading dot
    entries = plan(in_root, out_root, ext, args.force)
    todo = [e for e in entries if e.status == "to do"]
    if not entries:
        raise VidcleanError(f"{in_root}: no video files found (extensions: {', '.join(sorted(VIDEO_EXTENSIONS))})")
    if args.ray:
        from vidclean.jobs.distributed import import_ray

        import_ray()  # before any work: without Ray, say how to install it
    start = time.time()
    totals = [frame_count(e.src) for e in todo]
    bar = tqdm(total=None if None in totals else sum(totals), unit="frame", dynamic_ncols=True,
               disable=args.quiet or not sys.stderr.isatty())
    if args.ray:
        from vidclean.jobs.distributed import run_batch_ray

        try:
            run_batch_ray(args, todo, bar)
        finally:
            bar.close()
        return finish(entries, in_root, start, args)
    denoiser = make_denoiser(args) if todo else None  # the networks load once, for every file

    def progress(count, sigma):
        raise_if_signalled()
        bar.update()

    try:
        for i, (entry, total) in enumerate(zip(todo, totals)):
            bar.set_description(f"file {i + 1}/{len(todo)}")
            done = bar.n
            try:
                entry.dst.parent.mkdir(parents=True, exist_ok=True)
                result = clean_file(str(entry.src), str(entry.dst), args, progress, denoiser=denoiser)
            except Exception as exc:  # noqa: BLE001 - one file's failure, whatever it is, must not stop the batch
                entry.fail(exc, args.quiet)
                if total:  # the frames it will not give
                    bar.update(max(done + total - bar.n, 0))
                continue
            entry.status, entry.frames, entry.seconds, entry.sigma = "done", result.frames, result.seconds, result.sigma
    finally:
        bar.close()
    return finish(entries, in_root, start, args)


def finish(entries: list[Entry], in_root: Path, start: float, args) -> int:
    """Prints the summary (unless quiet); the exit status: 2 if any file failed."""
    if not args.quiet:
        print_summary(entries, in_root.resolve(), time.time() - start)
    return 2 if any(e.status.startswith("failed") for e in entries) else 0


def print_summary(entries: list[Entry], in_root: Path, seconds: float) -> None:
    rows = [(str(e.src.relative_to(in_root)), str(e.frames) if e.frames else "-",
             f"{e.seconds:.1f}" if e.seconds else "-", f"{e.sigma:.1f}" if e.sigma is not None else "-", e.status)
            for e in entries]
    header = ("file", "frames", "seconds", "sigma", "status")
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(4)]
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) if c == 0 else v.rjust(w) for c, (v, w) in enumerate(zip(row[:4], widths)))
              + "  " + row[4], file=sys.stderr)
    done = [e for e in entries if e.status == "done"]
    frames = sum(e.frames for e in done)
    failed = sum(e.status.startswith("failed") for e in entries)
    skipped = sum(e.status == "already done" for e in entries)
    print(f"vidclean: batch: {len(done)} cleaned, {skipped} already done, {failed} failed; {frames} frames in "
          f"{seconds:.1f}s ({len(done) / seconds:.2f} files/s, {frames / seconds:.1f} frames/s)", file=sys.stderr)


def _extension(value: str) -> str:
    ext = value.lstrip(".")
    if not ext or not ext.isalnum():
        raise argparse.ArgumentTypeError(f"expected a file extension such as mkv, got {value!r}")
    return ext


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    from vidclean.cli.main import add_cleaning_options

    p = argparse.ArgumentParser(
        prog="vidclean batch",
        description="Clean every video under INPUT_DIR into the same tree under OUTPUT_DIR. Outputs that "
                    "exist are complete (each appears only when done) and are skipped unless --force.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input_dir", help="folder of videos (searched recursively)")
    p.add_argument("output_dir", help="where the cleaned videos go, same names and sub-folders")
    p.add_argument("--ext", type=_extension, default=None, metavar="EXT",
                   help="output extension, e.g. mkv (default: each input's own)")
    p.add_argument("--force", action="store_true", help="clean again files whose output exists")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on a Ray cluster: auto (the one this machine belongs to), local (start one here), "
                        "or an address such as ray://head:10001; needs pip install 'vidclean[ray]'")
    p.add_argument("--segment-frames", type=_positive, default=1024, metavar="N",
                   help="with --ray, MP4/MOV and Matroska videos of at least two parts are cut into parts "
                        "of about N frames (N rounded up to a multiple of 128), cleaned on different workers and "
                        "joined (default: 1024)")
    add_cleaning_options(p)
    return p
