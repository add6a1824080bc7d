"""Live preview: ``vidclean --webcam [SOURCE]`` cleans a camera (or a file played as one) in a window.

    capture thread ──> newest frame only ──> Denoiser(window=1) ──> window (split / clean / raw)
    (OpenCV camera,     older ones dropped     encoder, ConvLSTM      overlay: fps, ms/frame,
     or PyAV file         when the model       step, decoder; state   latency, noise level;
     paced and looped)    is slower            carried frame to frame keys, snapshots, recording

The capture runs on its own thread and keeps only the newest frame, so a model slower than the
source drops frames instead of falling behind. The denoiser runs with a window of 1: no look-ahead,
each frame is cleaned as soon as it is taken, from its own features and the ConvLSTM state carried
from the frames before it.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError
from vidclean.io.atomic import write_bytes
from vidclean.io.reader import Frame, VideoInfo, VideoStream, is_camera, open_video
from vidclean.io.writer import VideoWriter
from vidclean.options import LiveOptions
from vidclean.presets import FUSION_RADIUS

VIEWS = ("split", "clean", "raw")
KEYS_HELP = "q/Esc quit, space view, +/- strength, a auto, s snapshot, r record"
WARMUP_FRAMES = 5  # left out of the summary: the model's first calls are slow (graph tracing)
SIGMA_STEP = 2.0  # +/- change the noise level by this much (0-255 scale)
_ESC = 27


@dataclass
class LiveFrame(Frame):
    captured_at: float = 0.0  # time.monotonic() when the frame was read (a file's: when it was due)
    taken_at: float = 0.0  # time.monotonic() when the denoiser took it


# -- capture ---------------------------------------------------------------------------------


class FrameGrabber:
    """Reads a VideoStream on its own thread and keeps only the newest frame.

    A consumer slower than the source gets the newest frame each time it asks; the frames in
    between are dropped (counted in ``dropped``), so delay never builds up. ``pace`` plays a file
    at its own frame rate (a camera paces itself); ``reopen`` (a callable returning a fresh stream)
    makes the source loop when it ends. ``size`` (width, height) scales every frame. An error on
    the capture thread comes out of ``get()`` as a VidcleanError.
    """

    def __init__(self, stream: VideoStream, *, pace: bool = False,
                 reopen: Callable[[], VideoStream] | None = None, size: tuple[int, int] | None = None):
        self.name = stream.info.path
        self._stream = stream
        self._pace, self._reopen, self._size = pace, reopen, size
        self._slot: collections.deque[LiveFrame] = collections.deque(maxlen=1)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vidclean-capture", daemon=True)
        self.finished = False  # the source ended (or failed) and no more frames will come
        self.captured = self.dropped = 0
        self.most_held = 0  # the most frames ever held at once (1: nothing piles up)

    def start(self) -> FrameGrabber:
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop capturing; the stream is closed (by the capture thread if it runs)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        elif self._thread.ident is None and self._stream is not None:  # never started
            self._stream.close()
            self._stream = None

    def get(self, timeout: float | None = None) -> LiveFrame | None:
        """The newest frame not taken yet, waiting up to ``timeout`` seconds for one; None if none
        came (then ``finished`` tells whether one ever will)."""
        with self._cond:
            self._cond.wait_for(lambda: self._slot or self.finished, timeout)
            if self._slot:
                return self._slot.pop()
        if self._error is not None:
            raise self._error
        return None

    def frames(self, idle: Callable[[], bool] | None = None) -> Iterator[LiveFrame]:
        """The newest frame each time the consumer asks for one, until the source ends.

        ``idle()`` is called while no new frame is ready (to keep a window responsive);
        returning True ends the iteration."""
        while True:
            frame = self.get(timeout=0.01 if idle is not None else 0.5)
            if frame is None:
                if self.finished or (idle is not None and idle()):
                    return
                continue
            frame.taken_at = time.monotonic()
            yield frame

    def _publish(self, frame: LiveFrame) -> None:
        with self._cond:
            if self._slot:
                self.dropped += 1  # overwritten before anyone took it
            self._slot.append(frame)
            self.captured += 1
            self.most_held = max(self.most_held, len(self._slot))
            self._cond.notify_all()

    def _run(self) -> None:
        stream, self._stream = self._stream, None
        try:
            while not self._stop.is_set():
                shown = self._play(stream)
                if self._stop.is_set() or self._reopen is None:
                    break
                if shown == 0:
                    raise VidcleanError(f"{self.name}: no frames to play")
                stream.close()
                stream = None
                stream = self._reopen()
        except Exception as exc:  # noqa: BLE001 -- any capture failure is handed to the consumer by get()
            reason = str(exc) or type(exc).__name__
            self._error = exc if isinstance(exc, VidcleanError) else VidcleanError(f"{self.name}: capture failed ({reason})")
        finally:
            if stream is not None:
                stream.close()
            with self._cond:
                self.finished = True
                self._cond.notify_all()

    def _play(self, stream: VideoStream) -> int:
        """Publish the stream's frames (at their own pace if asked); the number published."""
        count = 0
        period = 1 / float(stream.info.fps or 25)
        start = first = None
        for frame in stream:
            if self._stop.is_set():
                break
            if self._pace:
                t = frame.time if frame.time is not None else count * period
                now = time.monotonic()
                if start is None:
                    start, first = now, t
                due = start + (t - first)
                if due > now:
                    if self._stop.wait(due - now):
                        break
                elif now - due > 0.25:  # decoding fell behind: go on from here, no sprint to catch up
                    start, first = now, t
            rgb = frame.rgb
            if self._size is not None and (rgb.shape[1], rgb.shape[0]) != self._size:
                shrink = self._size[0] * self._size[1] < rgb.shape[0] * rgb.shape[1]
                rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            self._publish(LiveFrame(self.captured, frame.pts, frame.time, rgb, captured_at=time.monotonic()))
            count += 1
        if self._pace and count and not self._stop.is_set():
            self._stop.wait(period)  # the last frame's turn on screen before the loop starts over
        return count


