"""The ``vidclean`` command: argparse subcommands over the library.

    vidclean [clean] INPUT OUTPUT [options]      one file (the default command)
    vidclean batch IN_DIR OUT_DIR [options]      every video under a folder (optionally on Ray)
    vidclean live [SOURCE] / --webcam [SOURCE]   live preview window
    vidclean export --format onnx DIR            the networks as ONNX models
    vidclean train / train-refiner / bench       training and benchmarks (their own options)

A thin layer: it parses options into a CleanOptions / LiveOptions, calls the library, shows
progress, and turns every user-facing problem into one line on stderr and exit status 2
(vidclean.cli.signals).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from vidclean._version import __version__
from vidclean.cli.signals import guarded, leave, raise_if_signalled
from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError
from vidclean.io.writer import PIPE_FORMATS, SPEED_PRESETS, OutputClosed
from vidclean.jobs.batch import VIDEO_EXTENSIONS, BatchProgress, plan, run_batch, summary
from vidclean.jobs.file import clean_file
from vidclean.jobs.resume import finished_parts
from vidclean.options import MIN_TILE, PART_FRAMES, CleanOptions, LiveOptions, live_default_preset
from vidclean.presets import DEFAULT_WINDOW, ENCODER_PRESET, PRESETS, check_window

USAGE = """vidclean [clean] INPUT OUTPUT [options] [-y]
       vidclean batch INPUT_DIR OUTPUT_DIR [options] [-y]
       vidclean live [SOURCE] [options]          (or: vidclean --webcam [SOURCE])
       vidclean export --format onnx DIR [--preset P] [-y]
       vidclean {train,train-refiner,bench} ...   (vidclean COMMAND --help)"""

EXAMPLES = """\
examples:
  vidclean noisy.mp4 clean.mp4                  estimate the noise level, window of 5 frames
  vidclean noisy.mp4 clean.mp4 --sigma 25       noise level given by hand (0-255 scale)
  vidclean in.mov out.mkv --codec ffv1 -y       lossless RGB output, overwrite if it exists
  vidclean in.mp4 out.mp4 --codec h265 --crf 22
  vidclean in.mp4 out.webm                      VP9 (and Opus audio) for WebM
  ffmpeg -i in.mov -f yuv4mpegpipe - | vidclean - - | ffmpeg -i - out.mp4     between two ffmpeg commands
  vidclean in.mp4 out.mp4 --preset quality      the best quality shipped, and the slowest
  vidclean batch raw/ clean/                    every video under raw/, the same tree under clean/
  vidclean batch raw/ clean/ --ray auto         the same on a Ray cluster
  vidclean live                                 live preview of the default camera, cleaned
  vidclean export --format onnx models/         every preset's networks as ONNX models (docs/onnx.md)
  vidclean train --help                         train the network from clean clips
  vidclean train-refiner --help                 train the quality preset's refiner (after the fusion)
  vidclean bench --help                         compare quality against OpenCV, FFmpeg (and FFDNet) denoisers
  vidclean bench --speed --help                 measure fps and memory per preset and frame size
