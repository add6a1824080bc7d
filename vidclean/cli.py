"""Command line: ``vidclean INPUT OUTPUT [options]``, ``vidclean train ...``, ``vidclean bench ...``.

A thin layer: it parses options, opens the reader, the denoiser and the writer, shows progress,
and turns every user-facing problem into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from vidclean import __version__
from vidclean.errors import VidcleanError

EXAMPLES = """\
examples:
  vidclean noisy.mp4 clean.mp4                  estimate the noise level, window of 5 frames
  vidclean noisy.mp4 clean.mp4 --sigma 25       noise level given by hand (0-255 scale)
  vidclean in.mov out.mkv --codec ffv1 -y       lossless RGB output, overwrite if it exists
  vidclean in.mp4 out.mp4 --codec libx265 --crf 22
  vidclean train --help                         train the network from clean clips
  vidclean bench --help                         compare quality against OpenCV's NLM denoiser
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


def _window(value: str) -> int:
    from vidclean.registry import check_window

    try:
        return check_window(int(value))
    except ValueError as e:
        message = str(e) if value.strip().lstrip("-").isdigit() else f"expected an odd integer, got {value!r}"
        raise argparse.ArgumentTypeError(message) from None


def build_parser() -> argparse.ArgumentParser:
    from vidclean.registry import PRESETS

    p = argparse.ArgumentParser(
        prog="vidclean",
        description="Denoise a video with a per-frame CNN and a ConvLSTM over time.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="video file to clean (any container/codec FFmpeg reads)")
    p.add_argument("output", help="cleaned video; the container follows the extension")
    p.add_argument("--sigma", type=_sigma, default=None, metavar="N|auto",
                   help="noise level on the 0-255 scale, or 'auto' to estimate it (default: auto)")
    p.add_argument("--window", type=_window, default=5, metavar="N",
                   help="odd number of frames each output frame sees (default: 5)")
    p.add_argument("--preset", default="balanced", choices=sorted(PRESETS), help="model preset (default: balanced)")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--codec", default="libx264", help="output video codec: libx264 (default), libx265, libvpx-vp9, ffv1, ...")
    p.add_argument("--crf", type=int, default=None, help="constant rate factor for x264/x265/vp9 (default: 17, visually lossless)")
    p.add_argument("--pix-fmt", default=None, help="output pixel format (default: yuv420p; RGB for ffv1)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--strict", action="store_true",
                   help="treat any damaged or missing frame in INPUT as an error (default: skip them, with a note)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--version", action="version", version=f"vidclean {__version__}")
    return p


def denoise_file(args) -> None:
    import av
    from tqdm import tqdm

    from vidclean.reader import open_video
    from vidclean.writer import VideoWriter

    start = time.time()
    with open_video(args.input) as stream:
        info = stream.info
        quality = {} if args.crf is None else {"crf": args.crf}  # the writer's default: CRF 17
        with VideoWriter(args.output, info, codec=args.codec, pix_fmt=args.pix_fmt, **quality,
                         copy_audio_from=args.input if info.audio_streams else None,
                         overwrite=args.overwrite) as writer:
            from vidclean.engine import Denoiser  # the model loads after the input and output check out

            denoiser = Denoiser(args.preset, args.window, args.sigma, args.weights)
            bar = tqdm(total=info.frame_count, unit="frame", dynamic_ncols=True,
                       disable=args.quiet or not sys.stderr.isatty())
            count = 0
            for frame, clean in denoiser.run(_intact(stream, args.input) if args.strict else stream):
                writer.write(clean, frame.pts)
                count += 1
                bar.update()
                if args.sigma is None:
                    bar.set_postfix(sigma=f"{denoiser.last_sigma:.1f}", refresh=False)
            bar.close()
            if count == 0:
                raise VidcleanError(f"{args.input}: no frame could be decoded")
        notes = list(writer.notes)
    if stream.frames_lost:
        notes.append(f"{stream.frames_lost} frame(s) damaged or missing in the input: skipped")
    if any(c.is_alpha for c in av.VideoFormat(info.pix_fmt).components):
        notes.append(f"the input's alpha channel ({info.pix_fmt}) is not kept: the output is opaque")
    if not args.quiet:
        for note in notes:
            print(f"vidclean: note: {note}", file=sys.stderr)
        seconds = time.time() - start
        sigma = f"sigma {args.sigma:g}" if args.sigma is not None else f"sigma auto {denoiser.mean_sigma:.1f}"
        print(f"vidclean: {count} frames in {seconds:.1f}s ({count / seconds:.2f} fps), {sigma} -> {args.output}",
              file=sys.stderr)


def _intact(stream, path: str):
    """The stream's frames, until one is found damaged or missing (--strict): then an error."""
    for frame in stream:
        if stream.frames_lost:
            break
        yield frame
    if stream.frames_lost:  # frames missing at the end show only once the stream has ended
        raise VidcleanError(f"{path}: {stream.frames_lost} frame(s) damaged or missing (--strict); no output written")


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if argv and argv[0] == "train":
        from vidclean.train import main as train_main

        train_main(argv[1:])
        return 0
    if argv and argv[0] == "bench":
        from vidclean.bench import main as bench_main

        return bench_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if hasattr(signal, "SIGXFSZ"):
        # Past the file size limit (ulimit -f) the kernel's SIGXFSZ would kill the process before
        # the writer could remove its temp file; ignored, the write fails with EFBIG, which the
        # writer reports. CPython's startup ignores it already; this keeps it so when embedded.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        denoise_file(args)
    except VidcleanError as e:
        print(f"vidclean: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidclean: interrupted; no output written", file=sys.stderr)
        return 130
    except Terminated:
        print("vidclean: terminated; no output written", file=sys.stderr)
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
