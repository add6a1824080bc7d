"""Frames in overlapping tiles: how large a tile memory allows, the split, and the blended merge."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import cv2
import numpy as np

from vidclean.presets import SIZE_MULTIPLE, is_large_frame

# Largest tile, in pixels, whatever the free memory: 1080p in one; larger frames in tiles of at most
# 1 Mpx, small beside their caches (docs/decisions.md, "Tiling"). And the smallest tile.
MAX_TILE_PIXELS = 1920 * 1088
MAX_LARGE_FRAME_TILE_PIXELS = 1024 * 1024
MIN_TILE_PIXELS = 256 * 256


# Memory a tile costs per pixel while the network runs (docs/decisions.md, "Tiling")
BYTES_PER_TILE_PIXEL = 600
TILE_OVERLAP = 48  # pixels shared by neighbouring tiles; the blending ramp spans them


def pad_to_multiple(rgb: np.ndarray, multiple: int = SIZE_MULTIPLE) -> np.ndarray:
    h, w = rgb.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE)
    return rgb


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
        """Joins the tiles (pixels, given in ``boxes`` order, row by row) into one image of their type.

        Each tile is added in as it comes, so one tile is in memory at a time; the weighted sums
        are kept in float32 for one row of tiles only: when the next row starts, the rows above
        it are complete, and are rounded into the output (docs/decisions.md, "Memory").
        """
        tiles = iter(tiles)
        if len(self.boxes) == 1:
            return next(tiles)
        th, tw = self.size
        first = next(tiles)
        tiles = itertools.chain([first], tiles)
        out = np.empty((self.height, self.width, 3), first.dtype)
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
    out[...] = np.clip(sums, 0, np.iinfo(out.dtype).max, out=sums)
