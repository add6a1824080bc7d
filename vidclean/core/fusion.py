"""Motion-compensated fusion of cleaned frames: the network's outputs, averaged along the motion.

    fusion = MotionFusion(before=2, after=2)
    for tag, clean in fusion.push(image, sigma, tag):   # frames come out ``after`` frames later
        ...
    for tag, clean in fusion.flush():                    # the last ones, at the end
        ...

Each cleaned frame is averaged with up to ``before`` earlier and ``after`` later cleaned frames, each
warped onto it by dense optical flow (OpenCV's DIS) and weighted per pixel by ``exp(-(d / tau)**2)``,
``d`` its boxed difference plus a term for flow that does not return to where it started (occlusions,
a scene cut). Flow is computed once per pair of consecutive frames, both ways; frames above FLOW_PIXELS
are fused a band of rows at a time; frames under MIN_SIDE pixels on a side pass unchanged. With
``push(..., noisy=frame)`` each output is a ``Fused``, the refiner's input (vidclean.core.networks).
How tau is set: docs/decisions.md, "Fusion".
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

# DIS presets by name
FLOW_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
# Frames above this many pixels get their flow from a copy scaled down by an integer factor to at
# most this (1080p: half size; 4K: a third)
FLOW_PIXELS = 1280 * 720
# Frames are fused a band of rows of about this many pixels at a time, so what a neighbour needs at full
# size (warp, flows, differences, weights) is held for one band only (docs/decisions.md, "Memory")
BAND_PIXELS = FLOW_PIXELS
# Frames up to this many pixels (1080p) keep each band's warps from measuring the neighbours for
# weighting them; larger ones warp each band again, to hold less (docs/decisions.md, "Memory")
KEEP_PIXELS = 1920 * 1088
# Frames narrower or lower than this are not fused (DIS needs at least 12 pixels on a side)
MIN_SIDE = 16
# Side of the box over which a pixel's difference to a warped neighbour is averaged
PATCH = 5
# tau = min(TAU_SCALE * sqrt(q25(d)**2 - FLOOR**2), fusion_cap(sigma)), FLOOR what alignment alone leaves
# on smooth footage; the cap limits pairs that agree poorly everywhere (docs/decisions.md, "Fusion")
FLOOR, TAU_SCALE = 1.0, 10.0
CAP_BASE, CAP_SLOPE, CAP_RAMP = 4.0, 0.3, 2.0
# A pixel whose flow, there and back, misses by this many pixels counts as a difference of tau
LOOP_MISS = 1.0
# TAU_SCALE for the weights of the noisy inputs' mean, a refiner's input (docs/decisions.md, "Fusion")
MEAN_TAU_SCALE = 15.0


def fusion_cap(sigma: float) -> float:
    """The largest tau for a noise level (0-255); its base shrinks to 0 below CAP_RAMP: nothing is fused at 0."""
    return CAP_BASE * min(1.0, sigma / CAP_RAMP) + CAP_SLOPE * sigma


@dataclass
class Fused:
    """One output of a fusion given the noisy inputs: the fused cleaned frame (RGB pixels), the
    weighted mean of the noisy frames warped onto it (RGB pixels of the same type), and the noise
    level per pixel (0-255, float32 (h, w)) that mean leaves: ``sigma * sqrt(sum w**2) / sum w``."""

    image: np.ndarray
    mean: np.ndarray
    noise: np.ndarray


class _Entry:
    __slots__ = ("image", "gray", "sigma", "tag", "noisy", "forward", "backward", "composed")

    def __init__(self, image, gray, sigma, tag, noisy=None):
        self.image, self.gray, self.sigma, self.tag, self.noisy = image, gray, sigma, tag, noisy
        self.forward = self.backward = None  # flow to the next frame / from the next frame back
        self.composed = {}  # flows to frames further away, by offset: each is composed once


class MotionFusion:
    """Streaming fusion of cleaned frames (RGB uint8, or uint16 for more than 8 bits; all the same
    size and type) with their neighbours. Differences and taus are on the 0-255 scale either way."""

    def __init__(self, before: int = 2, after: int = 2, flow: str = "medium"):
        if before < 0 or after < 0:
            raise ValueError("before and after must be >= 0")
        self.before, self.after = before, after
        self.dis = cv2.DISOpticalFlow_create(FLOW_PRESETS[flow])
        self.entries: deque[_Entry] = deque()
        self.centre = 0  # index in ``entries`` of the next frame to fuse
        self._grids: dict = {}

    def push(self, image: np.ndarray, sigma: float, tag=None, noisy: np.ndarray | None = None) -> list:
        """Adds the next cleaned frame and the noise level (0-255) its input had; returns the
        (tag, fused frame) pairs now complete. With ``noisy``, the frame's input (RGB pixels, the
        same size and type), each fused frame is a ``Fused``; give it for every frame of a stream or none."""
        if self.entries and self.entries[-1].image.shape != image.shape:
            raise ValueError("frames of one stream must all have the same size")
        if noisy is not None and noisy.shape != image.shape:
            raise ValueError("a noisy frame must have the size of its cleaned frame")
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if gray.dtype != np.uint8:  # DIS takes 8-bit frames
            gray = cv2.convertScaleAbs(gray, alpha=255 / np.iinfo(gray.dtype).max)
        scale = self.flow_scale(*gray.shape)
        if scale > 1:
            gray = cv2.resize(gray, (gray.shape[1] // scale, gray.shape[0] // scale), interpolation=cv2.INTER_AREA)
        entry = _Entry(image, gray, sigma, tag, noisy)
        if self.entries and (self.before or self.after) and min(image.shape[:2]) >= MIN_SIDE:
            last = self.entries[-1]
            last.forward = self.dis.calc(last.gray, entry.gray, None)
            last.backward = self.dis.calc(entry.gray, last.gray, None)
        self.entries.append(entry)
        out = []
        while len(self.entries) - 1 - self.centre >= self.after:
            out.append(self._fuse_next())
        return out

    def run(self, images, sigma: float, noisy=None) -> list:
        """The fused frames of a whole clip (and its noisy frames, if given), in order."""
        noisy = [None] * len(images) if noisy is None else noisy
        out = [x for i, (image, n) in enumerate(zip(images, noisy)) for _, x in self.push(image, sigma, i, n)]
        return out + [x for _, x in self.flush()]

    def flush(self) -> list:
        """The frames still waiting for later neighbours, fused with those there are."""
        out = []
        while self.centre < len(self.entries):
            out.append(self._fuse_next())
        self.entries.clear()
        self.centre = 0
        return out

    @staticmethod
    def flow_scale(height: int, width: int) -> int:
        """The factor frames of this size are scaled down by for their flow."""
        return max(1, math.ceil(math.sqrt(height * width / FLOW_PIXELS)))

    def _fuse_next(self):
        i = self.centre
        entry = self.entries[i]
        fused = self.fuse(i) if entry.noisy is None else self.fuse_with_mean(i)
        self.centre += 1
        while self.centre > self.before:  # what no later frame needs
            self.entries.popleft()
            self.centre -= 1
        return entry.tag, fused

    def _grid(self, h: int, w: int) -> np.ndarray:
        """(h, w, 2) float32: each pixel's own (x, y)."""
        if (h, w) not in self._grids:
            if len(self._grids) > 2:
                self._grids.clear()
            self._grids[h, w] = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        return self._grids[h, w]

    def flow_to(self, i: int, j: int) -> np.ndarray:
        """Flow from entry ``i`` to entry ``j``: for each pixel of i (of the smaller copy, if the
        flow is computed on one), its offset to where it lies in j; composed hop by hop from the
        consecutive frames' flows."""
        step = 1 if j > i else -1
        total = self.entries[i].forward if step > 0 else self.entries[i - 1].backward
        if abs(j - i) > 1:
            cache = self.entries[i].composed
            if j - i not in cache:  # the path to the frame before j, then the last hop from where it arrived
                last = self.entries[j - 1].forward if step > 0 else self.entries[j].backward
                total = self.flow_to(i, j - step)
                grid = self._grid(*self.entries[i].gray.shape)
                cache[j - i] = total + cv2.remap(last, grid + total, None, cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_REPLICATE)
            total = cache[j - i]
        return total

    def fuse(self, i: int) -> np.ndarray:
        """Entry ``i``'s image averaged with its weighted neighbours (``weighted_neighbours``)."""
        centre = self.entries[i]
        out = np.empty_like(centre.image)
        for (y0, y1), neighbours in self.weighted_neighbours(i):
            total = _Average(centre.image[y0:y1])
            for _, _, warped, (weight,) in neighbours:
                total.add(warped, weight)
            out[y0:y1] = total.result()
        return out

    def fuse_with_mean(self, i: int) -> Fused:
        """``fuse(i)``, and the mean of the noisy inputs along the same flow (MEAN_TAU_SCALE)."""
        centre = self.entries[i]
        image, mean = np.empty_like(centre.image), np.empty_like(centre.noisy)
        noise = np.empty(centre.image.shape[:2], np.float32)
        for (y0, y1), neighbours in self.weighted_neighbours(i, (TAU_SCALE, MEAN_TAU_SCALE)):
            fused, noisy = _Average(centre.image[y0:y1]), _Average(centre.noisy[y0:y1])
            squares = None  # sum of the mean's squared weights, the centre's (1) included
            for j, where, warped, (weight, mean_weight) in neighbours:
                if weight is not None:
                    fused.add(warped, weight)
                if mean_weight is not None:
                    noisy.add(cv2.remap(self.entries[j].noisy, where, None, cv2.INTER_CUBIC,
                                        borderMode=cv2.BORDER_REPLICATE), mean_weight)
                    squares = (1.0 if squares is None else squares) + mean_weight * mean_weight
            image[y0:y1], mean[y0:y1] = fused.result(), noisy.result()
            # with no neighbour the mean is the noisy frame itself, at the level told
            noise[y0:y1] = centre.sigma if squares is None else centre.sigma * np.sqrt(squares) / noisy.weights
        return Fused(image, mean, noise)

    def weighted_neighbours(self, i: int, scales: tuple[float, ...] | None = None):
        """Entry ``i``'s neighbours weighted, a band of its rows at a time (``bands``): for each
        band ``((first row, end row), neighbours)``, and for each neighbour blended in, over the
        band's rows: (its index in ``entries``, where each of i's pixels lies in it, its image
        warped onto i, the per-pixel weights); the centre's own weight is 1. The weights are one
        per tau scale in ``scales`` (default TAU_SCALE alone), None for a scale that leaves this
        neighbour out. A neighbour is blended in, and its taus set, from its difference over the
        whole frame, so the bands give what the frame in one piece would."""
        scales = (TAU_SCALE,) if scales is None else scales
        centre = self.entries[i]
        h, w = centre.image.shape[:2]
        rows = bands(h, w)
        lo, hi = max(0, i - self.before), min(len(self.entries) - 1, i + self.after)
        if lo == hi or min(h, w) < MIN_SIDE:
            for band in rows:
                yield band, []
            return
        cap = fusion_cap(centre.sigma)
        blended = []  # (j, taus)
        # each band's warps, kept from measuring the neighbours for weighting them (not for frames
        # above KEEP_PIXELS: each band is warped again)
        kept = {}
        for j in range(lo, hi + 1):
            if j == i:
                continue
            warps = {}
            samples = []  # the boxed difference at every 4th row and column of the frame
            for y0, y1 in rows:
                warp = self._warped_rows(i, j, y0, y1)
                samples.append(warp[2][(-y0) % 4::4, ::4].ravel())
                if h * w <= KEEP_PIXELS:
                    warps[j, y0] = warp
            agree = float(np.percentile(np.concatenate(samples), 25))
            spread = math.sqrt(max(agree * agree - FLOOR * FLOOR, 0.0))
            taus = [min(scale * spread, cap) for scale in scales]
            if max(taus) < 0.05 or agree > cap:  # nothing left to average out; or another scene
                continue
            blended.append((j, taus))
            kept.update(warps)
        for y0, y1 in rows:
            yield (y0, y1), [self._weighted_rows(i, j, y0, y1, taus, kept.pop((j, y0), None)) for j, taus in blended]

    def _warped_rows(self, i: int, j: int, y0: int, y1: int) -> tuple[np.ndarray, ...]:
        """Over rows y0..y1 of entry ``i``: where each pixel lies in entry ``j``, j's image warped
        there, their difference (a luma-weighted mean of the channels' absolute differences,
        boxed over PATCH x PATCH, from rows around the band as the frame in one piece has them),
        and the flow."""
        h, w = self.entries[i].image.shape[:2]
        a, b = max(0, y0 - PATCH // 2), min(h, y1 + PATCH // 2)
        flow = self.flow_rows(i, j, a, b)
        where = np.empty_like(flow)  # each pixel's (x, y) plus its flow
        np.add(flow[..., 0], np.arange(w, dtype=np.float32), out=where[..., 0])
        np.add(flow[..., 1], np.arange(a, b, dtype=np.float32)[:, None], out=where[..., 1])
        warped = cv2.remap(self.entries[j].image, where, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        diff = cv2.boxFilter(cv2.cvtColor(cv2.absdiff(warped, self.entries[i].image[a:b]), cv2.COLOR_RGB2GRAY),
                             cv2.CV_32F, (PATCH, PATCH))
        if warped.dtype != np.uint8:  # on the 0-255 scale, as the taus are
            diff *= np.float32(255 / np.iinfo(warped.dtype).max)
        inner = slice(y0 - a, y1 - a)
        return where[inner], warped[inner], diff[inner], flow[inner]

    def _weighted_rows(self, i: int, j: int, y0: int, y1: int, taus: list, warp=None) -> tuple:
        """(j, where, warped, weights) over rows y0..y1 of entry ``i`` for neighbour ``j``,
        blended with ``taus`` (one per scale; under 0.05: left out at that scale, None);
        ``warp``: what ``_warped_rows`` gave for these rows, if kept."""
        where, warped, diff, flow = warp or self._warped_rows(i, j, y0, y1)
        h, w = self.entries[i].image.shape[:2]
        # a pixel whose flow there and back does not return to where it started: an occlusion
        loop = flow + self.flow_at(j, i, where)
        miss = cv2.magnitude(loop[..., 0], loop[..., 1])
        inside = cv2.inRange(where, (0.0, 0.0), (w - 1.0, h - 1.0))  # not from outside the frame
        weights = []
        for tau in taus:
            if tau < 0.05:
                weights.append(None)
                continue
            d = diff + miss * np.float32(tau / LOOP_MISS)
            weight = cv2.exp(cv2.multiply(d, d, scale=-1.0 / tau**2))
            weights.append(cv2.bitwise_and(weight, weight, mask=inside))
        return j, where, warped, weights

    def flow_rows(self, i: int, j: int, y0: int, y1: int) -> np.ndarray:
        """The flow from entry ``i`` to entry ``j`` (``flow_to``) over rows y0..y1 of i at full
        size: for a flow computed on a smaller copy, resized (bilinearly) for those rows alone,
        as resizing it whole would give them."""
        h, w = self.entries[i].image.shape[:2]
        flow = self.flow_to(i, j)
        small_h, small_w = flow.shape[:2]
        if (small_h, small_w) == (h, w):
            return flow[y0:y1]
        scale = h // small_h
        if (small_h * scale, small_w * scale) == (h, w):  # a whole factor: resize the rows needed, +1 each side
            a, b = max(0, y0 // scale - 1), min(small_h, -(-y1 // scale) + 1)
            up = cv2.resize(flow[a:b], (w, (b - a) * scale), interpolation=cv2.INTER_LINEAR)[y0 - a * scale:y1 - a * scale]
            return cv2.multiply(up, (float(scale), float(scale), 0.0, 0.0))
        fy, fx = small_h / h, small_w / w
        xs = (np.arange(w, dtype=np.float32) + 0.5) * fx - 0.5
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) * fy - 0.5
        up = cv2.remap(flow, np.tile(xs, (y1 - y0, 1)), np.repeat(ys[:, None], w, axis=1), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        return cv2.multiply(up, (1 / fx, 1 / fy, 0.0, 0.0))

    def flow_at(self, i: int, j: int, where: np.ndarray) -> np.ndarray:
        """The flow from entry ``i`` to entry ``j`` at full size, read (bilinearly) at the points
        ``where`` of i: from the smaller copy's flow directly, if it was computed on one."""
        h, w = self.entries[i].image.shape[:2]
        flow = self.flow_to(i, j)
        if flow.shape[:2] == (h, w):
            return cv2.remap(flow, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fx, fy = flow.shape[1] / w, flow.shape[0] / h
        to_small = np.float32([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])  # (x, y) of the smaller copy's pixel
        small = cv2.remap(flow, cv2.transform(where, to_small), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.multiply(small, (1 / fx, 1 / fy, 0.0, 0.0))


def bands(height: int, width: int) -> list[tuple[int, int]]:
    """The bands of rows (first, end) a frame of this size is fused in, each about BAND_PIXELS."""
    rows = max(PATCH, BAND_PIXELS // max(width, 1))
    return [(y, min(y + rows, height)) for y in range(0, height, rows)]


class _Average:
    """A weighted sum of RGB images (pixels), the first with weight 1, as pixels of their type."""

    def __init__(self, image: np.ndarray):
        self.image, self.total, self.weights = image, None, None

    def add(self, image: np.ndarray, weight: np.ndarray) -> None:
        if self.total is None:
            self.total, self.weights = self.image.astype(np.float32), np.ones(self.image.shape[:2], np.float32)
        cv2.accumulateProduct(image.astype(np.float32), cv2.merge([weight] * 3), self.total)
        cv2.accumulate(weight, self.weights)

    def result(self) -> np.ndarray:
        if self.total is None:  # no neighbour, or none that agrees
            return self.image
        peak = np.iinfo(self.image.dtype).max
        return np.clip(np.rint(self.total / self.weights[..., None]), 0, peak).astype(self.image.dtype)
