"""Command line: ``vidclean INPUT OUTPUT [options]``, ``vidclean --webcam [SOURCE]`` (or ``vidclean live``),
``vidclean train ...``, ``vidclean bench ...``.

A thin layer: it parses options, opens the reader, the denoiser and the writer, shows progress,
and turns every user-facing problem into one line on stderr and exit status 2.
"""

from __future__ import annotations

import _thread
import argparse
import atexit
import os
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext

from vidclean import __version__
from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError

EXAMPLES = """\
examples:
  vidclean noisy.mp4 clean.mp4                  estimate the noise level, window of 5 frames
  vidclean noisy.mp4 clean.mp4 --sigma 25       noise level given by hand (0-255 scale)
  vidclean in.mov out.mkv --codec ffv1 -y       lossless RGB output, overwrite if it exists
  vidclean in.mp4 out.mp4 --codec libx265 --crf 22
  vidclean in.mp4 out.mp4 --preset quality      the best quality shipped, at about a third of the speed
  vidclean batch raw/ clean/                    every video under raw/, the same tree under clean/ (batch --help)
  vidclean batch raw/ clean/ --ray auto         the same on a Ray cluster
  vidclean --webcam                             live preview of the default camera, cleaned (--webcam --help)
  vidclean train --help                         train the network from clean clips
  vidclean train-refiner --help                 train the quality preset's refiner (after the fusion)
  vidclean bench --help                         compare quality against OpenCV, FFmpeg (and FFDNet) denoisers
  vidclean bench --speed --help                 measure fps and memory per preset and frame size
"""


class Terminated(BaseException):
    """SIGTERM, turned into an exception so the writer can clean up on the way out.

    A BaseException, like KeyboardInterrupt, so that library code catching Exception
    (TensorFlow's import machinery does) lets it through."""


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
    from vidclean.presets import check_window

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
    if tile < 128:
        raise argparse.ArgumentTypeError(f"tile size must be at least 128 pixels, got {tile}")
    return tile


