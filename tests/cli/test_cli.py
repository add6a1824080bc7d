"""The command line, end to end on real (small) videos: what a user sees and gets."""

import importlib.util
import os
import resource
import signal
import subprocess
import sys
import time

from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import SAMPLES, assert_clean_error, audio_duration, make_video, vidclean

from vidclean.bench.quality import write_ffv1
from vidclean.io.clips import read_clip
from vidclean.io.reader import open_video
from vidclean.metrics import psnr
from vidclean.training.noise import add_gaussian


def test_help_shows_usage_commands_and_examples():
    r = vidclean("--help")
    assert r.returncode == 0
    assert "usage: vidclean" in r.stdout and "examples:" in r.stdout
    assert all(command in r.stdout for command in ("clean", "batch", "live", "train", "train-refiner", "bench"))
    assert "--sigma" in vidclean("clean", "--help").stdout


@pytest.mark.parametrize("command", [("clean",), ("batch",), ("live",), ("train",), ("train-refiner",), ("bench",),
                                     ("bench", "--speed")])
def test_subcommand_help_names_the_subcommand_in_its_usage(command):
    r = vidclean(*command, "--help")
    usages = (f"usage: vidclean {command[0]}", f"usage: vidclean [{command[0]}]")
    assert r.returncode == 0 and r.stdout.startswith(usages)
    if command[0] in ("clean", "batch"):  # those that write outputs: -y replaces them
        assert "-y" in r.stdout.split("\n\n")[0] and "-y, --overwrite" in r.stdout
    assert r.stderr == ""  # no backend start-up chatter


def test_default_command_is_clean(tmp_path):
    from vidclean.cli.main import _command_argv, build_parser

    args = build_parser().parse_args(_command_argv(["in.mp4", "out.mp4", "-y", "--preset", "fast"]))
    assert (args.command, args.input, args.output, args.overwrite, args.preset) == ("clean", "in.mp4", "out.mp4",
                                                                                     True, "fast")
    assert _command_argv(["--webcam", "1"])[0] == "live"


def test_cleans_the_noisy_sample_keeping_frames_rate_size_and_audio(tmp_path):
    src, out = SAMPLES / "foliage_noisy.mp4", tmp_path / "clean.mp4"
    r = vidclean(src, out)
    assert r.returncode == 0, r.stderr
    assert "30 frames" in r.stderr  # the one-line summary
    with open_video(src) as a, open_video(out) as b:
        assert (b.info.width, b.info.height, b.info.fps) == (a.info.width, a.info.height, a.info.fps)
        assert [f.pts for f in b] == [f.pts for f in a]
    assert abs(audio_duration(out) - audio_duration(src)) < 0.05
    clean, noisy, cleaned = (read_clip(p) for p in (SAMPLES / "foliage_clean.mp4", src, out))
    before = np.mean([psnr(n, c) for n, c in zip(noisy, clean)])
    after = np.mean([psnr(o, c) for o, c in zip(cleaned, clean)])
    # camera noise in a 4:2:0 H.264 file, cleaned back into H.264: the chroma detail the noisy
    # file lost caps the gain (measured +1.2 dB); the Gaussian test below shows the model's reach
    assert after > before + 0.5, (before, after)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp file left


def test_motion_fusion_adds_to_the_network_on_the_sample(tmp_path):
    """The default (the network, then motion-compensated fusion) against --no-fusion (the network
    alone), on the bundled clip's camera noise, lossless out."""
    clean = read_clip(SAMPLES / "foliage_clean.mp4")
    scores = {}
    for extra in ([], ["--no-fusion"]):
        out = tmp_path / f"out{len(extra)}.mkv"
        r = vidclean(SAMPLES / "foliage_noisy.mp4", out, "--codec", "ffv1", *extra)
        assert r.returncode == 0, r.stderr
        cleaned = read_clip(out)
        assert len(cleaned) == len(clean) == 30
        scores[bool(extra)] = psnr(cleaned, clean)
    assert scores[False] > scores[True] + 0.25, scores  # measured 28.09 against 27.53 dB


