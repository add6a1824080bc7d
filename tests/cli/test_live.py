"""The live preview (``vidclean --webcam``): capture thread, causal denoising, the window, errors.

The end-to-end test runs the real command on a video file under a virtual X display (Xvfb) that
it starts itself, finds the window with xdotool, reads the screen from Xvfb's frame buffer file
and sends keys. There is no camera here: camera errors are simulated with a fake VideoCapture.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_video, synth_frame

from vidclean.cli import live
from vidclean.cli.main import main
from vidclean.errors import VidcleanError
from vidclean.io import reader
from vidclean.io.reader import Frame, OpenCVCamera, VideoInfo, VideoStream, is_camera, open_video
from vidclean.metrics import psnr

# -- helpers -------------------------------------------------------------------------------


def vidclean(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "vidclean", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(returncode, stderr, *words):
    assert returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidclean: error:"), stderr
    for word in words:
        assert word in lines[0], stderr


def env_without_display():
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


class Xvfb:
    """A virtual X display on a free display number, its screen readable from a file (-fbdir)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp", "-fbdir", str(folder)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        number = self.proc.stdout.readline().strip()  # written once the server accepts clients
        if not number.isdigit():
            self.proc.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        self.env = {**env_without_display(), "DISPLAY": self.display}

    def screen(self) -> np.ndarray:
        """The screen as RGB, from the XWD image Xvfb keeps in its frame buffer file."""
        data = (self.folder / "Xvfb_screen0").read_bytes()
        h = struct.unpack(">25I", data[:100])
        header_size, width, height, byte_order, bpp, stride, ncolors = h[0], h[4], h[5], h[7], h[11], h[12], h[19]
        assert bpp == 32, bpp
        start = header_size + 12 * ncolors
        pixels = np.frombuffer(data, np.uint8, stride * height, start).reshape(height, stride)[:, : 4 * width]
        pixels = pixels.reshape(height, width, 4)
        return pixels[..., [2, 1, 0]] if byte_order == 0 else pixels[..., [1, 2, 3]]

    def xdotool(self, *args) -> str:
        r = subprocess.run(["xdotool", *args], check=False, capture_output=True, text=True, env=self.env,
                           timeout=30)
        return r.stdout if r.returncode == 0 else ""

    def close_window(self, wid: str) -> None:
        """Ask a window to close as a window manager does (WM_DELETE_WINDOW): there is none here."""
        x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XInternAtom.restype = ctypes.c_ulong
        x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                                   ctypes.POINTER(_XEvent)]
        x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        dpy = x11.XOpenDisplay(self.display.encode())
        assert dpy, self.display
        event = _XEvent()
        event.xclient.type = 33  # ClientMessage
        event.xclient.window = int(wid)
        event.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        event.xclient.format = 32
        event.xclient.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        x11.XSendEvent(dpy, int(wid), 0, 0, ctypes.byref(event))
        x11.XFlush(dpy)
        x11.XCloseDisplay(dpy)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


@pytest.fixture(scope="module")
def xvfb(tmp_path_factory):
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): no virtual display for the window")
    server = Xvfb(tmp_path_factory.mktemp("xvfb"))
    yield server
    server.close()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class FakeCapture:
    """A cv2.VideoCapture stand-in: `good` BGR frames, then reads that fail (a camera unplugged);
    good=0 is a camera that opens but gives nothing (busy)."""

    def __init__(self, good: int, width=64, height=48, fps=0):
        self.good, self.reads, self.released = good, 0, False
        self.size, self.fps = (width, height), fps
        self.unplugged = False

    def read(self):
        self.reads += 1
        if self.reads > self.good or self.unplugged:
            return False, None
        if self.fps:
            time.sleep(1 / self.fps)
        image = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        image[..., 0] = 200  # blue in BGR
        image[..., 2] = self.reads  # red: the frame number
        return True, image

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0}.get(prop, 0.0)

    def set(self, prop, value):
        return False

    def isOpened(self):
        return not self.released

    def release(self):
        self.released = True


