"""``-`` as input and output: vidclean between two programs that speak yuv4mpegpipe, NUT or Matroska."""

import subprocess
import sys
import textwrap

import av
import pytest

from conftest import SAMPLES, assert_clean_error, vidclean

# a producer of N noisy frames as a y4m stream on its standard output; after the first HOLD frames
# it waits (at most WAIT seconds) for the file MARK, which the consumer makes when a frame reaches it
PRODUCER = textwrap.dedent("""
    import os, sys, time
    import av, numpy as np
    n, hold, mark, wait = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    rng = np.random.default_rng(0)
    with av.open("pipe:1", "w", format="yuv4mpegpipe") as out:
        s = out.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for i in range(n):
            if i == hold:
                sys.stdout.flush()
                start = time.time()
                while not os.path.exists(mark) and time.time() - start < wait:
                    time.sleep(0.05)
                print("waited out" if not os.path.exists(mark) else "went on", file=sys.stderr)
            rgb = np.clip(np.full((96, 128, 3), 40 + 4 * i) + rng.normal(0, 15, (96, 128, 3)), 0, 255)
            out.mux(s.encode(av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24").reformat(format="yuv420p")))
""")

# a consumer that reads a stream on its standard input, makes MARK at its first frame, prints the count
CONSUMER = textwrap.dedent("""
    import sys
    import av
    mark, count = sys.argv[1], 0
    with av.open("pipe:0") as c:
        print(c.format.name, file=sys.stderr)
        for frame in c.decode(video=0):
            if count == 0:
                open(mark, "w").close()
            count += 1
    print(count)
""")


def chain(tmp_path, *args, frames=40, hold=None, wait=60.0):
    """producer | vidclean ARGS | consumer: (producer's stderr, vidclean's result, consumer's output)."""
    mark = tmp_path / "first-frame"
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(frames), str(hold or frames), str(mark),
                                 str(wait)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cleaner = subprocess.Popen([sys.executable, "-m", "vidclean", *map(str, args)], stdin=producer.stdout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    producer.stdout.close()
    consumer = subprocess.run([sys.executable, "-c", CONSUMER, str(mark)], stdin=cleaner.stdout,
                              capture_output=True, text=True, timeout=600)
    cleaner.stdout.close()
    err = cleaner.stderr.read().decode()
    cleaner.wait(timeout=60)
    producer.wait(timeout=60)
    return producer.stderr.read().decode(), (cleaner.returncode, err), consumer


def test_y4m_through_standard_input_and_output_keeps_every_frame_and_streams(tmp_path):
    """The first cleaned frame reaches the consumer while the producer still holds back the rest."""
    produced, (code, err), consumed = chain(tmp_path, "-", "-", "--preset", "fast", "--sigma", 15,
                                            frames=40, hold=20)
    assert code == 0 and "Traceback" not in err, err
    assert consumed.returncode == 0 and consumed.stdout.split() == ["40"], consumed.stderr
    assert "yuv4mpegpipe" in consumed.stderr
    assert produced.strip() == "went on"  # not "waited out": a frame came through before the input ended


def test_a_reader_that_goes_away_ends_the_job_quietly(tmp_path):
    src = SAMPLES / "foliage_noisy.mp4"
    cleaner = subprocess.Popen([sys.executable, "-m", "vidclean", str(src), "-", "--preset", "fast", "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cleaner.stdout.read(1000)  # the y4m header and part of a frame, then the pipe is closed
    cleaner.stdout.close()
    assert cleaner.wait(timeout=300) == 0
    assert cleaner.stderr.read() == b""


@pytest.mark.parametrize("fmt, demuxer, streams", [("nut", "nut", ["video", "audio"]),
                                                    ("matroska", "matroska,webm", ["video", "audio"]),
                                                    ("y4m", "yuv4mpegpipe", ["video"])])
def test_a_file_to_standard_output_in_each_format(tmp_path, fmt, demuxer, streams):
    out = tmp_path / "stream"
    with open(out, "wb") as f:
        r = subprocess.run([sys.executable, "-m", "vidclean", str(SAMPLES / "foliage_noisy.mp4"), "-",
                            "--format", fmt, "--preset", "fast", "--no-fusion"], stdout=f, stderr=subprocess.PIPE,
                           text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith("-> -")  # notes and the summary on stderr only
    with av.open(str(out)) as c:
        assert c.format.name == demuxer and [s.type for s in c.streams] == streams
        assert sum(1 for _ in c.decode(video=0)) == 30


def test_format_is_only_for_standard_output(tmp_path):
    assert_clean_error(vidclean(SAMPLES / "bmx_clean.mp4", tmp_path / "out.mp4", "--format", "nut"), "--format")
    assert not list(tmp_path.iterdir())
