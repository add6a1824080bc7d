import gc
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidclean.core.window import reflect_index, sliding_windows


def test_reflect_index_mirrors_without_repeating_the_edge():
    assert [reflect_index(i, 5) for i in range(-3, 8)] == [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]
    assert [reflect_index(i, 1) for i in (-2, 0, 3)] == [0, 0, 0]
    assert [reflect_index(i, 2) for i in (-3, -1, 2, 3)] == [1, 1, 0, 1]


def test_windows_are_centred_and_reflected_at_both_ends():
    assert list(sliding_windows(range(5), 5)) == [
        (2, 1, 0, 1, 2),
        (1, 0, 1, 2, 3),
        (0, 1, 2, 3, 4),
        (1, 2, 3, 4, 3),
        (2, 3, 4, 3, 2),
    ]


@given(n=st.integers(1, 60), k=st.integers(0, 4))
def test_every_item_is_the_centre_of_exactly_one_window_in_order(n, k):
    windows = list(sliding_windows(iter(range(n)), 2 * k + 1))
    assert [w[k] for w in windows] == list(range(n))
    for t, w in enumerate(windows):
        assert len(w) == 2 * k + 1
        assert w == tuple(reflect_index(i, n) for i in range(t - k, t + k + 1))


@given(n=st.integers(1, 60), k=st.integers(0, 4))
def test_each_window_comes_as_soon_as_its_last_item_is_read(n, k):
    """Streaming: window t needs items up to t+k, and no more are read before it is handed out."""
    read = []

    def items():
        for i in range(n):
            read.append(i)
            yield i

    for t, _ in enumerate(sliding_windows(items(), 2 * k + 1)):
        assert len(read) == min(n, t + k + 1)


def test_window_keeps_only_a_bounded_number_of_items_alive():
    class Item:
        pass

    alive = weakref.WeakSet()

    def items():
        for _ in range(500):
            item = Item()
            alive.add(item)
            yield item

    # Freed by reference counting alone, as each window goes (no cycle waits for the collector):
    # one gc.collect() per window took minutes once TensorFlow had filled the heap.
    k = 3
    most = 0
    gc.collect()
    for w in sliding_windows(items(), 2 * k + 1):
        most = max(most, len(alive))
    assert most <= 2 * k + 2


def test_each_item_is_computed_once():
    calls = []

    def encode(i):
        calls.append(i)
        return i

    list(sliding_windows(map(encode, range(20)), 7))
    assert calls == list(range(20))


@pytest.mark.parametrize("size", [0, 2, -1, 4])
def test_rejects_even_or_empty_windows(size):
    with pytest.raises(ValueError):
        list(sliding_windows(range(3), size))