@pytest.mark.parametrize("sigma", ["20", "auto"])
def test_gaussian_noise_in_lossless_ffv1_is_cleaned_well(tmp_path, sigma):
    clean = read_clip(SAMPLES / "foliage_clean.mp4", 10)
    noisy = add_gaussian(clean, 20, np.random.default_rng(5))
    src, out = tmp_path / "noisy.mkv", tmp_path / "out.mkv"
    write_ffv1(src, noisy)
    r = vidclean(src, out, "--codec", "ffv1", "--sigma", sigma)
    assert r.returncode == 0, r.stderr
    cleaned = read_clip(out)
    before = np.mean([psnr(n, c) for n, c in zip(noisy, clean)])
    after = np.mean([psnr(o, c) for o, c in zip(cleaned, clean)])
    # dense foliage at 360x240 is a hard case: measured +3.7 dB (true sigma) and +3.3 dB (auto);
    # on the validation clips the gain at sigma 20 is about +8 dB (docs/quality.md)
    assert after > before + 3, (before, after)


def test_h264_aac_mp4_at_25fps_keeps_count_rate_size_and_audio(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    out = tmp_path / "out.mp4"
    r = vidclean(src, out, "--sigma", 15, "--quiet")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.width, v.height, v.average_rate) == ("h264", 96, 64, 25)
        assert sum(1 for _ in c.decode(v)) == 20
    assert abs(audio_duration(out) - audio_duration(src)) < 0.05


@pytest.mark.parametrize("args, subme", [(["--preset", "fast"], 2), (["--preset", "balanced"], 4),
                                         (["--preset", "fast", "--encoder-preset", "slow"], 8)])
def test_encoder_speed_follows_the_model_preset_unless_given(tmp_path, mp4_25fps_audio, args, subme):
    """x264 veryfast (subme=2) behind the fast network, faster (subme=4) behind balanced."""
    from conftest import x264_settings

    out = tmp_path / "out.mp4"
    r = vidclean(mp4_25fps_audio[0], out, "--sigma", 15, "--window", 1, "-q", *args)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert f" subme={subme} " in x264_settings(out)


