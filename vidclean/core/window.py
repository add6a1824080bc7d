"""Centred sliding windows over a stream, reflected at both ends, holding only what they need.

For a window of ``2k+1`` items, output ``t`` is ``(item[t-k], ..., item[t], ..., item[t+k])`` with
indices reflected at the ends (``-1 -> 1``, ``n -> n-2``), so every input item yields exactly one
window, in order. Items are whatever the caller computed once per frame (e.g. a frame and its CNN
features): a window holds references, never copies, and at most ``2k+1`` items are kept alive
(plus the read-ahead of ``k``), however long the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def reflect_index(i: int, n: int) -> int:
    """Index ``i`` reflected into ``[0, n)`` without repeating the edge sample."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = abs(i) % period
    return period - i if i >= n else i


def sliding_windows(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """Yields one centred window of ``size`` items per input item (``size`` odd, >= 1)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be an odd number >= 1, got {size}")
    k = size // 2
    kept: dict[int, T] = {}
    n = 0  # items read so far
    t = 0  # next window centre
    for item in items:
        kept[n] = item
        n += 1
        while t + k < n:  # window t is complete without reflection at the end
            yield tuple(kept[reflect_index(i, n) if i < 0 else i] for i in range(t - k, t + k + 1))
            kept.pop(t - k, None)
            t += 1
    while t < n:  # the last k windows, reflected at the end of the stream
        yield tuple(kept[reflect_index(i, n)] for i in range(t - k, t + k + 1))
        t += 1