def causal_run(denoiser, frames):
    """``denoiser.run(frames)`` taking each frame only when the previous one has been cleaned and
    taken, on the caller's thread: no read-ahead, so the newest camera frame is always the next."""
    return denoiser.run(frames, read_ahead=0)


# -- display ---------------------------------------------------------------------------------


def _opencv_gui() -> str:
    """OpenCV's GUI backend as its build information names it ("QT5", "GTK3", "NONE", ...)."""
    for line in cv2.getBuildInformation().splitlines():
        name, _, value = line.strip().partition(":")
        if name == "GUI":
            return value.strip()
    return ""


def _qt_platforms() -> list[str]:
    folder = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def check_display() -> None:
    """VidcleanError unless a window can be shown: called before any window is created, since a
    Qt or GTK window without a display aborts the process."""
    if sys.platform in ("win32", "darwin"):
        return
    display, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
    if not display and not wayland:
        raise VidcleanError("no display to show the preview on (DISPLAY and WAYLAND_DISPLAY are unset)")
    if not display:
        platforms = _qt_platforms()
        if "QT" in _opencv_gui().upper() and platforms and not any("wayland" in p for p in platforms):
            raise VidcleanError("this OpenCV shows windows through X11 and DISPLAY is unset (no XWayland?)")
        return
    library = ctypes.util.find_library("X11")
    if library is None:  # cannot check here; the window will tell
        return
    try:
        x11 = ctypes.CDLL(library)
    except OSError:
        return
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(display.encode())
    if not handle:
        raise VidcleanError(f"cannot open the display {display!r} (no X server there, or access refused)")
    x11.XCloseDisplay(handle)


def _qt_font_dir() -> None:
    """Point Qt at system fonts: the opencv-python wheel ships Qt without any (Qt warns at start)."""
    if os.environ.get("QT_QPA_FONTDIR") or (Path(cv2.__file__).parent / "qt" / "fonts").is_dir():
        return
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu",
                   "/usr/share/fonts/truetype"):
        if os.path.isdir(folder):
            os.environ["QT_QPA_FONTDIR"] = folder
            return


class PreviewWindow:
    """An OpenCV HighGUI window, sized to the picture, without toolbar or status bar."""

    def __init__(self, title: str):
        self.title = title
        self._shown = False  # some backends call a window invisible until its first picture
        if "QT" in _opencv_gui().upper():
            _qt_font_dir()
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise VidcleanError(
                "this OpenCV build cannot open windows (opencv-python-headless?); install opencv-python"
            ) from None

    def show(self, bgr: np.ndarray) -> None:
        cv2.imshow(self.title, bgr)
        self._shown = True

    def key(self, ms: int = 1) -> int:
        """Let the window paint and take input for ``ms`` milliseconds; the key pressed, or -1."""
        return cv2.waitKey(ms)

    def closed(self) -> bool:
        if not self._shown:
            return False
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


