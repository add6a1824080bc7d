"""A corpus of awkward and broken inputs, generated here, through the command line (in-process).

Each input either comes out right, keeping its properties, or gets one line on stderr and exit
status 2 with nothing written. Damaged streams give what decodes, with a note saying how many
frames were lost; ``--strict`` makes that an error. The command line's own process-level
behaviour (signals, the file size limit) is in test_cli.py, run as a subprocess.
"""

import os
import signal
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import corrupt_packets, make_video, synth_frame
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vidclean.cli.main import main
from vidclean.io.reader import open_video


def run(capsys, src, out, *options):
    """main() in this process; returns (exit status, stderr lines). The input must not change."""
    before = (src.read_bytes(), os.stat(src).st_mtime_ns) if src.is_file() else None
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGXFSZ)}
    try:
        code = main([str(src), str(out), *map(str, options)])
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    if before is not None:
        assert (src.read_bytes(), os.stat(src).st_mtime_ns) == before
    return code, capsys.readouterr().err.strip().splitlines()


def assert_refused(code, lines, folder, *words, keep=()):
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("vidclean: error: "), lines
    for word in words:
        assert word in lines[0], lines
    assert sorted(os.listdir(folder)) == sorted(keep)  # no output, no temp file


def read(path):
    with open_video(path) as stream:
        frames = list(stream)
        return stream.info, frames, stream.frames_lost


def notes(lines):
    return [line for line in lines if line.startswith("vidclean: note: ")]


# -- inputs that must come out right ----------------------------------------------


