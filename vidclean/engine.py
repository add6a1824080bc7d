"""Streaming inference: frames in, cleaned frames out, one encoder and one ConvLSTM step per frame.

    denoiser = Denoiser(preset="balanced", window=5, sigma=None)   # sigma None = estimate (auto)
    for frame, clean in denoiser.run(stream):                      # frames from vidclean.reader
        ...

Each frame is encoded once when it is read; the window (vidclean.window) then hands over
references to those encodings. The ConvLSTM state is carried through the stream: the first
window's items all enter it (the reflected pre-roll), every later window adds only its newest
item, and the centre frame is decoded from the state ``k`` frames after it. The state restarts
every STATE_PERIOD frames, warmed up on the frames before (``StateTracks``), so any part of a video
can be cleaned alone exactly as in a whole run (``run(first=..., emit_from=...)``).

Decoding and the per-frame preparation (noise estimate, padding, tiling) run on a thread ahead
of the model (vidclean.pipeline). Frames larger than a pixel budget go through the network in
overlapping tiles, each with its own recurrent state, blended back with linear ramps. With
``fusion`` the cleaned frames then go through vidclean.fusion (motion-compensated averaging with
their neighbours), the model running on a thread of its own ahead of it; a preset with a refiner
(``registry.REFINERS``) then refines each fused frame from it and the noisy frames' mean along
the same motion.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import cv2
import keras
import numpy as np
from keras import ops

from vidclean.fusion import Fused, MotionFusion
from vidclean.model import MAX_DELAY, SIZE_MULTIPLE, load_preset, load_refiner
from vidclean.noise import SigmaTracker
from vidclean.pipeline import prefetch
from vidclean.reader import Frame
from vidclean.registry import STATE_PERIOD, STATE_WARMUP, check_window, fusion_flow, is_large_frame
from vidclean.window import sliding_windows

# Largest tile, in pixels, whatever the free memory: 1080p fits in one (in four 1 Mpx tiles it
# ran 40% slower); frames larger than that go in tiles of at most 1 Mpx, whose activations are
# small beside the large frames' caches. And the smallest tile.
MAX_TILE_PIXELS = 1920 * 1088
MAX_LARGE_FRAME_TILE_PIXELS = 1024 * 1024
MIN_TILE_PIXELS = 256 * 256
# Memory a tile costs per pixel while the network runs ("balanced": 0.75 Mpx tiles took ~450 MB).
BYTES_PER_TILE_PIXEL = 600
TILE_OVERLAP = 48  # pixels shared by neighbouring tiles; the blending ramp spans them


def pad_to_multiple(rgb: np.ndarray, multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE)
    return rgb


# CPU flags of bfloat16 arithmetic in hardware, which oneDNN's bfloat16 convolutions use: Intel's
# AMX matrix units (Xeon 4th generation on), AVX-512 BF16 dot products (AMD Zen 4 on, Intel Cooper
# Lake). On the project's AMD EPYC (avx512_bf16, no AMX), 854x480, networks alone: fast 9.1 -> 12.9
# fps, balanced 6.6 -> 11.1, quality 2.5 -> 4.7; PSNR -0.02 / -0.01 / -0.02 dB (bus, sigma 20)
BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_bfloat16_arithmetic() -> bool:
    """Whether this CPU computes in bfloat16 in hardware (one of BFLOAT16_FLAGS)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split()
                    return any(flag in flags for flag in BFLOAT16_FLAGS)
    except OSError:
        pass
    return False


def bfloat16_available() -> bool:
    """Whether ``precision="bfloat16"`` can run fast here: TensorFlow's oneDNN on a CPU with
    bfloat16 arithmetic (AMX or AVX-512 BF16)."""
    return keras.backend.backend() == "tensorflow" and cpu_has_bfloat16_arithmetic()