class ListStream(VideoStream):
    """Frames made on the fly, `delay` seconds apart; an optional error after them."""

    def __init__(self, n, delay=0.0, size=(16, 12), error=None, fps=25):
        self.n, self.delay, self.size, self.error = n, delay, size, error
        self.produced = 0
        self.closed = False
        self._info = VideoInfo("list", size[0], size[1], fps, None, n, None, 0, "raw", "rgb24", 0)

    @property
    def info(self):
        return self._info

    def __iter__(self):
        for i in range(self.n):
            time.sleep(self.delay)
            rgb = np.full((self.size[1], self.size[0], 3), i % 256, np.uint8)
            self.produced += 1
            yield Frame(i, i, i / 25, rgb)
        if self.error is not None:
            raise self.error

    def close(self):
        self.closed = True


# -- capture thread ------------------------------------------------------------------------


def test_grabber_gives_a_slow_consumer_the_newest_frames_and_holds_no_queue():
    stream = ListStream(150, delay=0.002)
    grabber = live.FrameGrabber(stream).start()
    got = []
    while True:
        before = grabber.captured
        frame = grabber.get(timeout=1)
        if frame is None:
            break
        assert frame.index >= before - 1  # the newest there was when asked, never an old one
        got.append(frame.index)
        time.sleep(0.02)  # a consumer ten times slower than the source
    grabber.stop()
    assert grabber.finished and stream.closed
    assert got == sorted(set(got)) and got[-1] == 149  # in order, no repeats, ends on the newest
    assert grabber.captured == 150
    assert grabber.dropped > 100 and grabber.dropped + len(got) == 150  # each frame: taken or dropped
    assert grabber.most_held == 1  # nothing ever piled up


def test_grabber_plays_a_file_at_its_frame_rate_and_loops(tmp_path):
    path = tmp_path / "clip.mp4"
    make_video(path, 10, 32, 24, fps=50)  # 0.2 s
    grabber = live.FrameGrabber(open_video(path), pace=True, reopen=lambda: open_video(path), size=(16, 12))
    grabber.start()
    frames, start = [], time.monotonic()
    for frame in grabber.frames():
        frames.append(frame)
        if time.monotonic() - start > 0.8:
            break
    grabber.stop()
    assert [f.index for f in frames] == sorted({f.index for f in frames})
    assert frames[-1].index >= 15  # went round again after 10 frames
    assert grabber.captured <= 0.8 * 50 + 5  # at 50 fps, not as fast as it decodes
    assert all(f.rgb.shape == (12, 16, 3) for f in frames)  # --size applies to every frame
    assert all(f.captured_at <= f.taken_at for f in frames)


def test_grabber_hands_a_source_error_to_the_consumer():
    grabber = live.FrameGrabber(ListStream(3, error=VidcleanError("camera 0: stopped giving frames (unplugged?)")))
    grabber.start()
    with pytest.raises(VidcleanError, match="unplugged"):
        for _ in grabber.frames():
            time.sleep(0.01)
    grabber.stop()


def test_grabber_turns_an_unexpected_failure_into_one_line():
    grabber = live.FrameGrabber(ListStream(2, error=RuntimeError("decoder exploded"))).start()
    with pytest.raises(VidcleanError, match="list: capture failed .decoder exploded."):
        list(grabber.frames())
    grabber.stop()


# -- causal denoising ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def denoiser():
    from vidclean.core.denoiser import Denoiser

    return Denoiser("balanced", window=1, sigma=20, fusion=False)


def test_window_1_is_causal_output_t_does_not_depend_on_later_frames(denoiser):
    rng = np.random.default_rng(3)
    frames = [Frame(i, i, i / 25, rng.integers(0, 256, (24, 32, 3), np.uint8)) for i in range(6)]
    whole = [clean for _, clean in live.causal_run(denoiser, frames)]
    prefix = [clean for _, clean in live.causal_run(denoiser, frames[:3])]
    for a, b in zip(prefix, whole):
        np.testing.assert_array_equal(a, b)

    pulled = []

    def source():
        for f in frames:
            assert threading.current_thread() is threading.main_thread()  # read on the caller's thread
            pulled.append(f.index)
            yield f

    outputs = live.causal_run(denoiser, source())
    for t in range(4):  # frame t is cleaned before frame t+1 is even read
        frame, _ = next(outputs)
        assert frame.index == t and pulled == list(range(t + 1))
    outputs.close()


