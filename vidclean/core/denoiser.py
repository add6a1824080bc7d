"""The Denoiser: frames in, cleaned frames out, one encoder and one ConvLSTM step per frame.

    denoiser = Denoiser()                                  # the command line's defaults
    for clean in denoiser.denoise(rgb_frames):             # H x W x 3 uint8 (or uint16) arrays in and out
        ...
    for frame, clean in denoiser.run(stream):              # vidclean.io.reader Frames (with timestamps)
        ...

Each frame is encoded once when it is read; the window (vidclean.core.window) then hands over
references to those encodings. The ConvLSTM state is carried through the stream: the first
window's items all enter it (the reflected pre-roll), every later window adds only its newest
item, and the centre frame is decoded from the state ``k`` frames after it. The state restarts
every STATE_PERIOD frames, warmed up on the frames before (``StateTracks``), so any part of a video
can be cleaned alone exactly as in a whole run (``run(first=..., emit_from=...)``).

Decoding and the per-frame preparation (noise estimate, padding, tiling) run on a thread ahead
of the model (vidclean.core.pipeline). Frames larger than a pixel budget go through the network in
overlapping tiles (vidclean.core.tiling). With ``fusion`` the cleaned frames then go through
vidclean.core.fusion (motion-compensated averaging with their neighbours), the model running on a
thread of its own ahead of it; a preset with a refiner (``presets.REFINERS``) then refines each
fused frame from it and the noisy frames' mean along the same motion.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace

import numpy as np

from vidclean.core.backend import (bfloat16_available, compiled, load_keras, return_large_blocks_to_the_system,
                                   use_bfloat16)
from vidclean.core.fusion import Fused, MotionFusion
from vidclean.core.networks import MAX_DELAY, SIZE_MULTIPLE, load_preset, load_refiner
from vidclean.core.noise import SigmaTracker
from vidclean.core.pipeline import prefetch
from vidclean.core.tiling import Tiling, pad_to_multiple, tile_budget
from vidclean.core.window import sliding_windows
from vidclean.io.reader import Frame
from vidclean.presets import (DEFAULT_WINDOW, PRESETS, STATE_PERIOD, STATE_WARMUP, check_window, fusion_flow,
                              fusion_radius, is_large_frame, state_tracks)

ops = load_keras().ops


def noise_map(image: np.ndarray, sigma: float) -> np.ndarray:
    """The network's noise-level input for one (1, h, w, c) tile: sigma on the 0-1 scale."""
    return np.full(image.shape[:3] + (1,), sigma / 255.0, np.float32)


def _keep(x, large: bool):
    """The ConvLSTM state as kept between frames: float16 for large frames (half the memory)."""
    return ops.cast(x, "float16") if large else x


def _float(x):
    """The kept state back in float32 (it is float16 for large frames)."""
    return x if x.dtype == "float32" else ops.cast(x, "float32")


@dataclass
class Encoded:
    """One frame as the network sees it, computed once and shared by every window holding it.

    Lists hold one entry per tile. Tiles stay pixels, features are backend tensors; ``images``
    and ``skips`` are dropped once the frame has been decoded (``skips`` one frame later for a
    network with neighbours: the next frame's frame before). Frames above LARGE_FRAME_PIXELS
    keep their tiles instead and no features (``skips`` and, after the frame's ConvLSTM step,
    ``feats`` are None): a window of 4K frames stays small.
    """

    frame: Frame
    size: tuple[int, int]  # the frame's height and width
    images: list[np.ndarray] | None  # (1, h, w, 3) tiles, pixels as given (uint8 or uint16)
    skips: list[np.ndarray] | None
    feats: list[np.ndarray] | None
    sigma: float

    @property
    def large(self) -> bool:
        return is_large_frame(self.size[0] * self.size[1])