def use_bfloat16(enabled: bool) -> None:
    """Has TensorFlow run the networks' convolutions in bfloat16 (oneDNN on AMX or AVX-512 BF16),
    float32 elsewhere.

    TensorFlow's oneDNN auto-mixed-precision graph pass casts around the ops that gain (the
    convolutions) and keeps the rest in float32; weights, inputs and outputs stay float32. It
    applies to the graphs compiled from then on in this process (a Denoiser's, at their first
    call). No effect off the TensorFlow backend. Measured on an AMX Xeon: balanced 91 -> 36 ms
    per 854x480 frame, the former fast 34 -> 21 ms; mean PSNR on the validation clips (sigma
    10-50) within 0.01 dB of float32 at every sigma for balanced (-0.007). On AVX-512 BF16 see
    BFLOAT16_FLAGS.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": enabled})


def compiled(model, pixels_first: bool = False, pixels_out: bool = False):
    """``model`` as a function of its list of inputs, compiled by the backend once per input shape.

    TensorFlow: a ``tf.function`` graph; JAX: ``jax.jit`` of the stateless call; PyTorch: eager,
    without autograd; other backends: ``predict_on_batch``. Outputs stay backend tensors, so
    features and state are not copied to NumPy and back between the networks (that cost ~100 ms
    per 480p frame). With ``pixels_first`` the first input is given as 8-bit pixels and scaled to
    0-1 in the graph; with ``pixels_out`` the (single) output is turned back into 8-bit pixels in
    the graph.
    """

    def unit(inputs):
        return [ops.cast(inputs[0], "float32") * (1 / 255), *inputs[1:]] if pixels_first else inputs

    def pixels(x):
        if not pixels_out:
            return x
        # (cast last: TensorFlow's oneDNN logs an error line for uint8 reshapes, then falls back)
        return ops.cast(ops.clip(ops.round(x * 255), 0, 255), "uint8")

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda inputs: pixels(model(unit(inputs), training=False)), reduce_retracing=True,
                           autograph=False)
    if backend == "jax":
        import jax

        variables = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
        step = jax.jit(lambda trainable, fixed, inputs: pixels(model.stateless_call(trainable, fixed, unit(inputs),
                                                                                        training=False)[0]))
        return lambda inputs: step(*variables, inputs)
    if backend == "torch":
        import torch

        def step(inputs):  # (predict_on_batch refuses a list mixing NumPy arrays and tensors)
            with torch.no_grad():
                return pixels(model([ops.convert_to_tensor(x) for x in unit(inputs)], training=False))

        return step
    return lambda inputs: pixels(model.predict_on_batch(unit(inputs)))


def noise_map(image: np.ndarray, sigma: float) -> np.ndarray:
    """The network's noise-level input for one (1, h, w, c) tile: sigma on the 0-1 scale."""
    return np.full(image.shape[:3] + (1,), sigma / 255.0, np.float32)


def _keep(x, large: bool):
    """The ConvLSTM state as kept between frames: float16 for large frames (half the memory)."""
    return ops.cast(x, "float16") if large else x


def _float(x):
    """The kept state back in float32 (it is float16 for large frames)."""
    return x if x.dtype == "float32" else ops.cast(x, "float32")