def add_cleaning_options(p: argparse.ArgumentParser) -> None:
    """The model and output options that cleaning one file and a batch of files share."""
    from vidclean.jobs.file import ENCODER_PRESET
    from vidclean.presets import PRESETS
    from vidclean.io.writer import SPEED_PRESETS

    p.add_argument("--sigma", type=_sigma, default=None, metavar="N|auto",
                   help="noise level on the 0-255 scale, or 'auto' to estimate it (default: auto)")
    p.add_argument("--window", type=_window, default=5, metavar="N",
                   help="odd number of frames each output frame sees (default: 5)")
    p.add_argument("--preset", default="balanced", choices=sorted(PRESETS), help="model preset (default: balanced)")
    p.add_argument("--no-fusion", action="store_true",
                   help="skip the motion-compensated averaging of each cleaned frame with the 2 before and after "
                        "it (optical flow) and quality's refiner after it: faster, but 0.3-1.5 dB lower PSNR from "
                        "sigma 10 and on camera noise; better on fine texture moving every which way with little "
                        "noise (see README, Quality)")
    p.add_argument("--tile", type=_tile, default=None, metavar="N",
                   help="clean frames in overlapping NxN tiles (default: only frames too large for free memory)")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--codec", default="libx264", help="output video codec: libx264 (default), libx265, libvpx-vp9, ffv1, ...")
    p.add_argument("--crf", type=int, default=None, help="constant rate factor for x264/x265/vp9 (default: 17, visually lossless)")
    p.add_argument("--pix-fmt", default=None, help="output pixel format (default: yuv420p; RGB for ffv1)")
    p.add_argument("--encoder-preset", default=None, choices=SPEED_PRESETS, metavar="P",
                   help="x264/x265 speed preset, ultrafast ... veryslow (default: "
                        + ", ".join(f"{v} with --preset {k}" for k, v in ENCODER_PRESET.items())
                        + "; slower ones make smaller files)")
    p.add_argument("--precision", default="auto", choices=("auto", "float32"),
                   help="auto (default): the network's convolutions in bfloat16 where the CPU computes in "
                        "bfloat16 (AMX or AVX-512 BF16: 1.4-2.5x faster, within 0.03 dB); float32: always float32")
    p.add_argument("--strict", action="store_true",
                   help="treat any damaged or missing frame in the input as an error (default: skip them, with a note)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--version", action="version", version=f"vidclean {__version__}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vidclean",
        description="Denoise a video with a per-frame CNN and a ConvLSTM over time.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="video file to clean (any container/codec FFmpeg reads)")
    p.add_argument("output", help="cleaned video; the container follows the extension")
    add_cleaning_options(p)
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    return p


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


def build_live_parser() -> argparse.ArgumentParser:
    from vidclean.presets import PRESETS, weights_path

    # the fast preset where it is shipped (it keeps up with a camera best), else balanced
    default_preset = "fast" if "fast" in PRESETS and weights_path("fast").exists() else "balanced"
    p = argparse.ArgumentParser(
        prog="vidclean --webcam",
        usage="vidclean --webcam [SOURCE] [options]\n       vidclean live [SOURCE] [options]",
        description="Live preview: clean a camera (or a video played as one) in a window, frame by frame "
                    "with no look-ahead; frames are dropped, never queued, when the model is slower.",
        epilog=LIVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--webcam", nargs="?", const="0", default=None, metavar="SOURCE", help=argparse.SUPPRESS)
    p.add_argument("source", nargs="?", help="camera index or device path, or a video file / URL (default: 0)")
    p.add_argument("--preset", default=default_preset, choices=sorted(PRESETS),
                   help=f"model preset (default: {default_preset})")
    p.add_argument("--sigma", type=_sigma, default=None, metavar="N|auto",
                   help="noise level on the 0-255 scale, or 'auto' to estimate it (default: auto); +/- change it")
    p.add_argument("--size", type=_size, default=None, metavar="WxH",
                   help="scale the capture to this size (a camera is asked for it first)")
    p.add_argument("--fusion", action="store_true",
                   help="average each cleaned frame with the 2 before it, warped along the motion (optical flow, "
                        "DIS 'fast' with the fast preset, else 'medium'), as files are by default (there with "
                        "the 2 after it too): cleaner, but each frame takes longer, so more are dropped (default: off)")
    p.add_argument("--view", default="split", choices=("split", "clean", "raw"), help="view at start (default: split)")
    p.add_argument("--snapshot-dir", default=".", metavar="DIR", help="where s saves PNG snapshots (default: .)")
    p.add_argument("--record-dir", default=".", metavar="DIR", help="where r saves recordings (default: .)")
    p.add_argument("--duration", type=_seconds, default=None, metavar="SECONDS",
                   help="stop after this long (default: until q)")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--version", action="version", version=f"vidclean {__version__}")
    return p


def _is_live(argv: list[str]) -> bool:
    """``vidclean live ...``, or ``--webcam`` anywhere in the main command's arguments."""
    if not argv or argv[0] in ("train", "train-refiner", "bench", "batch"):
        return False
    return argv[0] == "live" or any(a == "--webcam" or a.startswith("--webcam=") for a in argv)


def live_main(argv: list[str]) -> int:
    parser = build_live_parser()
    args = parser.parse_args(argv[1:] if argv and argv[0] == "live" else argv)
    if args.webcam is not None and args.source is not None:
        parser.error(f"two sources given: --webcam {args.webcam} and {args.source}")
    args.source = args.webcam if args.webcam is not None else (args.source if args.source is not None else "0")

    def job():
        from vidclean.cli.live import run_live

        run_live(args)

    return guarded(job, "")


def guarded(job, aftermath: str, one_signal_thread: bool = True) -> int:
    """Runs ``job()``, turning what a user may cause into one line on stderr and an exit status.
    ``one_signal_thread``: with ``signals_through_one_thread``; not for a job that starts other
    processes (Ray's), which would inherit the blocked signals."""
    _received.clear()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if hasattr(signal, "SIGXFSZ"):
        # Past the file size limit (ulimit -f) the kernel's SIGXFSZ would kill the process before
        # the writer could remove its temp file; ignored, the write fails with EFBIG, which the
        # writer reports. CPython's startup ignores it already; this keeps it so when embedded.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with signals_through_one_thread() if one_signal_thread else nullcontext():
            status = job()
    except VidcleanError as e:
        print(f"vidclean: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, aftermath)
    except Terminated:
        return _stopped(signal.SIGTERM, aftermath)
    except Exception:
        if not _received:
            raise
        # the signal's exception came while a library ran its own code, which turned it into
        # another one (TensorFlow, in a compiled call: an AttributeError): stop as for the signal
        return _stopped(_received[-1], aftermath)
    return status or 0


@contextmanager
def signals_through_one_thread():
    """SIGINT and SIGTERM are taken, while inside, by one thread that waits for nothing else and
    hands each to the main thread's handler; every other thread, and every thread started inside
    (TensorFlow's, OpenCV's, FFmpeg's, the pipeline's), keeps them blocked. Sent to a process, a
    signal lands in any thread that does not block it: in one of those libraries' threads, in the
    middle of a system call, it could crash the process (SIGSEGV) in place of stopping it cleanly.
    With this, vidclean.core.backend's ``_signals_held`` and ``entry``, 14 runs of the interrupt tests
    in tests/test_cli.py in a row passed; without them 8 in 34 failed. The main thread sees the
    signal at its next step of Python code (vidclean.core.pipeline waits with timeouts for it)."""
    watched = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    done = threading.Event()

    def forward():
        while True:
            signum = signal.sigwait(watched)
            if done.is_set():
                return
            _thread.interrupt_main(signum)

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    waiter = threading.Thread(target=forward, name="vidclean-signals", daemon=True)
    waiter.start()
    try:
        yield
    finally:
        done.set()
        signal.pthread_kill(waiter.ident, signal.SIGTERM)  # ends its wait (blocked there: taken by sigwait)
        waiter.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stopped(signum: int, aftermath: str) -> int:
    """The one line and exit status for a job stopped by SIGINT (130) or SIGTERM (143)."""
    interrupted = signum == signal.SIGINT
    print(f"vidclean: {'interrupted' if interrupted else 'terminated'}{aftermath}", file=sys.stderr)
    return 130 if interrupted else 143


def denoise_file(args) -> None:
    from tqdm import tqdm

    from vidclean.jobs.file import clean_file

    bars = []  # the bar appears with the first cleaned frame: after the checks, which may fail

    def progress(total, sigma):
        raise_if_signalled()
        if not bars:
            bars.append(tqdm(total=total, unit="frame", dynamic_ncols=True, disable=args.quiet or not sys.stderr.isatty()))
        bars[0].update()
        if args.sigma is None:
            bars[0].set_postfix(sigma=f"{sigma:.1f}", refresh=False)

    try:
        result = clean_file(args.input, args.output, args, progress)
    finally:
        for bar in bars:
            bar.close()
    if not args.quiet:
        for note in result.notes:
            print(f"vidclean: note: {note}", file=sys.stderr)
        sigma = f"sigma {args.sigma:g}" if args.sigma is not None else f"sigma auto {result.sigma:.1f}"
        print(f"vidclean: {result.frames} frames in {result.seconds:.1f}s ({result.frames / result.seconds:.2f} fps), "
              f"{sigma} -> {args.output}", file=sys.stderr)


_received: list[int] = []  # SIGINT / SIGTERM received during the job


def _exception_for(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _on_signal(signum, frame):
    _received.append(signum)
    raise _exception_for(signum)


def raise_if_signalled() -> None:
    """Raises again for a SIGINT / SIGTERM whose exception was swallowed on the way (a library's
    bare ``except:`` while it loads, say), so that the job still stops before its output is
    complete. Called once per frame."""
    if _received:
        raise _exception_for(_received[-1])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as vidclean.core.backend.load_keras sets it (why: there)
    if _is_live(argv):
        return live_main(argv)
    if argv and argv[0] in ("train", "train-refiner", "bench"):
        load_keras()  # train and bench import Keras at once: without the backend's start-up chatter
    if argv and argv[0] == "train":
        from vidclean.training.train import main as train_main

        train_main(argv[1:])
        return 0
    if argv and argv[0] == "train-refiner":
        from vidclean.training.train_refiner import main as train_refiner_main

        train_refiner_main(argv[1:])
        return 0
    if argv and argv[0] == "batch":
        from vidclean.jobs.batch import build_parser as batch_parser, run_batch

        args = batch_parser().parse_args(argv[1:])
        return guarded(lambda: run_batch(args), "", one_signal_thread=not args.ray)
    if argv and argv[0] == "bench" and "--speed" in argv:
        from vidclean.bench.speed import main as speed_main

        return speed_main([a for a in argv[1:] if a != "--speed"])
    if argv and argv[0] == "bench":
        from vidclean.bench.quality import main as bench_main

        return bench_main([a for a in argv[1:] if a != "--quality"]) or 0
    args = build_parser().parse_args(argv)
    return guarded(lambda: denoise_file(args), "; no output written")


def entry() -> None:
    """The ``vidclean`` command: ``main()``, then its exit status. A job stopped by SIGINT or
    SIGTERM, its output cleaned up and its line printed, leaves at once (``os._exit``) after the
    functions registered to run at exit (Ray's shutdown of a local cluster, say): the rest of the
    interpreter's shutdown, with TensorFlow's threads still about, now and then turned such a stop
    into death by SIGINT after the line, in place of status 130."""
    status = main()
    if _received:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    entry()