def test_live_fusion_uses_only_the_frames_before():
    """``--fusion`` in the preview: each cleaned frame averaged with the 2 before it, never waiting
    for one after."""
    from vidclean.cli.main import build_parser
    from vidclean.core.denoiser import Denoiser
    from vidclean.presets import FUSION_RADIUS

    assert build_parser().parse_args(["live", "--fusion"]).fusion and not build_parser().parse_args(["live"]).fusion
    d = Denoiser("balanced", window=1, sigma=20, fusion=(FUSION_RADIUS, 0))
    clean = synth_frame(0, 64, 48)
    rng = np.random.default_rng(4)
    frames = [Frame(i, i, i / 25, np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8))
              for i in range(6)]
    whole = [c for _, c in live.causal_run(d, frames)]
    prefix = [c for _, c in live.causal_run(d, frames[:3])]
    assert all(np.array_equal(a, b) for a, b in zip(prefix, whole))
    alone = [c for _, c in live.causal_run(Denoiser("balanced", window=1, sigma=20, fusion=False), frames)]
    assert np.array_equal(whole[0], alone[0])  # the first frame has none before it
    assert np.mean([psnr(c, clean) for c in whole[2:]]) > np.mean([psnr(c, clean) for c in alone[2:]])


# -- the camera backend --------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="camera device paths are Linux's")
@pytest.mark.parametrize("source", [99, "99", "/dev/video99"])
def test_no_camera_there(source):
    assert is_camera(source)
    with pytest.raises(VidcleanError, match=r"no such camera \(/dev/video99 does not exist\)"):
        open_video(source)


def test_camera_frames_come_out_rgb_with_millisecond_timestamps():
    capture = FakeCapture(good=5)
    with OpenCVCamera(0, capture=capture) as camera:
        info = camera.info
        assert (info.width, info.height, info.fps, info.path) == (64, 48, 30, "camera 0")
        frames = []
        for frame in camera:
            frames.append(frame)
            if len(frames) == 4:
                break
    assert capture.released
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.rgb[0, 0, 2] == 200 for f in frames)  # BGR -> RGB
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [1, 2, 3, 4]
    assert all(b.pts >= a.pts for a, b in itertools.pairwise(frames)) and frames[0].pts == 0


def test_busy_camera_opens_but_gives_nothing(monkeypatch):
    monkeypatch.setattr(OpenCVCamera, "first_frame_timeout", 0.2)
    capture = FakeCapture(good=0)
    with pytest.raises(VidcleanError, match=r"camera 0: opened, but no frame came .* \(busy in another program\?\)"):
        OpenCVCamera(0, capture=capture)
    assert capture.released


def test_camera_unplugged_mid_stream():
    capture = FakeCapture(good=3)
    camera = OpenCVCamera(0, capture=capture)
    seen = []
    with pytest.raises(VidcleanError, match=r"camera 0: stopped giving frames \(unplugged\?\)"):
        for frame in camera:
            seen.append(frame.index)
    camera.close()
    assert seen == [0, 1, 2] and capture.released


def test_camera_whose_reads_block_then_fail_is_given_up_in_seconds_not_reads(monkeypatch):
    monkeypatch.setattr(OpenCVCamera, "lost_seconds", 0.3)
    capture = FakeCapture(good=2)
    read = capture.read

    def slow_read():  # like V4L2 waiting out its select timeout on a device that is gone
        ok, image = read()
        if not ok:
            time.sleep(0.2)
        return ok, image

    capture.read = slow_read
    camera = OpenCVCamera(0, capture=capture)
    start = time.monotonic()
    with pytest.raises(VidcleanError, match="unplugged"):
        list(camera)
    assert time.monotonic() - start < 2 and capture.reads <= 6
    camera.close()


def test_files_and_urls_are_not_cameras(tmp_path):
    (tmp_path / "7").write_bytes(b"x")
    assert not is_camera("clip.mp4") and not is_camera("rtsp://host/stream")
    assert not is_camera(str(tmp_path / "7"))


# -- the command's errors: one line, status 2 ----------------------------------------------


def test_no_display():
    r = vidclean("--webcam", env=env_without_display(), timeout=60)
    assert_one_line_error(r.returncode, r.stderr, "no display", "DISPLAY")


def test_display_that_does_not_answer():
    r = vidclean("--webcam", env={**env_without_display(), "DISPLAY": ":4917"}, timeout=60)
    assert_one_line_error(r.returncode, r.stderr, "cannot open the display ':4917'")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="camera device paths are Linux's")
@pytest.mark.parametrize("source", ["99", "/dev/video99"])
def test_no_camera_at_that_index_or_path(xvfb, source):
    r = vidclean("--webcam", source, env=xvfb.env, timeout=60)
    assert_one_line_error(r.returncode, r.stderr, "no such camera")


