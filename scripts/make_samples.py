"""Makes the small clips in samples/ from ../shared/data (run from the repository root).

    python scripts/make_samples.py ../shared/data

samples/foliage_clean.mp4  Vid4 "foliage" (lossless PNG source), 360x240, 30 frames, H.264 CRF 10 yuv444p (near-lossless reference)
samples/foliage_noisy.mp4  the same frames with camera-like noise (Poisson-Gaussian, colour-correlated,
                           std about 20 on 0-255), H.264 CRF 16 + a 440 Hz AAC tone, 25 fps: the README's demo
samples/bmx_clean.mp4      DAVIS "bmx-trees" (a training clip; fast motion), 360x200, 32 frames, H.264 CRF 10
                           yuv444p: where a ConvLSTM state carried too long drifts (tests/test_engine.py)
samples/dog_noisy.mp4      DAVIS "dog" (a training clip; camera following a dog), 256x144, 48 frames, Gaussian
                           sigma 15, H.264 CRF 16 yuv420p: a clip longer than the ConvLSTM's 16-frame restarts, for
                           the API test (tests/test_api.py)

    python scripts/make_samples.py ../shared/data dog   (only the named samples: foliage, bmx, dog)
"""

import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidclean.io.clips import read_clip
from vidclean.training.noise import add_camera_noise


def write(path, frames, codec, pix_fmt, options=None, audio=False, fps=25):
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=Fraction(fps), options=options or {})
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if audio:
            a = out.add_stream("aac", rate=44100, layout="mono")
            t = np.arange(int(44100 * len(frames) / fps)) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for i in range(0, len(tone), 1024):
                af = av.AudioFrame.from_ndarray(tone[None, i:i + 1024], format="flt", layout="mono")
                af.sample_rate, af.pts = 44100, i
                out.mux(a.encode(af))
            out.mux(a.encode())
        for rgb in frames:
            out.mux(v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(v.encode())


def foliage(data):
    clip = read_clip(Path(data) / "train/vid4/foliage", 30)
    clip = np.stack([cv2.resize(f, (360, 240), interpolation=cv2.INTER_AREA) for f in clip])
    rng = np.random.default_rng(7)
    noisy = add_camera_noise(clip, 2.5e-3, 0.02, rng)
    print("noise std on 0-255:", float(np.std(noisy.astype(np.float32) - clip)))
    write("samples/foliage_clean.mp4", clip, "libx264", "yuv444p", {"crf": "10"})
    write("samples/foliage_noisy.mp4", noisy, "libx264", "yuv420p", {"crf": "16"}, audio=True)


def bmx(data):
    bmx = read_clip(Path(data) / "train/davis/bmx-trees", 32)
    bmx = np.stack([cv2.resize(f, (360, 200), interpolation=cv2.INTER_AREA) for f in bmx])
    write("samples/bmx_clean.mp4", bmx, "libx264", "yuv444p", {"crf": "10"})


def dog(data):
    clip = read_clip(Path(data) / "train/davis/dog", 48)
    clip = np.stack([cv2.resize(f, (256, 144), interpolation=cv2.INTER_AREA) for f in clip])
    noisy = np.clip(clip + np.random.default_rng(15).normal(0, 15, clip.shape), 0, 255).astype(np.uint8)
    write("samples/dog_noisy.mp4", noisy, "libx264", "yuv420p", {"crf": "16"})


SAMPLES = {"foliage": foliage, "bmx": bmx, "dog": dog}

if __name__ == "__main__":
    data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    Path("samples").mkdir(exist_ok=True)
    for name in sys.argv[2:] or SAMPLES:
        SAMPLES[name](data)