# -- outputs ---------------------------------------------------------------------------------


def _new_path(folder: Path, kind: str, ext: str) -> Path:
    stem = f"vidclean-{kind}-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}{ext}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{ext}"
    return path


def save_png(folder: Path, rgb: np.ndarray) -> Path:
    """Write a PNG snapshot under a new name in ``folder``, complete or not at all."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VidcleanError("snapshot: PNG encoding failed")
    path = _new_path(folder, "snapshot", ".png")
    try:
        write_bytes(path, data.tobytes())
    except OSError as exc:
        raise VidcleanError(f"{path}: cannot save the snapshot ({exc.strerror or exc})") from None
    return path


class Recorder:
    """The cleaned stream into a video file through VideoWriter (H.264 CRF 17, x264's "veryfast":
    it encodes on the preview's own thread, which must keep up with the camera).

    Timestamps come from the capture times (milliseconds), so the recording plays at the speed it
    was seen even when frames were dropped. close() finalises; abort() leaves nothing behind."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction | None, source: str):
        info = VideoInfo(path=source, width=width, height=height, fps=fps or Fraction(30),
                         time_base=Fraction(1, 1000), frame_count=None, duration=None, rotation=0,
                         codec="rawvideo", pix_fmt="rgb24", audio_streams=0)
        self.path = path
        self.writer = VideoWriter(path, info, speed="veryfast")
        self.frames = 0
        self.seconds = 0.0
        self._start: float | None = None
        self._last_pts = -1

    def write(self, rgb: np.ndarray, captured_at: float) -> None:
        if self._start is None:
            self._start = captured_at
        pts = max(round((captured_at - self._start) * 1000), self._last_pts + 1)
        self.writer.write(rgb, pts)
        self._last_pts = pts
        self.frames += 1
        self.seconds = pts / 1000

    def close(self) -> bool:
        """Finalise the file; False (and nothing kept) if no frame was written, or if the writer
        had already given up (Ctrl-C in the middle of a write removes its temp file)."""
        if self.frames == 0:
            self.writer.abort()
            return False
        self.writer.close()
        return self.path.exists()

    def abort(self) -> None:
        self.writer.abort()


# -- the preview loop ------------------------------------------------------------------------


class Stats:
    """Per-frame timings: the last second's for the overlay, totals (after warm-up) for the summary."""

    def __init__(self):
        self.recent: collections.deque[tuple[float, float, float]] = collections.deque()
        self.shown = 0
        self.steady = 0  # frames counted in the totals
        self.steady_since = self.last_shown = 0.0
        self.processing_total = self.latency_total = 0.0

    def add(self, shown_at: float, processing: float, latency: float) -> None:
        self.shown += 1
        self.recent.append((shown_at, processing, latency))
        while self.recent[0][0] < shown_at - 1.0:
            self.recent.popleft()
        if self.shown == WARMUP_FRAMES:
            self.steady_since = shown_at
        elif self.shown > WARMUP_FRAMES:
            self.steady += 1
            self.processing_total += processing
            self.latency_total += latency
        self.last_shown = shown_at

    @property
    def fps(self) -> float:
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1][0] - self.recent[0][0], 1e-6)

    @property
    def processing_ms(self) -> float:
        return 1000 * sum(r[1] for r in self.recent) / max(len(self.recent), 1)

    @property
    def latency_ms(self) -> float:
        return 1000 * sum(r[2] for r in self.recent) / max(len(self.recent), 1)

    def summary(self) -> str | None:
        if self.steady == 0:
            return None
        seconds = self.last_shown - self.steady_since
        return (f"{self.steady / max(seconds, 1e-6):.1f} fps, processing {1000 * self.processing_total / self.steady:.0f}"
                f" ms/frame, capture-to-display latency {1000 * self.latency_total / self.steady:.0f} ms")