def return_large_blocks_to_the_system() -> None:
    """Makes glibc's malloc give large freed blocks back at once (a 4K frame's buffers come and go).

    By default glibc raises its mmap threshold as big blocks are freed, after which such blocks
    stay in the heap and resident memory only grows: 1.9 GB instead of 1.2 GB at 4K (measured).
    A fixed 1 MB threshold and two arenas keep it flat. No effect off glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: blocks of 1 MB and up are mmap()ed, unmapped when freed
        libc.mallopt(-8, 2)  # M_ARENA_MAX: the threads share two heaps instead of one each
    except (OSError, AttributeError):
        pass


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable), or 4 GiB if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def tile_budget(frame_pixels: int = 0) -> int:
    """Pixels one tile of a frame this large may hold, from the memory available now."""
    largest = MAX_LARGE_FRAME_TILE_PIXELS if is_large_frame(frame_pixels) else MAX_TILE_PIXELS
    return int(min(max(available_memory() // BYTES_PER_TILE_PIXEL, MIN_TILE_PIXELS), largest))


def _split(n: int, side: int, multiple: int) -> tuple[int, list[int]]:
    """Tile length and evenly spread starts (multiples of ``multiple``) covering ``n``.

    As few tiles as fit ``side`` with TILE_OVERLAP between neighbours, then each made only as long
    as that count needs, so little is computed twice.
    """
    if n <= side:
        return n, [0]
    count = math.ceil((n - TILE_OVERLAP) / (side - TILE_OVERLAP))
    length = min(-(-math.ceil((n + (count - 1) * TILE_OVERLAP) / count) // multiple) * multiple, n)
    return length, [min(round(i * (n - length) / (count - 1) / multiple) * multiple, n - length) for i in range(count)]


def _ramp(n: int, start: int, size: int) -> np.ndarray:
    """1-D blending weight of a tile: rises over TILE_OVERLAP pixels from each inner edge."""
    i = np.arange(size, dtype=np.float32) + 0.5
    w = np.ones(size, np.float32)
    if start > 0:
        w = np.minimum(w, i / TILE_OVERLAP)
    if start + size < n:
        w = np.minimum(w, (size - i) / TILE_OVERLAP)
    return w


class Tiling:
    """Overlapping tiles of one (padded) frame size, all the same size, and how to join them."""

    def __init__(self, height: int, width: int, max_pixels: int, multiple: int = SIZE_MULTIPLE):
        side = max(int(math.sqrt(max_pixels)) // multiple * multiple, 2 * TILE_OVERLAP + multiple)
        if height * width <= max_pixels:
            side = max(height, width)
        th, ys = _split(height, side, multiple)
        tw, xs = _split(width, side, multiple)
        self.height, self.width, self.size = height, width, (th, tw)
        self.boxes = [(y, x) for y in ys for x in xs]
        if len(self.boxes) > 1:
            self.weights = [_ramp(height, y, th)[:, None, None] * _ramp(width, x, tw)[None, :, None] for y, x in self.boxes]
            total = np.zeros((height, width, 1), np.float32)
            for (y, x), w in zip(self.boxes, self.weights):
                total[y:y + th, x:x + tw] += w
            self.weights = [w / total[y:y + th, x:x + tw] for (y, x), w in zip(self.boxes, self.weights)]

    def split(self, image: np.ndarray) -> list[np.ndarray]:
        th, tw = self.size
        return [image[y:y + th, x:x + tw] for y, x in self.boxes]

    def merge(self, tiles: Iterable[np.ndarray]) -> np.ndarray:
        """Joins the 8-bit tiles (given in ``boxes`` order, row by row) into one 8-bit image.

        Each tile is added in as it comes, so one tile is in memory at a time; the weighted sums
        are kept in float32 for one row of tiles only: when the next row starts, the rows above
        it are complete, and are rounded into the output (a 4K frame in float32 is 100 MB).
        """
        tiles = iter(tiles)
        if len(self.boxes) == 1:
            return next(tiles)
        th, tw = self.size
        out = np.empty((self.height, self.width, 3), np.uint8)
        band = np.zeros((th, self.width, 3), np.float32)  # sums for the frame's rows top .. top + th
        top = 0
        for (y, x), w, tile in zip(self.boxes, self.weights, tiles):
            if y != top:  # a new row of tiles
                done = y - top
                _round_into(band[:done], out[top:y])
                band[: th - done] = band[done:]
                band[th - done:] = 0
                top = y
            band[:, x:x + tw] += w * tile
        _round_into(band[: self.height - top], out[top:])
        return out


def _round_into(sums: np.ndarray, out: np.ndarray) -> None:
    np.rint(sums, out=sums)
    out[...] = np.clip(sums, 0, 255, out=sums)


@dataclass
class Encoded:
    """One frame as the network sees it, computed once and shared by every window holding it.

    Lists hold one entry per tile. Tiles stay 8-bit, features are backend tensors; ``images``
    and ``skips`` are dropped once the frame has been decoded (``skips`` one frame later for a
    network with neighbours: the next frame's frame before). Frames above LARGE_FRAME_PIXELS
    keep their tiles instead and no features (``skips`` and, after the frame's ConvLSTM step,
    ``feats`` are None): a window of 4K frames stays small.
    """

    frame: Frame
    size: tuple[int, int]  # the frame's height and width
    images: list[np.ndarray] | None  # (1, h, w, 3) uint8 tiles
    skips: list[np.ndarray] | None
    feats: list[np.ndarray] | None
    sigma: float

    @property
    def large(self) -> bool:
        return is_large_frame(self.size[0] * self.size[1])


class Denoiser:
    """Cleans a stream of frames with a preset's network.

    ``window`` is the odd number of frames each output sees (``2k+1``, at most
    ``MAX_WINDOW``); ``sigma`` is the noise level on the 0-255 scale, or ``None`` to estimate
    it from the frames as they arrive (median of the last 25 per-frame estimates).
    ``tile`` is the largest tile side in pixels, or ``None`` to tile only frames above the pixel
    budget that the free memory allows (``tile_budget``).
    ``precision`` "auto" runs the convolutions in bfloat16 where the CPU has matrix units for it
    (``bfloat16_available``), "float32" always in float32; on TensorFlow this is a setting of the
    process (``use_bfloat16``), so Denoisers that live side by side should share it.
    ``fusion`` (before, after) averages each cleaned frame with that many cleaned frames before
    and after it, warped onto it along the motion (``vidclean.fusion``, with the DIS preset
    ``registry.fusion_flow(preset)``); outputs then come ``after``
    frames later. None: the network's output as it is. A preset with a refiner
    (``registry.REFINERS``: "quality"), fused with frames both before and after and with its
    shipped weights, refines each fused frame (``refine``); frames told a noise level of 0 are left
    as the fusion gives them.
    ``last_sigma`` and ``mean_sigma`` report the level used in the latest run (flat memory: no
    per-frame list); each ``run`` starts its own estimate, so one Denoiser serves many files.
    """

    def __init__(self, preset: str = "balanced", window: int = 5, sigma: float | None = None, weights=None,
                 tile: int | None = None, precision: str = "auto", fusion: tuple[int, int] | None = None):
        self.window = check_window(window)
        # (frames before, frames after) each cleaned frame is fused with (vidclean.fusion); None: not fused
        if fusion is not None and min(fusion) < 0:
            raise ValueError(f"fusion must be (before, after) with both >= 0, got {fusion}")
        self.fusion = fusion
        self.fusion_flow = fusion_flow(preset)
        if precision not in ("auto", "float32"):
            raise ValueError(f"precision must be 'auto' or 'float32', got {precision!r}")
        self.precision = "bfloat16" if precision == "auto" and bfloat16_available() else "float32"
        use_bfloat16(self.precision == "bfloat16")
        return_large_blocks_to_the_system()
        self.nets = load_preset(preset, weights)
        # the three networks as compiled functions: features and state stay backend tensors
        # between calls; only the frame goes in and the cleaned frame comes out as NumPy
        self.encoder = compiled(self.nets.encoder, pixels_first=True)
        self.temporal = compiled(self.nets.temporal)
        self.decoder = compiled(self.nets.decoder, pixels_first=True, pixels_out=True)
        # the refiner was trained on the shipped network's outputs fused both ways: not with other
        # weights, nor with a fusion over earlier frames only (the live preview)
        refiner = load_refiner(preset) if fusion is not None and min(fusion) > 0 and weights is None else None
        self.refiner = None if refiner is None else compiled(refiner, pixels_first=True, pixels_out=True)
        self.sigma = sigma
        self.tile = tile
        self.tracker = SigmaTracker()
        self.last_sigma = self.sigma_total = 0.0  # noise level of the last output; sum over outputs
        self.frames_done = 0
        self._tilings: dict[tuple[int, int], Tiling] = {}

    @property
    def mean_sigma(self) -> float:
        return self.sigma_total / max(self.frames_done, 1)

    def tiling(self, height: int, width: int) -> Tiling:
        if (height, width) not in self._tilings:
            budget = tile_budget(height * width) if self.tile is None else self.tile**2
            self._tilings[height, width] = Tiling(height, width, budget)
        return self._tilings[height, width]

    def prepare(self, frame: Frame, pixels: bool = True) -> Encoded:
        """The model's inputs for one frame: its tiles, and its noise level.
        Without ``pixels`` the frame is kept without its RGB array (the tiles hold the pixels)."""
        sigma = self.sigma if self.sigma is not None else self.tracker.update(frame.rgb)
        padded = pad_to_multiple(frame.rgb)
        tiles = self.tiling(*padded.shape[:2]).split(padded)
        size = frame.rgb.shape[:2]
        if not pixels:
            frame = replace(frame, rgb=None)
        return Encoded(frame, size, [t[None] for t in tiles], None, None, sigma)

    def encode(self, item: Encoded) -> Encoded:
        """A prepared frame through the encoder.

        Frames above LARGE_FRAME_PIXELS keep no features at all once their ConvLSTM step is
        done, only their 8-bit tiles: the encoder runs again when the frame is decoded (about a
        fifth more work; for a network with neighbours also for the frames before and after it)
        and for the few frames stepped twice (the reflected ends of the stream).
        At 4K a window then holds about 135 MB instead of about 700 MB ("balanced").
        """
        skips, feats = [], []
        for skip, feat in self.encoded_tiles(item):
            if not item.large:
                skips.append(skip)
            feats.append(feat)
        item.skips, item.feats = (None if item.large else skips), feats
        return item

    def encoded_tiles(self, item: Encoded) -> Iterator:
        """(skip, feat) per tile, from the encoder, one tile at a time."""
        return (self.encoder([image, noise_map(image, item.sigma)]) for image in item.images)

    def features(self, item: Encoded) -> list:
        """The frame's quarter-resolution features per tile, computed again if dropped."""
        if item.feats is None:
            item.feats = [feat for _, feat in self.encoded_tiles(item)]
        return item.feats

    def decoding_features(self, item: Encoded) -> Iterable:
        """(skip, feat) per tile for decoding the frame: cached, or from the encoder once more."""
        if item.skips is not None:
            return zip(item.skips, self.features(item))
        return self.encoded_tiles(item)

    def run(self, frames: Iterable[Frame], read_ahead: int = 4, pixels: bool = True,
            first: int = 0, emit_from: int | None = None) -> Iterator[tuple[Frame, np.ndarray]]:
        """Yields ``(input frame, cleaned RGB uint8)`` for every input frame, in order.

        ``read_ahead`` frames are decoded and prepared on a thread ahead of the model, and with
        ``fusion`` the model runs on a thread of its own, 2 frames ahead of the fusion; 0 reads each
        frame only when the previous output has been taken (a live source wants that; with
        ``fusion`` its ``after`` frames later).
        Without ``pixels`` the input frames come back without their RGB arrays (``rgb`` None),
        which a window of 4K frames need not hold.

        A part of a video: ``first`` is the index of the first frame given, and only frames from
        index ``emit_from`` on are yielded (the network cleans from ``emit_from - before``). Given
        the frames from ``R - STATE_WARMUP - SIGMA_HISTORY`` (without the SIGMA_HISTORY with a
        fixed sigma), R being the restart at or before ``emit_from - before`` (a multiple of
        STATE_PERIOD; ``before``, ``after`` those of ``fusion``, else 0), up to ``window // 2 +
        after`` past the last one wanted, the outputs are those of a run over the whole video (the
        earlier frames only feed the noise estimate, the ConvLSTM's warm-up and the fusion).
        """
        emit_from = first if emit_from is None else emit_from
        self.last_sigma = self.sigma_total = 0.0
        self.frames_done = 0
        before, after = self.fusion or (0, 0)
        refine = self.refiner is not None and self.sigma != 0
        # the refiner needs each frame's noisy pixels: they are kept up to the fusion
        cleaned = self._network_outputs(frames, read_ahead, pixels or refine, first, max(first, emit_from - before))
        try:
            if self.fusion is None:
                for _, frame, clean, sigma in cleaned:
                    self._count(sigma)
                    yield frame, clean
                return
            fusion = MotionFusion(before, after, self.fusion_flow)
            # the network runs ahead on a thread of its own while this one fuses (both release the
            # GIL), unless frames are read only as they are wanted (a live source)
            ahead = prefetch(cleaned, 2 if read_ahead else 0)
            try:
                for t, frame, clean, sigma in ahead:
                    noisy = frame.rgb if refine else None
                    yield from self._emit(fusion.push(clean, sigma, (t, frame, sigma), noisy), emit_from, pixels)
                yield from self._emit(fusion.flush(), emit_from, pixels)
            finally:
                ahead.close()  # its thread stops before the network's generator is closed
        finally:
            cleaned.close()

    def _emit(self, fused, emit_from: int, pixels: bool):
        for (t, frame, sigma), clean in fused:
            if t >= emit_from:
                if isinstance(clean, Fused):
                    clean = self.refine(clean, sigma)
                    if not pixels:
                        frame = replace(frame, rgb=None)
                self._count(sigma)
                yield frame, clean

    def refine(self, fused: Fused, sigma: float) -> np.ndarray:
        """A fused frame through the preset's refiner (in the network's tiles), unless told no noise."""
        if sigma <= 0:
            return fused.image
        height, width = fused.image.shape[:2]
        unit = np.float32(1 / 255)  # 8-bit and 0-255 levels to the networks' 0-1
        image, mean, noise = pad_to_multiple(fused.image), pad_to_multiple(fused.mean), pad_to_multiple(fused.noise * unit)
        tiling = self.tiling(*image.shape[:2])
        outs = (ops.convert_to_numpy(self.refiner([i[None], m[None].astype(np.float32) * unit, n[None, ..., None]]))[0]
                for i, m, n in zip(tiling.split(image), tiling.split(mean), tiling.split(noise)))
        return tiling.merge(outs)[:height, :width]

    def _count(self, sigma: float) -> None:
        self.last_sigma = sigma
        self.sigma_total += sigma
        self.frames_done += 1

    def _network_outputs(self, frames: Iterable[Frame], read_ahead: int, pixels: bool, first: int,
                         emit_from: int) -> Iterator[tuple[int, Frame, np.ndarray, float]]:
        """``(frame index, input frame, the network's cleaned RGB uint8, noise level)`` for each
        frame from ``emit_from`` on."""
        k = self.window // 2
        delay = np.full((1, 1), k / MAX_DELAY, np.float32)
        self.tracker = SigmaTracker(first=first)  # a new stream: its own noise estimate
        # frames before `start` are only measured for the noise estimate; from it, the warm-up of
        # the state that serves `emit_from`
        start = max(first, emit_from // STATE_PERIOD * STATE_PERIOD - STATE_WARMUP) if emit_from > first else first
        prepared = (self.prepare(f, pixels) for f in frames)
        frames = itertools.dropwhile(lambda item: item[0] < start, enumerate(prepared, first))
        head = next(frames, None)
        if head is None:
            return
        if head[1].large:
            read_ahead = 0  # a 4K frame prepared ahead holds ~80 MB; the model takes seconds a frame anyway
        ahead = prefetch((item for _, item in itertools.chain([head], frames)), read_ahead)
        tracks = StateTracks(self, k, first=start, emit_from=emit_from)
        neighbours = self.nets.cfg.neighbours
        before = None  # the frame before the centre; a window of one (k = 0) does not hold it
        try:
            encoded = map(self.encode, ahead)
            for i, win in enumerate(sliding_windows(encoded, self.window)):
                for item in win if i == 0 else win[-1:]:
                    tracks.step(item)
                centre, t = win[k], start + i
                if k:
                    before = win[k - 1]
                if t >= emit_from:
                    near = None
                    if neighbours:  # (before is None only at the first frame of a window of one)
                        near = (centre if before is None else before, win[k + 1] if k else centre)
                    yield t, centre.frame, self.decode(centre, tracks.state(t), delay, near), centre.sigma
                if not centre.large:  # a large frame keeps its tiles: they stand in for its features
                    centre.images = None
                centre.frame = None
                # a window only needs the features now, but a network with neighbours needs the
                # centre's half-resolution ones once more, as the next frame's frame before
                if not neighbours:
                    centre.skips = None
                elif i:  # (at i == 0 the frame before is a reflection of a later one)
                    before.skips = None
                if not k:
                    before = centre
        finally:
            ahead.close()  # stops the reading thread now, not when collected

    def decode(self, centre: Encoded, states: list, delay: np.ndarray,
               near: tuple[Encoded, Encoded] | None = None) -> np.ndarray:
        """The cleaned centre frame (8-bit RGB) from its own features and the ConvLSTM state, and
        the features of the frames ``near`` it (before, after) for a network that takes them."""
        frames = [centre, *(near or ())]

        def tile_features():  # per tile: (skip, feat) of the centre, then of each neighbour
            unique = {id(f): f for f in frames}  # a frame standing in twice is encoded once
            for tile in zip(*(self.decoding_features(f) for f in unique.values())):
                found = dict(zip(unique, tile))
                yield [x for f in frames for x in found[id(f)]]

        outs = (  # decoded one tile at a time (8-bit RGB), as the merge takes them
            ops.convert_to_numpy(self.decoder([image, skip, feat, _float(h), delay, *near_features]))[0]
            for image, (skip, feat, *near_features), (h, _) in zip(centre.images, tile_features(), states)
        )
        height, width = centre.size
        tiling = self.tiling(height + (-height % SIZE_MULTIPLE), width + (-width % SIZE_MULTIPLE))
        return tiling.merge(outs)[:height, :width]


class StateTracks:
    """The ConvLSTM states of a stream: one track per STATE_PERIOD frames, each from zero.

    Track ``c`` serves the frames ``c*P .. (c+1)*P - 1``; it starts STATE_WARMUP frames before
    them (the first track: with the stream) and takes frames up to ``k`` after them (a frame is
    decoded from the state ``k`` frames later). Items are stepped in the order the windows bring
    them (the reflected pre-roll included) and each enters every track whose span holds it: at
    most two at once, so STATE_WARMUP + k frames in STATE_PERIOD are stepped twice.
    """

    def __init__(self, denoiser: Denoiser, k: int, first: int, emit_from: int):
        self.denoiser, self.k = denoiser, k
        self.position = self.begin = first - k  # index of the next item stepped (the pre-roll: k before `first`)
        self.lowest = emit_from // STATE_PERIOD  # tracks before it serve no frame wanted
        self.tracks: dict[int, list] = {}  # track -> (h, c) per tile

    def step(self, item: Encoded) -> None:
        p, P = self.position, STATE_PERIOD
        self.position += 1
        wanted = [c for c in (p // P - 1, p // P, p // P + 1)
                  # from its warm-up, or from the stream's start if the stream starts after that
                  if c >= self.lowest and max(c * P - STATE_WARMUP, self.begin) <= p <= (c + 1) * P - 1 + self.k]
        for c in list(self.tracks):
            if c not in wanted:
                del self.tracks[c]  # its frames are all decoded
        if not wanted:
            return
        feats = self.denoiser.features(item)
        lstm = self.denoiser.nets.cfg.lstm
        for c in wanted:
            states = self.tracks.get(c) or [
                (np.zeros(tuple(f.shape[:3]) + (lstm,), np.float32),) * 2 for f in feats]
            self.tracks[c] = [tuple(_keep(s, item.large) for s in self.denoiser.temporal([f, _float(h), _float(cc)]))
                              for f, (h, cc) in zip(feats, states)]
        if item.large:
            item.feats = None  # computed again if needed: the 8-bit tiles are smaller

    def state(self, t: int) -> list:
        """(h, c) per tile for decoding frame ``t``: its track, stepped up to frame t + k."""
        return self.tracks[t // STATE_PERIOD]