def test_bad_options_and_missing_file(tmp_path):
    r = vidclean("--webcam", "--size", "640by480")
    assert r.returncode == 2 and "WIDTHxHEIGHT" in r.stderr
    r = vidclean("--webcam", "0", "clip.mp4")
    assert r.returncode == 2 and "two sources" in r.stderr
    r = vidclean("live", tmp_path / "missing.mp4", "--snapshot-dir", tmp_path / "nope", env=env_without_display())
    assert_one_line_error(r.returncode, r.stderr, "snapshot directory does not exist")


class FakeWindow:
    """PreviewWindow's stand-in: records what is shown, presses scripted keys, can be 'closed'."""

    def __init__(self, keys=(), close_after=None, actions=()):
        self.keys = dict(keys)  # frames shown -> key to press then
        self.actions = dict(actions)  # frames shown -> something to do then
        self.close_after = close_after
        self.shown = []

    def show(self, bgr):
        self.shown.append(bgr)

    def key(self, ms=1):
        time.sleep(ms / 1000)
        if len(self.shown) in self.actions:
            self.actions.pop(len(self.shown))()
        return ord(self.keys.pop(len(self.shown))) if len(self.shown) in self.keys else -1

    def closed(self):
        return self.close_after is not None and len(self.shown) >= self.close_after

    def close(self):
        pass


def run_cli_with_fake_camera(monkeypatch, capsys, capture, window, *args):
    monkeypatch.setattr(reader, "_open_capture", lambda device: capture)
    monkeypatch.setattr(live, "check_display", lambda: None)
    monkeypatch.setattr(live, "PreviewWindow", lambda title: window)
    status = main(["--webcam", "0", *map(str, args)])
    return status, capsys.readouterr().err


def test_busy_camera_from_the_command_line(monkeypatch, capsys):
    monkeypatch.setattr(OpenCVCamera, "first_frame_timeout", 0.2)
    status, err = run_cli_with_fake_camera(monkeypatch, capsys, FakeCapture(good=0), FakeWindow())
    assert_one_line_error(status, err, "camera 0: opened, but no frame came", "busy")


def test_camera_unplugged_while_previewing_and_recording(monkeypatch, capsys, tmp_path, denoiser):
    # frames come, the user starts recording, then the camera goes: one line, status 2, no file left
    capture = FakeCapture(good=10**6, fps=30)
    window = FakeWindow(keys={3: "r"}, actions={6: lambda: setattr(capture, "unplugged", True)})
    status, err = run_cli_with_fake_camera(monkeypatch, capsys, capture, window, "--record-dir", tmp_path, "-q")
    assert_one_line_error(status, err, "camera 0: stopped giving frames (unplugged?)")
    assert len(window.shown) >= 6 and capture.released
    assert os.listdir(tmp_path) == []  # the recording was removed, temp file and all


# -- the preview loop, in process ----------------------------------------------------------


class IdentityDenoiser:
    """Denoiser's interface (run, sigma, last_sigma) without a model: returns the frame, inverted."""

    def __init__(self):
        self.sigma, self.last_sigma = None, 12.3

    def run(self, frames, read_ahead=4):
        for frame in frames:
            yield frame, 255 - frame.rgb


def test_preview_keys_views_strength_snapshot_recording_and_closing_the_window(tmp_path):
    frames = [synth_frame(i, 64, 48) for i in range(10)]
    make_video(tmp_path / "clip.mp4", frames, 64, 48, fps=50)
    src = tmp_path / "clip.mp4"
    grabber = live.FrameGrabber(open_video(src), pace=True, reopen=lambda: open_video(src))
    keys = {1: "r", 2: " ", 3: "+", 4: "+", 5: "-", 6: "s", 7: "r", 8: "r", 20: "r", 22: "a", 23: " "}
    window = FakeWindow(keys, close_after=25)
    denoiser = IdentityDenoiser()
    out = tmp_path / "out"
    out.mkdir()
    preview = live.Preview(denoiser, grabber, window, source=str(src), fps=50, snapshot_dir=out, record_dir=out,
                           quiet=True)
    views, sigmas = [], []
    compose = preview.compose

    def spy(raw, clean):
        views.append(preview.view)
        sigmas.append(denoiser.sigma)
        return compose(raw, clean)

    preview.compose = spy
    grabber.start()
    preview.run()  # returns when the window is closed
    grabber.stop()
    assert len(window.shown) == 25  # the first frame raw while the model warms up, then 24 cleaned
    assert views[0] == "split" and views[1] == "clean" and views[-1] == "raw"
    assert sigmas[1] is None and sigmas[2:5] == [14, 16, 14] and sigmas[-1] is None  # 12.3 -> 14 -> 16 -> 14 -> auto
    names = sorted(os.listdir(out))
    assert len(names) == 3 and names[0].endswith(".mp4") and names[1].endswith(".mp4"), names
    png = cv2.imread(str(out / names[2]))
    assert png.shape == (48, 64, 3)
    # r during warm-up (on the raw first frame) records from the first cleaned frame (6 frames);
    # the second from the frame after r to the one before the next r (12 frames)
    counts = []
    for name in names[:2]:
        with open_video(out / name) as rec:
            assert (rec.info.width, rec.info.height) == (64, 48)
            counts.append(len(list(rec)))
    assert sorted(counts) == [6, 12]