def test_ffv1_output_is_lossless_rgb(tmp_path):
    src = tmp_path / "in.mkv"
    make_video(src, 6, 48, 32, codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "out.mkv"
    assert vidclean(src, out, "--codec", "ffv1", "--sigma", 10, "-q").returncode == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
    # the file holds exactly what the engine produced: re-encode it losslessly and compare
    again = tmp_path / "again.mkv"
    assert vidclean(out, again, "--codec", "ffv1", "--sigma", 0, "--window", 1, "-q").returncode == 0
    assert len(read_clip(out)) == len(read_clip(again)) == 6


def test_refuses_to_overwrite_without_y(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    assert_clean_error(vidclean(src, out), "exists")
    assert out.read_bytes() == b"precious"
    assert vidclean(src, out, "-y", "-q", "--sigma", 5).returncode == 0
    assert len(read_clip(out)) == 20


def _file(name, data):
    def make(folder):
        path = folder / name
        path.write_bytes(data)
        return path

    return make


@pytest.mark.parametrize("make,words", [
    (lambda d: d / "missing.mp4", ["missing.mp4"]),
    (lambda d: d, ["directory"]),
    (_file("empty.mp4", b""), ["empty"]),
    (_file("text.mp4", b"hello, not a video\n" * 50), ["text.mp4"]),
    (_file("noise.mp4", np.random.default_rng(0).bytes(4096)), ["noise.mp4"]),
])
def test_bad_input_is_one_line_and_exit_2_with_no_output(tmp_path, make, words):
    src = make(tmp_path)
    out = tmp_path / "out" / "clean.mp4"
    out.parent.mkdir()
    assert_clean_error(vidclean(src, out), *words)
    assert os.listdir(out.parent) == []


def test_audio_only_input_is_refused(tmp_path, mp4_25fps_audio):
    src = tmp_path / "audio.m4a"
    with av.open(str(mp4_25fps_audio[0])) as i, av.open(str(src), "w", format="mp4") as o:
        a = o.add_stream_from_template(i.streams.audio[0])
        for packet in i.demux(i.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = a
                o.mux(packet)
    assert_clean_error(vidclean(src, tmp_path / "out.mp4"), "video stream")


def test_bad_output_paths(tmp_path, mp4_25fps_audio):
    src, _ = mp4_25fps_audio
    assert_clean_error(vidclean(src, src, "-y"), "input")
    link = tmp_path / "link.mp4"
    link.symlink_to(src)
    assert_clean_error(vidclean(src, link, "-y"), "input")
    assert_clean_error(vidclean(src, tmp_path / "nowhere" / "out.mp4"), "directory")
    assert_clean_error(vidclean(src, tmp_path / "out.unknownext"), "format")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4", "link.mp4"]


@pytest.mark.parametrize("args", [["--window", "4"], ["--window", "9"], ["--sigma", "loud"], ["--preset", "nope"],
                                  ["--tile", "64"], ["--tile", "big"], ["--encoder-preset", "quick"],
                                  ["--precision", "half"]])
def test_bad_options_exit_2(tmp_path, mp4_25fps_audio, args):
    r = vidclean(mp4_25fps_audio[0], tmp_path / "out.mp4", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("sig,code,existing", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, True)])
def test_interrupt_leaves_no_output(tmp_path, sig, code, existing):
    """Nothing new at the destination, no temp file; an existing output replaced with -y stays as it was."""
    src = tmp_path / "long.mp4"
    make_video(src, 400, 320, 240)  # about 10 s of work: the signal comes well before the end
    source = (src.read_bytes(), os.stat(src).st_mtime_ns)
    out = tmp_path / "out.mp4"
    if existing:
        out.write_bytes(b"previous")
    proc = subprocess.Popen([sys.executable, "-m", "vidclean", str(src), str(out), "--sigma", "10", "-y"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not any(p.startswith(".out.partial") for p in os.listdir(tmp_path)):
        time.sleep(0.2)
    time.sleep(2)  # well into the stream
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == (["long.mp4", "out.mp4"] if existing else ["long.mp4"])
    if existing:
        assert out.read_bytes() == b"previous"
    assert (src.read_bytes(), os.stat(src).st_mtime_ns) == source


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_whose_exception_a_library_turned_into_another_still_stops_cleanly(sig, code, word, capsys):
    """TensorFlow, interrupted inside a compiled call, raised an AttributeError in place of the
    signal handler's exception (seen once in CI as a traceback and exit status 1)."""
    from vidclean.cli.signals import guarded

    def job():
        try:
            os.kill(os.getpid(), sig)  # the handler raises here
            for _ in range(50):
                time.sleep(0.1)
        except BaseException:
            raise AttributeError("'list' object has no attribute '_type_spec'")  # as TensorFlow did

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert guarded(job, "; no output written") == code
        with pytest.raises(ValueError):  # without a signal, an error is not taken for one
            guarded(lambda: int("x"), "")
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert capsys.readouterr().err.splitlines()[-1] == f"vidclean: {word}; no output written"


def test_signals_reach_no_thread_but_the_main_one_while_a_job_runs():
    """A signal that lands in a library's thread mid-system-call crashed the process (SIGSEGV,
    SIGABRT): while a job runs, every thread but the one that takes them keeps SIGINT and SIGTERM
    blocked, and a SIGTERM sent to the process still stops the job in the main thread."""
    import threading

    from vidclean.cli.signals import guarded

    masks, stopped_in = [], []

    def job():
        worker = threading.Thread(target=lambda: masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        worker.start()
        worker.join()
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        try:  # (os.kill itself may raise it: it checks for signals before it returns)
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(50):
                time.sleep(0.1)
        except BaseException:
            stopped_in.append(threading.current_thread() is threading.main_thread())
            raise

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert guarded(job, "") == 143
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert stopped_in == [True]
    assert all({signal.SIGINT, signal.SIGTERM} <= mask for mask in masks) and len(masks) == 2
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # as before the job


@pytest.mark.parametrize("ray_option,blocked", [([], True), (["--ray", "local"], False)])
def test_processes_a_batch_with_ray_starts_can_be_stopped(monkeypatch, tmp_path, ray_option, blocked):
    """Processes started inside a job inherit the signals its threads block; ``batch --ray``
    starts Ray's (a local cluster's), which must stay stoppable by SIGINT / SIGTERM."""
    import vidclean.cli.main
    from vidclean.cli.main import main

    masks = []

    def run_batch(entries, options, **kwargs):
        status = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                                capture_output=True, text=True, check=True).stdout
        masks.append(int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16))

    monkeypatch.setattr(vidclean.cli.main, "run_batch", run_batch)
    (tmp_path / "a.mp4").write_bytes(b"")  # one file to plan (never read: run_batch is replaced)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(["batch", str(tmp_path), str(tmp_path / "out"), *ray_option]) == 0
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    bits = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    assert masks and bool(masks[0] & bits) == blocked


def test_a_signal_while_the_backend_loads_is_handled_once_it_has_loaded():
    """Raised inside TensorFlow's import, a signal's exception now and then aborted the process."""
    from vidclean.core.backend import _signals_held

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop

    saved = signal.signal(signal.SIGTERM, stop)
    done = []
    try:
        with pytest.raises(Stop):
            with _signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(5):
                    time.sleep(0.02)
                done.append("import")
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert done == ["import"]


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path):
    """A file size limit (as a full disk would) makes writes fail: SIGXFSZ must not kill vidclean
    before it can clean up, the write error comes out as one line, and the existing output stays."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(12)]
    src = tmp_path / "in.mkv"
    make_video(src, frames, 64, 48, codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "out" / "clean.mkv"
    out.parent.mkdir()
    out.write_bytes(b"previous")

    def limit_file_size():  # in the child only; subprocess resets SIGXFSZ to its default there
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    r = vidclean(src, out, "--codec", "ffv1", "--sigma", 10, "--window", 1, "-y", preexec_fn=limit_file_size)
    assert_clean_error(r, "clean.mkv", "writing failed", "File too large")
    assert os.listdir(out.parent) == ["clean.mkv"] and out.read_bytes() == b"previous"


def test_odd_size_rotation_and_vfr_come_through(tmp_path):
    src, out = tmp_path / "phone.mp4", tmp_path / "out.mp4"
    pts = [0, 40, 80, 150, 190, 260, 300]  # milliseconds: variable frame rate
    make_video(src, len(pts), 177, 99, pix_fmt="yuv444p", rotation=90, pts=pts)
    r = vidclean(src, out, "--sigma", 10)
    assert r.returncode == 0, r.stderr
    assert "4:4:4" in r.stderr or "yuv444p" in r.stderr  # the note about odd sizes
    with open_video(src) as a, open_video(out) as b:
        assert (b.info.width, b.info.height, b.info.rotation) == (177, 99, 90)
        assert [f.time for f in b] == pytest.approx([f.time for f in a])


def test_tiled_run_matches_the_whole_frame_run(tmp_path):
    clean = read_clip(SAMPLES / "foliage_clean.mp4", 4)  # 360x240: --tile 128 cuts it in 3x2 tiles
    src = tmp_path / "noisy.mkv"
    write_ffv1(src, add_gaussian(clean, 20, np.random.default_rng(3)))
    outs = []
    for extra in ([], ["--tile", "128"]):
        out = tmp_path / f"out{len(outs)}.mkv"
        r = vidclean(src, out, "--codec", "ffv1", "--sigma", "20", "--window", "3", *extra)
        assert r.returncode == 0, r.stderr
        outs.append(read_clip(out))
    assert outs[1].shape == outs[0].shape == clean.shape
    assert abs(psnr(outs[1], clean) - psnr(outs[0], clean)) < 0.05


def test_a_frame_above_1080p_is_cleaned_quietly_and_fused(tmp_path):
    # above 1920x1088 a frame is "large": its ConvLSTM state is kept in float16 (TensorFlow logs a
    # C++ "error" about it, a fallback, on CPUs without AVX-512 kernels for it), and its flow is
    # computed on a half-size copy and fused a band of rows at a time
    clean = np.stack([np.roll(frame, (4 * i, 6 * i), axis=(0, 1)) for i, frame in
                      enumerate(np.tile(read_clip(SAMPLES / "foliage_clean.mp4", 3), (5, 6, 1)))])[:, :1100, :2000]
    noisy = add_gaussian(clean, 15, np.random.default_rng(0))
    src, out = tmp_path / "large.mkv", tmp_path / "out.mkv"
    make_video(src, list(noisy), 2000, 1100, codec="ffv1", pix_fmt="bgr0")
    # as a user's shell starts it (importing TensorFlow here set TF_CPP_MIN_LOG_LEVEL to 1)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = vidclean(src, out, "--codec", "ffv1", "--sigma", "15", "-q", env=env)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""
    cleaned = read_clip(out)
    assert cleaned.shape == clean.shape
    assert psnr(cleaned, clean) > psnr(noisy, clean) + 2.5  # measured +3.6 (fine foliage)


def test_webm_output_needs_no_codec_and_everyday_codec_names_work(tmp_path):
    src = SAMPLES / "bmx_clean.mp4"
    for name, codec, expected in (("out.webm", [], "vp9"), ("out.mp4", ["--codec", "h265"], "hevc")):
        r = vidclean(src, tmp_path / name, "--preset", "fast", "--window", 1, "--no-fusion", "-q", *codec)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        with av.open(str(tmp_path / name)) as container:
            assert container.streams.video[0].codec_context.name == expected
            assert sum(1 for _ in container.decode(video=0)) == 32


@pytest.mark.parametrize("backend", ["jax_missing", "torch"])
def test_a_missing_keras_backend_is_one_line(tmp_path, backend):
    pytest.importorskip("keras")
    if backend == "torch" and importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here")
    r = vidclean(SAMPLES / "bmx_clean.mp4", tmp_path / "out.mp4", env={**os.environ, "KERAS_BACKEND": backend})
    assert_clean_error(r, "Keras", backend)
    assert os.listdir(tmp_path) == []


def test_an_output_folder_is_refused_in_one_line(tmp_path):
    for extra in ([], ["-y"]):
        assert_clean_error(vidclean(SAMPLES / "bmx_clean.mp4", tmp_path, *extra), "is a folder")


@pytest.mark.parametrize("args, start", [(["in.mp4", "out.mp4", "--window", "4"], "vidclean: error: argument --window"),
                                         (["batch", "a", "b", "--segment-frames", "0"], "vidclean batch: error:"),
                                         (["live", "--size", "3"], "vidclean live: error:")])
def test_a_bad_option_names_the_command_in_one_error_line(args, start):
    r = vidclean(*args)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(start), r.stderr


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_pixel_aspect_ratio_and_container_tags_are_kept(tmp_path, ext):
    """A phone's creation time and location, a title, and non-square pixels (anamorphic DV, say)."""
    src = tmp_path / f"in.{ext}"
    tags = {"title": "a walk", "creation_time": "2024-05-06T07:08:09.000000Z", "location": "+48.8577+002.2950/"}
    with av.open(str(src), "w") as out:
        out.metadata.update(tags)
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(16, 11)
        for i in range(12):
            rgb = np.full((48, 64, 3), 20 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    dst = tmp_path / f"out.{ext}"
    r = vidclean(src, dst, "--preset", "fast", "--window", 1, "-q")
    assert r.returncode == 0, r.stderr
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.sample_aspect_ratio == Fraction(16, 11)
        kept = {k.lower(): v for k, v in c.metadata.items()}
        assert kept["title"] == "a walk"
        if ext == "mp4":  # (Matroska has no standard location tag; its creation time is the DATE tag)
            assert kept["creation_time"].startswith("2024-05-06T07:08:09") and kept["location"] == tags["location"]