def _long_gop(path, n, width, height):
    """One keyframe, then only P and B frames (x264 keyint longer than the clip)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25), options={"g": "100000", "keyint_min": "100000",
                                                                      "sc_threshold": "0", "bf": "3"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(synth_frame(i, width, height), format="rgb24")))
        out.mux(stream.encode(None))


def _renamed(make, path, *args, **kwargs):
    """Make the file under its true extension, then give it the lying one."""
    true_name = path.with_name("true" + (".mkv" if kwargs.get("codec") == "ffv1" else ".mp4"))
    make(true_name, *args, **kwargs)
    true_name.rename(path)


VFR_PTS = [0, 33, 100, 117, 300, 333, 600]  # milliseconds


@pytest.mark.parametrize("name, make, size, rotation", [
    ("odd-4:2:0-ffv1.mkv", lambda p: make_video(p, 5, 35, 19, codec="ffv1", pix_fmt="yuv420p"), (35, 19), 0),
    ("gray.mkv", lambda p: make_video(p, 5, 40, 24, codec="ffv1", pix_fmt="gray"), (40, 24), 0),
    ("yuv444p.mp4", lambda p: make_video(p, 5, 40, 24, pix_fmt="yuv444p"), (40, 24), 0),
    ("10bit.mp4", lambda p: make_video(p, 5, 40, 24, pix_fmt="yuv420p10le"), (40, 24), 0),
    ("vfr.mkv", lambda p: make_video(p, 7, 32, 24, pts=VFR_PTS), (32, 24), 0),
    ("rotated.mp4", lambda p: make_video(p, 5, 48, 32, rotation=270), (48, 32), 270),
    ("long-gop.mp4", lambda p: _long_gop(p, 60, 32, 24), (32, 24), 0),
    ("matroska-named.mp4", lambda p: _renamed(make_video, p, 5, 32, 24, codec="ffv1", pix_fmt="bgr0"), (32, 24), 0),
    ("mp4-named.avi", lambda p: _renamed(make_video, p, 5, 32, 24, audio=True), (32, 24), 0),
    ("b-frames.avi", lambda p: make_video(p, 9, 32, 24), (32, 24), 0),
])
def test_awkward_inputs_come_out_right(tmp_path, capsys, name, make, size, rotation):
    src, out = tmp_path / name, tmp_path / "out.mp4"
    make(src)
    if "-named." in name:  # the extension really lies
        with av.open(str(src)) as container:
            assert name.split("-")[0] in container.format.name
    code, lines = run(capsys, src, out, "--window", 1, "--sigma", 10)
    assert code == 0, lines
    in_info, in_frames, _ = read(src)
    info, frames, lost = read(out)
    assert (info.width, info.height, info.rotation) == (*size, rotation)
    assert len(frames) == len(in_frames) and lost == 0
    assert [f.time for f in frames] == pytest.approx([f.time for f in in_frames], abs=1e-3)
    assert info.audio_streams == in_info.audio_streams
    # the picture is the input's, cleaned: close to it, not garbage
    # (on the 8-bit scale; 10-bit video reads as 16 bits a sample, and comes out in 10 bits)
    scale = 257 if in_frames[0].rgb.dtype == np.uint16 else 1
    assert frames[0].rgb.dtype == in_frames[0].rgb.dtype
    assert np.mean([np.abs(a.rgb.astype(int) - b.rgb).mean() / scale for a, b in zip(frames, in_frames)]) < 12
    if name == "gray.mkv":  # gray in, gray out (up to the 4:2:0 encoding)
        assert all(np.ptp(f.rgb.astype(int), axis=2).max() <= 4 for f in frames)
    if name == "vfr.mkv":
        assert [round(f.time * 1000) for f in frames] == VFR_PTS
    assert sorted(os.listdir(tmp_path)) == sorted([name, "out.mp4"])


def test_one_pixel_video_with_automatic_noise_level(tmp_path, capsys):
    """1x1 frames: no 2x2 cell to estimate the noise from (it was NaN, and the output garbage)."""
    src, out = tmp_path / "dot.mkv", tmp_path / "out.mp4"
    colours = [np.full((1, 1, 3), (200, 60, 30), np.uint8)] * 4
    make_video(src, colours, 1, 1, codec="ffv1", pix_fmt="bgr0")
    code, lines = run(capsys, src, out, "--window", 3)
    assert code == 0, lines
    assert "sigma auto 0.0" in lines[-1]
    info, frames, _ = read(out)
    assert (info.width, info.height) == (1, 1) and len(frames) == 4
    assert all(np.abs(f.rgb.astype(int) - (200, 60, 30)).max() <= 12 for f in frames)


def test_alpha_is_dropped_with_a_note(tmp_path, capsys):
    src, out = tmp_path / "alpha.mkv", tmp_path / "out.mkv"
    make_video(src, 4, 32, 24, codec="ffv1", pix_fmt="yuva420p")
    code, lines = run(capsys, src, out, "--window", 1, "--sigma", 5, "--codec", "ffv1")
    assert code == 0, lines
    assert any("alpha" in n and "yuva420p" in n for n in notes(lines)), lines
    info, frames, _ = read(out)
    assert len(frames) == 4 and info.pix_fmt == "bgr0"


# -- damaged inputs: what decodes, and a count of what did not ----------------------


def _damaged_mp4(folder):
    """A 30-frame H.264 MP4 with the data of frames 10-12 overwritten by random bytes."""
    path = folder / "damaged.mp4"
    make_video(path, 30, 48, 32)
    corrupt_packets(path, path)
    return path


def _truncated_mkv(folder):
    """The first half of a 30-frame FFV1 Matroska file, with audio (a copy cut short)."""
    whole = folder / "whole.mkv"
    make_video(whole, 30, 48, 32, codec="ffv1", pix_fmt="yuv420p", audio=True)
    path = folder / "cut.mkv"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


@pytest.mark.parametrize("make", [_damaged_mp4, _truncated_mkv])
def test_damaged_input_gives_what_decodes_with_a_count_of_the_lost(tmp_path, capsys, make):
    src = make(tmp_path)
    out = tmp_path / "out.mkv"
    _, decodable, lost = read(src)
    assert lost > 0 and 5 <= len(decodable) < 30
    code, lines = run(capsys, src, out, "--window", 1, "--sigma", 5, "--codec", "ffv1")
    assert code == 0, lines
    assert f"vidclean: note: {lost} frame(s) damaged or missing in the input: skipped" in lines
    assert "Traceback" not in "\n".join(lines)
    _, frames, _ = read(out)
    assert len(frames) == len(decodable)
    assert [f.time for f in frames] == pytest.approx([f.time for f in decodable], abs=1e-3)


@pytest.mark.parametrize("make", [_damaged_mp4, _truncated_mkv])
def test_strict_makes_damage_an_error_and_keeps_an_existing_output(tmp_path, capsys, make):
    src = make(tmp_path)
    out = tmp_path / "out.mkv"
    out.write_bytes(b"previous")
    code, lines = run(capsys, src, out, "--strict", "-y", "--window", 1, "--sigma", 5, "--codec", "ffv1")
    assert_refused(code, lines, tmp_path, "damaged or missing", "--strict", keep=[src.name, "out.mkv"])
    assert out.read_bytes() == b"previous"


def test_strict_passes_an_intact_input(tmp_path, capsys):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_video(src, 4, 32, 24)
    code, lines = run(capsys, src, out, "--strict", "--window", 1, "--sigma", 5)
    assert code == 0 and notes(lines) == [], lines
    assert len(read(out)[1]) == 4


# -- inputs that must be refused: one line, exit 2, nothing written -------------------


def _zero_frames(ext, codec, pix_fmt):
    def make(path):
        with av.open(str(path), "w") as out:
            stream = out.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = 32, 24, pix_fmt
            out.start_encoding()  # headers, then no frame at all
    return ext, make


def _half(ext, **kwargs):
    def make(path):
        make_video(path, 20, 32, 24, **kwargs)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return ext, make


@pytest.mark.parametrize("kind, words", [
    (_zero_frames("mp4", "libx264", "yuv420p"), ["video stream"]),
    (_zero_frames("mkv", "ffv1", "bgr0"), ["not a readable video"]),
    (_half("mp4", audio=True), ["not a readable video"]),  # the MP4 index (moov) is at the end
    (("mp4", lambda p: p.write_bytes(np.random.default_rng(1).bytes(3000))), ["not a readable video"]),
])
def test_undecodable_inputs_are_refused(tmp_path, capsys, kind, words):
    ext, make = kind
    src = tmp_path / f"in.{ext}"
    make(src)
    folder = tmp_path / "out"
    folder.mkdir()
    code, lines = run(capsys, src, folder / "out.mp4", "--window", 1)
    assert_refused(code, lines, folder, str(src), *words)


# -- outputs that must be refused ------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    src = tmp_path / "in.mp4"
    make_video(src, 3, 32, 24)
    return src


def test_hard_link_to_the_input_is_refused_even_with_y(tmp_path, capsys, small):
    link = tmp_path / "hard.mp4"
    os.link(small, link)
    code, lines = run(capsys, small, link, "-y", "--window", 1)
    assert_refused(code, lines, tmp_path, "input", keep=["in.mp4", "hard.mp4"])


def test_symlinked_folder_to_the_input_is_refused(tmp_path, capsys, small):
    (tmp_path / "alias").symlink_to(tmp_path)
    code, lines = run(capsys, small, tmp_path / "alias" / "in.mp4", "-y", "--window", 1)
    assert_refused(code, lines, tmp_path, "input", keep=["in.mp4", "alias"])


@pytest.mark.parametrize("name, words", [("out.nomuxer", ["unknown output format"]),
                                         ("out", ["unknown output format"]),
                                         ("missing/out.mp4", ["does not exist"]),
                                         ("in.mp4/out.mp4", ["does not exist"])])
def test_unusable_output_paths_are_refused(tmp_path, capsys, small, name, words):
    code, lines = run(capsys, small, tmp_path / name, "--window", 1)
    assert_refused(code, lines, tmp_path, *words, keep=["in.mp4"])


def test_unknown_output_codec_is_refused(tmp_path, capsys, small):
    code, lines = run(capsys, small, tmp_path / "out.mp4", "--codec", "nosuchcodec", "--window", 1)
    assert_refused(code, lines, tmp_path, "nosuchcodec", keep=["in.mp4"])



@pytest.fixture
def unwritable_folder(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
    elif os.path.isdir("/sys/kernel"):
        yield Path("/sys")  # root may write anywhere, but sysfs takes no new files
    else:
        pytest.skip("no folder that root cannot write to")


def test_unwritable_output_folder_is_refused(capsys, small, unwritable_folder):
    before = sorted(os.listdir(unwritable_folder))
    code, lines = run(capsys, small, unwritable_folder / "out.mp4", "--window", 1)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("vidclean: error: ") and "cannot start writing" in lines[0], lines
    assert sorted(os.listdir(unwritable_folder)) == before


# -- fuzzing the whole command line (the reader and writer alone: test_reader.py) ----------

CLI_FUZZ_EXAMPLES = int(os.environ.get("VIDCLEAN_CLI_FUZZ_EXAMPLES", "8"))


@pytest.fixture(scope="module")
def cli_seed(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "seed.mkv"
    make_video(path, 6, 32, 24, audio=True)
    return path.read_bytes()


@settings(max_examples=CLI_FUZZ_EXAMPLES, deadline=None, derandomize=CLI_FUZZ_EXAMPLES <= 8,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=8))
def test_fuzz_mutated_input_through_the_command_line(capsys, cli_seed, flips):
    """Exit 0 with an output, or exit 2 with one line and nothing written; never a traceback."""
    data = bytearray(cli_seed)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    with tempfile.TemporaryDirectory() as folder:
        src, out = Path(folder) / "in.mkv", Path(folder) / "out.mkv"
        src.write_bytes(bytes(data))
        code, lines = run(capsys, src, out, "--window", 3, "--codec", "ffv1", "-q")
        if code == 0:
            assert lines == [] and sorted(os.listdir(folder)) == ["in.mkv", "out.mkv"]
            assert len(read(out)[1]) >= 1
            event("cleaned")
        else:  # only the input may be refused: writing what was read must always work
            assert_refused(code, lines, folder, f"vidclean: error: {src}: ", keep=["in.mkv"])
            event("refused: " + lines[0].split(": ", 3)[-1].split(" (")[0])