def test_split_view_puts_raw_left_and_cleaned_right():
    grabber = live.FrameGrabber(ListStream(1))
    preview = live.Preview(IdentityDenoiser(), grabber, FakeWindow(), source="list", fps=25)
    raw = np.zeros((120, 160, 3), np.uint8)
    bgr = preview.compose(raw, np.full_like(raw, 200))
    assert (bgr[60:100, 10:70] == 0).all() and (bgr[60:100, 90:150] == 200).all()
    assert (bgr[60:100, 80] == 255).all()  # the dividing line
    assert bgr[:8, :60].max() > bgr[60:100, 10:70].max()  # the overlay text, top left
    grabber.stop()


# -- end to end, under Xvfb ----------------------------------------------------------------


def start_preview(xvfb, *args):
    """``vidclean --webcam ARGS`` under Xvfb: the process, its stderr lines so far, window_ids()."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool): cannot find the window or send keys")
    proc = subprocess.Popen([sys.executable, "-m", "vidclean", "--webcam", *map(str, args)], env=xvfb.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err_lines = []  # read on a thread, so that the process never blocks on a full pipe
    proc.err_thread = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    proc.err_thread.start()

    def window_ids():
        assert proc.poll() is None, "".join(err_lines)
        return xvfb.xdotool("search", "--name", "^vidclean live").split()

    return proc, err_lines, window_ids


def assert_no_temp_files_and_valid_recordings(folder):
    names = os.listdir(folder)
    assert not [n for n in names if n.startswith(".")], names
    for name in names:
        if name.endswith(".mp4"):
            with open_video(folder / name) as rec:
                assert len(list(rec)) >= 1


def start_recording(xvfb, wid, err_lines):
    """Presses ``r`` in the window and waits for the preview to say it records."""
    xvfb.xdotool("key", "--window", wid, "r")
    wait_for(lambda: any("recording to" in line for line in err_lines), 30, "the recording to start")


def reap(proc):
    """Kills the preview if a failed check left it running; waits for its stderr reader."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.err_thread.join(5)


def record_then(xvfb, tmp_path, stop):
    """Starts the preview on a small clip, presses ``r``, then ``stop(proc, window)``.

    Returns the exit status, stderr and the recording folder."""
    src, out = tmp_path / "clip.mp4", tmp_path / "out"
    make_video(src, 10, 96, 64, fps=25)
    out.mkdir()
    proc, err_lines, window_ids = start_preview(xvfb, src, "--record-dir", out)
    try:
        wid = wait_for(window_ids, 120, "the window")[0]
        start_recording(xvfb, wid, err_lines)
        time.sleep(1)
        stop(proc, wid)
        status = proc.wait(30)
    finally:
        reap(proc)
    return status, "".join(err_lines), out


def test_closing_the_window_ends_the_preview_and_keeps_the_recording(xvfb, tmp_path):
    status, err, out = record_then(xvfb, tmp_path, lambda proc, wid: xvfb.close_window(wid))
    assert status == 0 and "frames shown" in err and "recording saved" in err and "Traceback" not in err, err
    assert len(os.listdir(out)) == 1
    assert_no_temp_files_and_valid_recordings(out)