class Preview:
    """Runs the denoiser on the grabber's frames and shows them; keys, snapshots and recording.

    ``window`` is a PreviewWindow (or anything with its show/key/closed methods)."""

    def __init__(self, denoiser, grabber: FrameGrabber, window, *, source: str, fps: Fraction | None,
                 view: str = "split", snapshot_dir: str | os.PathLike = ".", record_dir: str | os.PathLike = ".",
                 duration: float | None = None, quiet: bool = False):
        self.denoiser, self.grabber, self.window = denoiser, grabber, window
        self.source, self.fps = source, fps
        self.view = view
        self.snapshot_dir, self.record_dir = Path(snapshot_dir), Path(record_dir)
        self.duration, self.quiet = duration, quiet
        self.stats = Stats()
        self.recorder: Recorder | None = None
        self.record_pending = False  # r pressed before the first cleaned frame
        self.last: tuple[LiveFrame, np.ndarray] | None = None  # the frame shown last, and its cleaned version
        self.message, self.message_until = "", 0.0
        self.started = 0.0

    # the loop

    def run(self) -> None:
        self.started = time.monotonic()
        try:
            if not self._first_look():
                return
            for frame, clean in causal_run(self.denoiser, self.grabber.frames(idle=self._idle)):
                processed = time.monotonic()
                self.window.show(self.compose(frame.rgb, clean))
                key = self.window.key(1)
                shown = time.monotonic()
                self.stats.add(shown, processed - frame.taken_at, shown - frame.captured_at)
                self.last = (frame, clean)
                if self.record_pending:
                    self.start_recording()
                if self.recorder is not None:
                    self.recorder.write(clean, frame.captured_at)
                if not self.handle(key):
                    break
        except BaseException as exc:
            if self.recorder is not None:
                if isinstance(exc, Exception):  # an error: the recording goes
                    self.recorder.abort()
                    self.recorder = None
                else:  # Ctrl-C, SIGTERM: the user stopping, like q
                    self.stop_recording()
            raise
        self.stop_recording()

    def _first_look(self) -> bool:
        """Show the first frame raw while the model warms up (its first call is slow)."""
        while (frame := self.grabber.get(timeout=0.01)) is None:
            if self.grabber.finished or not self.handle(self.window.key(1)):
                return False
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        self._text(bgr, ["starting the model..."], 0)
        self.window.show(bgr)
        return self.handle(self.window.key(1))

    def _idle(self) -> bool:
        """While waiting for a frame: keep the window alive; True to stop."""
        return not self.handle(self.window.key(1))

    def handle(self, key: int) -> bool:
        """Act on a key (-1: none); False when the preview should end."""
        if self.window.closed():
            return False
        if self.duration is not None and time.monotonic() - self.started >= self.duration:
            return False
        if key < 0:
            return True
        ch = chr(key & 0xFF) if key < 0x10000 else ""
        if ch in ("q", "Q", chr(_ESC)):
            return False
        if ch == " ":
            self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
            self.say(f"view: {self.view}")
        elif ch in ("+", "="):
            self.strength(+SIGMA_STEP)
        elif ch in ("-", "_"):
            self.strength(-SIGMA_STEP)
        elif ch in ("a", "A"):
            self.denoiser.sigma = None
            self.say("noise level: auto")
        elif ch in ("s", "S"):
            self.snapshot()
        elif ch in ("r", "R"):
            if self.recorder is not None:
                self.stop_recording()
            elif self.last is None:  # still warming up: start with the first cleaned frame
                self.record_pending = not self.record_pending
                self.say("recording starts with the first cleaned frame" if self.record_pending
                         else "recording cancelled")
            else:
                self.start_recording()
        return True

    # actions

    def say(self, message: str, log: bool = False) -> None:
        self.message, self.message_until = message, time.monotonic() + 3.0
        if log and not self.quiet:
            print(f"vidclean: {message}", file=sys.stderr, flush=True)

    def strength(self, step: float) -> None:
        current = self.denoiser.sigma if self.denoiser.sigma is not None else self.denoiser.last_sigma
        self.denoiser.sigma = float(min(max(round(current + step), 0), 100))
        self.say(f"noise level: {self.denoiser.sigma:g} (a: auto)")

    def snapshot(self) -> None:
        if self.last is None:
            self.say("no cleaned frame yet")
            return
        try:
            path = save_png(self.snapshot_dir, self.last[1])
        except VidcleanError as exc:
            self.say(f"warning: {exc}", log=True)
            return
        self.say(f"snapshot saved: {path}", log=True)

    def start_recording(self) -> None:
        self.record_pending = False
        height, width = self.last[1].shape[:2]
        path = _new_path(self.record_dir, "live", ".mp4")
        self.recorder = Recorder(path, width, height, self.fps, self.source)
        self.say(f"recording to {path}", log=True)

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        if recorder.close():
            self.say(f"recording saved: {recorder.path} ({recorder.frames} frames, {recorder.seconds:.1f} s)", log=True)
            for note in recorder.writer.notes:
                self.say(f"note: {note}", log=True)
        else:
            self.say("recording stopped: nothing saved", log=True)

    # drawing

    def compose(self, raw: np.ndarray, clean: np.ndarray) -> np.ndarray:
        """The picture to show (BGR): the view, the overlay, the recording mark."""
        h, w = clean.shape[:2]
        if self.view == "raw":
            image = raw
        elif self.view == "clean":
            image = clean
        else:
            image = clean.copy()
            image[:, : w // 2] = raw[:, : w // 2]
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        scale = max(0.35, min(0.8, w / 900))
        if self.view == "split":
            cv2.line(bgr, (w // 2, 0), (w // 2, h - 1), (255, 255, 255), 1)
            for text, x in (("raw", 6), ("clean", w // 2 + 6)):
                cv2.putText(bgr, text, (x, h - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(bgr, text, (x, h - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        s, d = self.stats, self.denoiser
        lines = [
            f"{s.fps:.1f} fps  {s.processing_ms:.0f} ms/frame  latency {s.latency_ms:.0f} ms",
            (f"noise {d.last_sigma:.1f} {'auto' if d.sigma is None else 'manual'}  {self.view}"
             f"  dropped {self.grabber.dropped}"),
        ]
        if time.monotonic() < self.message_until:
            lines.append(self.message)
        self._text(bgr, lines, scale)
        if self.recorder is not None:  # a red dot and REC, top right
            (tw, th), _ = cv2.getTextSize("REC", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            x, r = w - tw - 6, max(3, th // 2 + 1)
            cv2.circle(bgr, (x - r - 4, 6 + th // 2), r, (0, 0, 255), -1, cv2.LINE_AA)
            cv2.putText(bgr, "REC", (x, 6 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), 1, cv2.LINE_AA)
        return bgr

    @staticmethod
    def _text(bgr: np.ndarray, lines: list[str], scale: float) -> None:
        """Lines of text, top left, on a darkened band."""
        scale = scale or max(0.35, min(0.8, bgr.shape[1] / 900))
        size, base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        step = size[1] + base + 4
        width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in lines) + 12
        band = bgr[: step * len(lines) + 6, :width]
        band[:] = band // 3
        for i, text in enumerate(lines):
            cv2.putText(bgr, text, (6, 4 + size[1] + i * step), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), 1, cv2.LINE_AA)


# -- entry point -----------------------------------------------------------------------------


def _check_folder(folder, what: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise VidcleanError(f"{folder}: {what} directory does not exist")
    if not os.access(path, os.W_OK | os.X_OK):
        raise VidcleanError(f"{folder}: {what} directory is not writable")
    return path


def run_live(options: LiveOptions) -> None:
    """The live preview of ``options.source``, until q, the window's closing or ``options.duration``."""
    snapshot_dir = _check_folder(options.snapshot_dir, "snapshot")
    record_dir = _check_folder(options.record_dir, "recording")
    check_display()
    source = options.source
    if is_camera(source):
        stream = open_video(source, size=options.size)
        grabber = FrameGrabber(stream, size=options.size)
    else:
        stream = open_video(source, depth=8)  # (the preview shows and records 8 bits)
        grabber = FrameGrabber(stream, pace=True, reopen=lambda: open_video(source, depth=8), size=options.size)
    info = stream.info
    try:
        # the model loads once the source checks out
        load_keras()
        from vidclean.core.denoiser import (
            Denoiser,  # loads Keras: only once the source checks out
        )

        try:
            denoiser = Denoiser(options.preset, window=1, sigma=options.sigma, weights=options.weights,
                                fusion=(FUSION_RADIUS, 0) if options.fusion else False)
        except (OSError, ValueError) as exc:  # weights missing or not this preset's
            raise VidcleanError(f"preset {options.preset}: cannot load its weights ({exc})") from None
        window = PreviewWindow(f"vidclean live - {info.path}")
        try:
            preview = Preview(denoiser, grabber, window, source=info.path, fps=info.fps, view=options.view,
                              snapshot_dir=snapshot_dir, record_dir=record_dir, duration=options.duration,
                              quiet=options.quiet)
            grabber.start()
            preview.run()
        finally:
            grabber.stop()
            window.close()
    finally:
        grabber.stop()
    if not options.quiet:
        stats = preview.stats
        line = f"vidclean: live: {stats.shown} frames shown, {grabber.dropped} of {grabber.captured} captured dropped"
        summary = stats.summary()
        print(line + (f"; after warm-up {summary}" if summary else ""), file=sys.stderr)
