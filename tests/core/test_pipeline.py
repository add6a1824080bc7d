"""Decoding ahead of the model and encoding behind it: order kept, memory bounded, errors surface."""

import threading
import time

import pytest

from vidclean.core.pipeline import Behind, prefetch


def counting(n, produced):
    for i in range(n):
        produced.append(i)
        yield i


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_prefetch_keeps_every_item_in_order(depth):
    assert list(prefetch(range(50), depth)) == list(range(50))


def test_prefetch_reads_at_most_depth_ahead():
    produced = []
    items = prefetch(counting(100, produced), depth=3)
    assert next(items) == 0
    time.sleep(0.3)  # give the thread every chance to run ahead
    assert len(produced) <= 1 + 3 + 1  # the one taken, a full queue, one waiting to be put
    items.close()


def test_prefetch_raises_the_producers_error_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetch(failing(), 2):
            got.append(item)
    assert got == [1, 2]


def test_closing_the_consumer_stops_the_reading_thread():
    before = threading.active_count()
    items = prefetch(counting(10**9, []), depth=2)
    next(items)
    items.close()
    assert threading.active_count() == before


def test_behind_makes_every_call_in_order():
    done = []
    with Behind(done.append, depth=2) as call:
        for i in range(30):
            call(i)
    assert done == list(range(30))


def test_behind_reraises_the_consumers_error():
    def consume(i):
        if i == 3:
            raise OSError("no space left on device")

    with pytest.raises(OSError, match="no space"), Behind(consume, depth=2) as call:
        for i in range(1000):
            call(i)
            time.sleep(0.001)


def test_behind_stops_when_the_caller_fails():
    done = []
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt), Behind(lambda i: (time.sleep(0.01), done.append(i)), depth=4) as call:
        for i in range(5):
            call(i)
        raise KeyboardInterrupt
    assert threading.active_count() == before
    assert done == list(range(len(done)))  # what was written came in order; the rest dropped