def test_ctrl_c_while_recording_leaves_no_broken_file(xvfb, tmp_path):
    # SIGTERM takes the same way (a BaseException through the loop), ending with status 143
    signum, code, word = signal.SIGINT, 130, "interrupted"
    status, err, out = record_then(xvfb, tmp_path, lambda proc, wid: proc.send_signal(signum))
    assert status == code
    assert f"vidclean: {word}" in err and "Traceback" not in err, err
    assert_no_temp_files_and_valid_recordings(out)  # finalised, or (signal mid-write) removed


def test_preview_window_on_a_file_source_keys_snapshot_recording_and_quit(xvfb, tmp_path):
    width, height = 320, 240
    clean = synth_frame(0, width, height)
    rng = np.random.default_rng(0)
    noisy = [np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8) for _ in range(20)]
    src, out = tmp_path / "noisy.mp4", tmp_path / "out"
    make_video(src, noisy, width, height, fps=30)
    out.mkdir()
    # balanced: the test asks for a margin (5 dB over the noise) that the fast preset's causal
    # output does not reach on every machine
    proc, err_lines, window_ids = start_preview(xvfb, src, "--sigma", "25", "--preset", "balanced",
                                                "--snapshot-dir", out, "--record-dir", out)
    try:
        wid = wait_for(window_ids, 120, "the window")[0]
        deadline = time.monotonic() + 120  # the window takes the picture's size when the first one is shown
        while True:
            geometry = dict(line.split("=") for line in xvfb.xdotool("getwindowgeometry", "--shell", wid).split())
            if (int(geometry["WIDTH"]), int(geometry["HEIGHT"])) == (width, height) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        x, y = int(geometry["X"]), int(geometry["Y"])
        assert (int(geometry["WIDTH"]), int(geometry["HEIGHT"])) == (width, height)

        rows = slice(y + 70, y + 200)  # below the overlay text, above the labels
        left, right = slice(x + 20, x + 140), slice(x + 180, x + 300)

        def quality():
            screen = xvfb.screen()
            return (psnr(screen[rows, left], clean[70:200, 20:140]),
                    psnr(screen[rows, right], clean[70:200, 180:300]), screen)

        with open_video(src) as decoded:  # what the raw view shows: the noise as the file keeps it
            noisy_psnr = np.mean([psnr(f.rgb[70:200, 20:300], clean[70:200, 20:300]) for f in decoded])
        # split view: the left half is the raw camera, the right half the cleaned picture
        raw_q, clean_q, screen = wait_for(lambda: (q := quality())[1] > noisy_psnr + 5 and q, 90, "a cleaned picture")
        assert screen[rows, right].mean() > 40  # not black
        assert raw_q < noisy_psnr + 2 and clean_q > raw_q + 5, (noisy_psnr, raw_q, clean_q)

        xvfb.xdotool("key", "--window", wid, "space")  # -> clean: both halves cleaned
        wait_for(lambda: (q := quality())[0] > noisy_psnr + 5 and q[1] > noisy_psnr + 5, 30, "the clean view")
        xvfb.xdotool("key", "--window", wid, "space")  # -> raw: both halves noisy
        wait_for(lambda: (q := quality())[0] < noisy_psnr + 2 and q[1] < noisy_psnr + 2, 30, "the raw view")

        xvfb.xdotool("key", "--window", wid, "s")
        png = wait_for(lambda: [p for p in out.glob("vidclean-snapshot-*.png")], 30, "the snapshot")[0]
        snap = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        assert snap.shape == (height, width, 3)
        assert psnr(snap, clean) > noisy_psnr + 5  # the cleaned frame, whatever the view

        start_recording(xvfb, wid, err_lines)
        time.sleep(2)
        xvfb.xdotool("key", "--window", wid, "q")  # quit while recording: the file is finalised
        status = proc.wait(60)
    finally:
        reap(proc)
    err = "".join(err_lines)
    assert status == 0, err
    assert "Traceback" not in err and "snapshot saved" in err and "recording saved" in err
    assert "frames shown" in err  # the summary line
    recordings = list(out.glob("vidclean-live-*.mp4"))
    assert len(recordings) == 1, os.listdir(out)
    with open_video(recordings[0]) as rec:
        assert (rec.info.width, rec.info.height) == (width, height)
        got = list(rec)
    assert len(got) >= 2
    assert np.mean([psnr(f.rgb, clean) for f in got]) > noisy_psnr + 5
    assert sorted(p.name for p in out.iterdir()) == sorted([png.name, recordings[0].name])  # no temp files