"""

# subcommands whose options their own modules parse (training and benchmarks)
DELEGATED = ("train", "train-refiner", "bench")
COMMANDS = ("clean", "batch", "live", "export", *DELEGATED)


def _sigma(value: str):
    if value == "auto":
        return None
    try:
        sigma = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None
    if not 0 <= sigma <= 100:
        raise argparse.ArgumentTypeError(f"noise level must be between 0 and 100, got {value}")
    return sigma


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {value!r}") from None
    if not (8 <= width <= 8192 and 8 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"width and height must be between 8 and 8192, got {value}")
    return width, height


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return seconds


def _window(value: str) -> int:
    try:
        return check_window(int(value))
    except ValueError as e:
        message = str(e) if value.strip().lstrip("-").isdigit() else f"expected an odd integer, got {value!r}"
        raise argparse.ArgumentTypeError(message) from None


def _tile(value: str) -> int:
    try:
        tile = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile size in pixels, got {value!r}") from None
    if tile < MIN_TILE:
        raise argparse.ArgumentTypeError(f"tile size must be at least {MIN_TILE} pixels, got {tile}")
    return tile


def add_cleaning_options(p: argparse.ArgumentParser) -> None:
    """The model and output options that cleaning one file and a batch of files share."""
    p.add_argument("--sigma", type=_sigma, default=None, metavar="N|auto",
                   help="noise level on the 0-255 scale, or 'auto' to estimate it (default: auto)")
    p.add_argument("--window", type=_window, default=DEFAULT_WINDOW, metavar="N",
                   help="odd number of frames each output frame sees (default: %(default)s)")
    p.add_argument("--preset", default="balanced", choices=sorted(PRESETS), help="model preset (default: balanced)")
    p.add_argument("--no-fusion", action="store_true",
                   help="skip the motion-compensated averaging of each cleaned frame with the 2 before and after "
                        "it (optical flow) and quality's refiner after it: faster, a little less clean; better on "
                        "fine texture moving every which way with little noise")
    p.add_argument("--tile", type=_tile, default=None, metavar="N",
                   help="clean frames in overlapping NxN tiles (default: only frames too large for free memory)")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--codec", default=None, metavar="C",
                   help="output video codec: h264, h265 (hevc), vp9, av1, ffv1 (lossless), prores, or an FFmpeg "
                        "encoder's name such as libx264 (default: VP9 for .webm, raw video for .y4m/.nut, H.264 "
                        "otherwise)")
    p.add_argument("--crf", type=int, default=None,
                   help="constant rate factor for x264/x265/vp9 (default: 17, visually lossless)")
    p.add_argument("--pix-fmt", default=None, help="output pixel format (default: yuv420p; RGB for ffv1)")
    p.add_argument("--encoder-preset", default=None, choices=SPEED_PRESETS, metavar="P",
                   help="x264/x265 speed preset, ultrafast ... veryslow (default: "
                        + ", ".join(f"{v} with --preset {k}" for k, v in ENCODER_PRESET.items())
                        + "; slower ones make smaller files)")
    p.add_argument("--precision", default="auto", choices=("auto", "float32"),
                   help="auto (default): the network's convolutions in bfloat16 where the CPU computes in "
                        "bfloat16 (AMX or AVX-512 BF16); float32: always float32")
    p.add_argument("--strict", action="store_true",
                   help="treat any damaged or missing frame in the input as an error (default: skip them, with a note)")
    p.add_argument("--part-frames", type=_whole(0), default=PART_FRAMES, metavar="N",
                   help="a long file is cleaned in parts of about N frames, kept beside the output until joined: "
                        "a run that was stopped continues where it was when run again (default: %(default)s; "
                        "0: in one pass)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def clean_options(args: argparse.Namespace) -> CleanOptions:
    """The CleanOptions of parsed cleaning options."""
    return CleanOptions(preset=args.preset, window=args.window, sigma=args.sigma, fusion=not args.no_fusion,
                        tile=args.tile, precision=args.precision, weights=args.weights, codec=args.codec,
                        crf=args.crf, pix_fmt=args.pix_fmt, encoder_preset=args.encoder_preset,
                        overwrite=args.overwrite, strict=args.strict, format=getattr(args, "format", None),
                        part_frames=args.part_frames)


def build_parser() -> argparse.ArgumentParser:
    """The command's parser: a subcommand per job (``clean`` is the default)."""
    p = argparse.ArgumentParser(prog="vidclean", usage=USAGE,
                                description="Denoise videos with a per-frame CNN and a ConvLSTM over time.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"vidclean {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    clean = sub.add_parser("clean", prog="vidclean", usage="vidclean [clean] INPUT OUTPUT [options] [-y]",
                           help="clean one video (the default: vidclean INPUT OUTPUT)",
                           description="Clean one video: decode, denoise, encode; the output appears when complete.",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    clean.add_argument("input", help="video file to clean (any container/codec FFmpeg reads), or - for a stream "
                                     "on standard input (y4m, NUT, Matroska)")
    clean.add_argument("output", help="cleaned video; the container follows the extension; - for a stream on "
                                      "standard output (see --format)")
    add_cleaning_options(clean)
    clean.add_argument("--format", choices=sorted(PIPE_FORMATS), default=None,
                       help="with - as OUTPUT: the stream's format (default: y4m, raw frames; nut: raw frames "
                            "with audio; matroska: lossless FFV1)")

    batch = sub.add_parser("batch", prog="vidclean batch", usage="vidclean batch INPUT_DIR OUTPUT_DIR [options] [-y]",
                           help="clean every video under a folder", epilog=BATCH_EXAMPLES,
                           description="Clean every video under INPUT_DIR into the same tree under OUTPUT_DIR. "
                                       "Outputs that exist are complete (each appears only when done) and are "
                                       "skipped unless -y.",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    batch.add_argument("input_dir", help="folder of videos (searched recursively)")
    batch.add_argument("output_dir", help="where the cleaned videos go, same names and sub-folders")
    batch.add_argument("--ext", type=_extension, default=None, metavar="EXT",
                       help="output extension, e.g. mkv (default: each input's own)")
    batch.add_argument("--ray", metavar="ADDRESS",
                       help="run on a Ray cluster: auto (the one this machine belongs to), local (start one here), "
                            "or an address such as ray://head:10001; needs pip install 'vidclean[ray]'")
    batch.add_argument("--segment-frames", type=_whole(1), default=1024, metavar="N",
                       help="with --ray, MP4/MOV and Matroska videos of at least two parts are cut into parts of "
                            "about N frames (rounded up to a multiple of the state period), cleaned on different "
                            "workers and joined (default: 1024)")
    add_cleaning_options(batch)
    batch.add_argument("--force", dest="overwrite", action="store_true", help=argparse.SUPPRESS)  # former name of -y

    default_preset = live_default_preset()
    live = sub.add_parser("live", prog="vidclean live",
                          usage="vidclean live [SOURCE] [options]\n       vidclean --webcam [SOURCE] [options]",
                          help="live preview of a camera, cleaned", epilog=LIVE_EXAMPLES,
                          description="Live preview: clean a camera (or a video played as one) in a window, frame by "
                                      "frame with no look-ahead; frames are dropped, never queued, when the model is "
                                      "slower.",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    live.add_argument("--webcam", nargs="?", const="0", default=None, metavar="SOURCE", help=argparse.SUPPRESS)
    live.add_argument("source", nargs="?", help="camera index or device path, or a video file / URL (default: 0)")
    live.add_argument("--preset", default=default_preset, choices=sorted(PRESETS),
                      help=f"model preset (default: {default_preset})")
    live.add_argument("--sigma", type=_sigma, default=None, metavar="N|auto",
                      help="noise level on the 0-255 scale, or 'auto' to estimate it (default: auto); +/- change it")
    live.add_argument("--size", type=_size, default=None, metavar="WxH",
                      help="scale the capture to this size (a camera is asked for it first)")
    live.add_argument("--fusion", action="store_true",
                      help="average each cleaned frame with the 2 before it, warped along the motion (as files are "
                           "by default, there with the 2 after it too): cleaner, but each frame takes longer, so "
                           "more are dropped (default: off)")
    live.add_argument("--view", default="split", choices=("split", "clean", "raw"),
                      help="view at start (default: split)")
    live.add_argument("--snapshot-dir", default=".", metavar="DIR", help="where s saves PNG snapshots (default: .)")
    live.add_argument("--record-dir", default=".", metavar="DIR", help="where r saves recordings (default: .)")
    live.add_argument("--duration", type=_seconds, default=None, metavar="SECONDS",
                      help="stop after this long (default: until q)")
    live.add_argument("--weights", help=argparse.SUPPRESS)
    live.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    export = sub.add_parser("export", prog="vidclean export", usage="vidclean export --format onnx DIR [--preset P] [-y]",
                            help="write the networks as ONNX models",
                            description="Write each preset's networks as ONNX models, with a vidclean.json that says "
                                        "how to step them (docs/onnx.md), to DIR/PRESET/. Needs tf2onnx: pip install "
                                        "'vidclean[onnx]'.")
    export.add_argument("folder", metavar="DIR", help="where the presets' folders go (made if missing)")
    export.add_argument("--format", default="onnx", choices=("onnx",), help="model format (default: onnx)")
    export.add_argument("--preset", action="append", choices=sorted(PRESETS), metavar="P",
                        help="a preset to export; repeat for more (default: all)")
    export.add_argument("-y", "--overwrite", action="store_true", help="replace models that exist")
    export.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    helps = {"train": "train a preset's networks from clean clips",
             "train-refiner": "train the quality preset's refiner",
             "bench": "quality benchmark against other denoisers; bench --speed: fps and memory"}
    for name in DELEGATED:  # their own modules parse the rest (vidclean COMMAND --help)
        delegated = sub.add_parser(name, prog=f"vidclean {name}", help=helps[name], add_help=False, prefix_chars="\0")
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _command_argv(argv: list[str]) -> list[str]:
    """``argv`` with its subcommand named: ``clean`` where none is (``vidclean IN OUT``), ``live``
    for ``--webcam`` anywhere in the main command's arguments."""
    if argv and argv[0] in COMMANDS:
        return argv
    if any(a == "--webcam" or a.startswith("--webcam=") for a in argv):
        return ["live", *argv]
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return argv
    return ["clean", *argv]


LIVE_EXAMPLES = """\
SOURCE is a camera index (default 0), a camera device path, or a video file or stream URL,
which is played at its own frame rate, in a loop, as if it were a camera.

examples:
  vidclean --webcam                             the default camera, cleaned, split view against the raw
  vidclean --webcam 1                           camera index 1
  vidclean --webcam /dev/video2 --size 640x480  a device path; the capture scaled to 640x480
  vidclean --webcam clip.mp4 --sigma 20         a video file played as a camera, noise level fixed
  vidclean live 1 --preset balanced             the same as a subcommand

keys in the window:
  q, Esc   quit (closing the window does too)   space  cycle the view: split / clean / raw
  + / -    stronger / weaker (noise level)       a      noise level back to auto
  s        save a PNG snapshot of the cleaned picture
  r        start / stop recording the cleaned stream (H.264 .mp4, finalised on stop or quit)
"""


BATCH_EXAMPLES = """\
examples:
  vidclean batch raw/ clean/                    every video under raw/, the same tree under clean/
  vidclean batch raw/ clean/ --preset fast      the fast preset for all
  vidclean batch raw/ clean/ --ext mkv --codec ffv1   lossless Matroska outputs
  vidclean batch raw/ clean/ -y                 clean again files already done (--force too)
  vidclean batch raw/ clean/ --ray auto         on the Ray cluster this machine belongs to
  vidclean batch raw/ clean/ --ray ray://head:10001   on a named Ray cluster
  vidclean batch raw/ clean/ --ray local        a Ray cluster of this machine alone
"""


def _extension(value: str) -> str:
    ext = value.lstrip(".")
    if not ext or not ext.isalnum():
        raise argparse.ArgumentTypeError(f"expected a file extension such as mkv, got {value!r}")
    return ext


def _whole(least: int):
    """An argparse type: a whole number, ``least`` or more."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = least - 1
        if number < least:
            what = "a positive whole number" if least == 1 else f"a whole number, {least} or more"
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return number

    return parse


def _bar(total: int | None, quiet: bool) -> tqdm:
    """A progress bar of frames (fps and ETA), on a terminal only."""
    return tqdm(total=total, unit="frame", dynamic_ncols=True, disable=quiet or not sys.stderr.isatty())


def denoise_file(args: argparse.Namespace) -> None:
    """``vidclean IN OUT``: one file, with a progress bar on a terminal and a closing line."""
    options = clean_options(args)
    bars = []  # the bar appears with the first cleaned frame: after the checks, which may fail

    def progress(done, total, sigma):
        raise_if_signalled()
        if not bars:
            bars.append(_bar(total, args.quiet))
        bars[0].update(done - bars[0].n)  # (a continued run starts with an earlier run's frames)
        if args.sigma is None:
            bars[0].set_postfix(sigma=f"{sigma:.1f}", refresh=False)

    try:
        result = clean_file(args.input, args.output, options, progress)
    except OutputClosed:  # the program reading our standard output stopped: nothing to say
        return
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        for note in result.notes:
            print(f"vidclean: note: {note}", file=sys.stderr)
        sigma = f"sigma {args.sigma:g}" if args.sigma is not None else f"sigma auto {result.sigma:.1f}"
        print(f"vidclean: {result.frames} frames in {result.seconds:.1f}s ({result.frames / result.seconds:.2f} fps), "
              f"{sigma} -> {args.output}", file=sys.stderr)


def export_main(args: argparse.Namespace) -> None:
    """``vidclean export``: the presets' networks as ONNX models, and a line naming where."""
    from vidclean.export.onnx import export_onnx

    written = export_onnx(args.folder, args.preset, overwrite=args.overwrite)
    if not args.quiet:
        folders = sorted({str(path.parent) for path in written})
        print(f"vidclean: {len(written)} files written to {', '.join(folders)}", file=sys.stderr)


class _BatchBar(BatchProgress):
    """A batch's progress as a tqdm bar on a terminal; failures at once on stderr with -q."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def start(self, total_frames):
        self.bar = _bar(total_frames, self.quiet)

    def file(self, number, count):
        self.bar.set_description(f"file {number}/{count}")

    def frames(self, n):
        raise_if_signalled()
        self.bar.update(n)

    def failed(self, entry):
        if self.quiet:
            print(f"vidclean: error: {entry.status[len('failed: '):]}", file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def batch_main(args: argparse.Namespace) -> int:
    """``vidclean batch``: the files, a bar, the summary; exit status 2 if any file failed."""
    in_root, out_root = Path(args.input_dir), Path(args.output_dir)
    ext = None if args.ext is None else "." + args.ext  # _extension took off any leading dot
    options = clean_options(args)
    entries = plan(in_root, out_root, ext, options.overwrite)
    if not entries:
        raise VidcleanError(f"{in_root}: no video files found (extensions: {', '.join(sorted(VIDEO_EXTENSIONS))})")
    start = time.time()
    bar = _BatchBar(args.quiet)
    try:
        run_batch(entries, options, ray=args.ray, segment_frames=args.segment_frames, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        for line in summary(entries, in_root.resolve(), time.time() - start):
            print(line, file=sys.stderr)
    return 2 if any(e.status.startswith("failed") for e in entries) else 0


def live_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``vidclean live`` / ``--webcam``: the preview window until q."""
    if args.webcam is not None and args.source is not None:
        parser.error(f"two sources given: --webcam {args.webcam} and {args.source}")
    source = args.webcam if args.webcam is not None else (args.source if args.source is not None else "0")

    def job():
        from vidclean.cli.live import run_live  # OpenCV's window: only for the preview

        run_live(LiveOptions(source=source, preset=args.preset, sigma=args.sigma, size=args.size, fusion=args.fusion,
                             view=args.view, snapshot_dir=args.snapshot_dir, record_dir=args.record_dir,
                             duration=args.duration, weights=args.weights, quiet=args.quiet))

    return guarded(job, "")


def delegated_main(command: str, rest: list[str]) -> int:
    """Training and benchmarks: their modules parse their own options (Keras loaded quietly first)."""
    return guarded(lambda: _delegated(command, rest), "", one_signal_thread=False)  # (--processes starts processes)


def _delegated(command: str, rest: list[str]) -> int:
    load_keras()
    if command == "train":
        from vidclean.training.train import main as run
    elif command == "train-refiner":
        from vidclean.training.train_refiner import main as run
    elif "--speed" in rest:
        from vidclean.bench.speed import main as run

        rest = [a for a in rest if a != "--speed"]
    else:
        from vidclean.bench.quality import main as run

        rest = [a for a in rest if a != "--quality"]
    return run(rest) or 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command with ``argv`` (default: the process's); returns its exit status."""
    argv = _command_argv(sys.argv[1:] if argv is None else list(argv))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as vidclean.core.backend.load_keras sets it
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in DELEGATED:
        return delegated_main(args.command, args.rest)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "live":
        return live_main(args, parser)
    if args.command == "batch":
        return guarded(lambda: batch_main(args), "", one_signal_thread=not args.ray)
    if args.command == "export":
        return guarded(lambda: export_main(args), "")

    def aftermath() -> str:
        kept = args.output != "-" and finished_parts(args.output)
        return "; no output written" + ("; its finished parts are kept: run the same command to continue"
                                        if kept else "")

    return guarded(lambda: denoise_file(args), aftermath)


def entry() -> None:
    """The console script: ``main()``, then exit with its status (vidclean.cli.signals.leave)."""
    leave(main())


if __name__ == "__main__":
    entry()