class Denoiser:
    """Cleans a stream of frames with a preset's networks; the command line's defaults.

    Args:
        preset: "fast", "balanced" or "quality" (``vidclean.PRESETS``).
        window: odd number of frames each output sees (``2k+1``, at most ``MAX_WINDOW``).
        sigma: noise level on the 0-255 scale, or "auto" (or None) to estimate it from the frames as
            they arrive (median of the last 25 per-frame estimates).
        fusion: True: average each cleaned frame with the preset's neighbours before and after it,
            warped onto it along the motion (``vidclean.core.fusion``), then the preset's refiner
            if it has one (``presets.REFINERS``); outputs then come that many frames later. False
            (or None): the network's output as it is. A (before, after) pair: that many frames each
            side (the live preview fuses with frames before only; no refiner then).
        tile: largest tile side in pixels, or None to tile only frames above the pixel budget that
            the free memory allows (``tiling.tile_budget``).
        precision: "auto" runs the convolutions in bfloat16 where the CPU computes in bfloat16,
            "float32" always in float32; on TensorFlow a setting of the process (``use_bfloat16``),
            so Denoisers that live side by side should share it.
        weights: a weights file of the preset's networks in place of the shipped one (no refiner then).

    ``last_sigma`` and ``mean_sigma`` report the level used in the latest clip; each clip
    (``denoise`` or ``run``) starts its own estimate, so one Denoiser serves many files.
    """

    def __init__(self, preset: str = "balanced", window: int = DEFAULT_WINDOW, sigma: float | str | None = "auto",
                 fusion: bool | tuple[int, int] | None = True, *, tile: int | None = None, precision: str = "auto",
                 weights: str | None = None):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        self.window = check_window(window)
        if sigma == "auto":
            sigma = None
        if sigma is not None and (isinstance(sigma, str) or not 0 <= sigma <= 100):
            raise ValueError(f"sigma must be 'auto' or a number from 0 to 100, got {sigma!r}")
        if fusion is True:
            radius = fusion_radius(preset)
            fusion = (radius, radius) if radius else None
        elif fusion is False:
            fusion = None
        # (frames before, frames after) each cleaned frame is fused with; None: not fused
        if fusion is not None and (len(fusion) != 2 or min(fusion) < 0):
            raise ValueError(f"fusion must be True, False or (before, after) with both >= 0, got {fusion}")
        self.fusion = None if fusion is None else tuple(fusion)
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
        self.sigma = None if sigma is None else float(sigma)
        self.tile = tile
        self.tracker = SigmaTracker()
        self._clip: Iterator[np.ndarray] | None = None  # the clip ``denoise`` is cleaning
        self.last_sigma = self.sigma_total = 0.0  # noise level of the last output; sum over outputs
        self.frames_done = 0
        self._tilings: dict[tuple[int, int], Tiling] = {}

    @property
    def mean_sigma(self) -> float:
        return self.sigma_total / max(self.frames_done, 1)

    def denoise(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Cleans one clip, lazily: one cleaned frame per input frame, in order.

        Args:
            frames: H x W x 3 RGB arrays, uint8 or (for more than 8 bits) uint16 on the 0-65535
                scale, all the same size and type, e.g. a generator over a video. The whole
                iterable is one clip; call again for the next one.

        Yields:
            H x W x 3 RGB arrays of the frames' type, each once the frames after it that it needs have been read
            (``window // 2`` plus the fusion's, and a few decoded ahead on a thread).
        """
        self.reset()
        self._clip = self._denoise(frames)
        return self._clip

    def _denoise(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        def as_frames():
            shape = kind = None
            for i, rgb in enumerate(frames):
                rgb = np.asarray(rgb)
                if rgb.dtype not in (np.uint8, np.uint16) or rgb.ndim != 3 or rgb.shape[2] != 3:
                    raise ValueError(f"frame {i}: expected an H x W x 3 uint8 or uint16 RGB array, got {rgb.dtype} "
                                     f"{rgb.shape}")
                if shape is not None and (rgb.shape, rgb.dtype) != (shape, kind):
                    raise ValueError(f"frame {i}: {rgb.shape[:2]} {rgb.dtype} differs from the clip's {shape[:2]} {kind}")
                shape, kind = rgb.shape, rgb.dtype
                yield Frame(i, i, None, np.ascontiguousarray(rgb))

        with closing(self.run(as_frames(), pixels=False)) as cleaned:
            for _, clean in cleaned:
                yield clean

    def reset(self) -> None:
        """Forgets the clip in progress (its threads stop) and its noise statistics: ready for another."""
        if self._clip is not None:
            self._clip.close()
            self._clip = None
        self.last_sigma = self.sigma_total = 0.0
        self.frames_done = 0

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
        done, only their tiles of pixels: the encoder runs again when the frame is decoded (about a
        fifth more work; for a network with neighbours also for the frames before and after it)
        and for the few frames stepped twice (the reflected ends of the stream): a window of 4K
        frames stays small (docs/decisions.md, "Memory").
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
        """Yields ``(input frame, cleaned RGB)`` for every input frame, in order; the cleaned pixels
        are of the input's type (uint8, or uint16 for more than 8 bits).

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
        unit = np.float32(1 / np.iinfo(fused.mean.dtype).max)  # pixels to the networks' 0-1
        image, mean = pad_to_multiple(fused.image), pad_to_multiple(fused.mean)
        noise = pad_to_multiple(fused.noise * np.float32(1 / 255))  # 0-255 levels to 0-1
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
        """``(frame index, input frame, the network's cleaned RGB pixels, noise level)`` for each
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
            read_ahead = 0  # a 4K frame prepared ahead is large, and the model takes seconds a frame anyway
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
        """The cleaned centre frame (RGB pixels of the input's type) from its own features and the ConvLSTM state, and
        the features of the frames ``near`` it (before, after) for a network that takes them."""
        frames = [centre, *(near or ())]

        def tile_features():  # per tile: (skip, feat) of the centre, then of each neighbour
            unique = {id(f): f for f in frames}  # a frame standing in twice is encoded once
            for tile in zip(*(self.decoding_features(f) for f in unique.values())):
                found = dict(zip(unique, tile))
                yield [x for f in frames for x in found[id(f)]]

        outs = (  # decoded one tile at a time (pixels), as the merge takes them
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
        wanted = state_tracks(self.position, self.k, self.begin, self.lowest, STATE_PERIOD, STATE_WARMUP)
        self.position += 1
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
            item.feats = None  # computed again if needed: the tiles of pixels are smaller

    def state(self, t: int) -> list:
        """(h, c) per tile for decoding frame ``t``: its track, stepped up to frame t + k."""
        return self.tracks[t // STATE_PERIOD]
