"""Running the stages of a job concurrently: decoding ahead of the model, encoding behind it.

Both helpers use one background thread and a bounded queue, so memory stays flat (at most
``depth`` items wait) and an error or interrupt in any stage stops the others cleanly:

    for item in prefetch(stream, depth=4):          # decoded on a thread, up to 4 ahead
        ...
    with Behind(writer.write, depth=4) as write:      # encoded on a thread, up to 4 behind
        write(clean, pts)

PyAV's codecs and the model's kernels release the GIL while they work, so the threads overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Puts ``item``, giving up (False) once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Iterates ``items`` on a background thread, at most ``depth`` items ahead of the caller.

    Errors raised by ``items`` come out of this iterator, in order. ``depth`` 0 iterates in the
    caller's thread (no read-ahead: what a live preview wants).
    """
    if depth <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if not _put(q, item, stop):
                    return
            _put(q, _DONE, stop)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            _put(q, _Raised(e), stop)

    thread = threading.Thread(target=produce, name="vidclean-read", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = q.get(timeout=0.1)  # a signal handed to this thread is seen between waits
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()  # the producer is at most one item's work from seeing `stop`


class Behind:
    """Calls ``consume(*args)`` on a background thread, at most ``depth`` calls behind.

    A context manager: leaving it normally waits for every call to finish and re-raises the
    first error a call raised; leaving it by an exception drops what is still queued.
    """

    def __init__(self, consume: Callable[..., object], depth: int = 4):
        self.consume = consume
        self.queue: queue.Queue = queue.Queue(max(depth, 1))
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="vidclean-write", daemon=True)

    def _work(self):
        while True:
            args = self.queue.get()
            if args is _DONE or self.stop.is_set():
                return
            try:
                self.consume(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                self.error = e
                self.stop.set()
                return

    def __call__(self, *args) -> None:
        if self.error is not None:
            raise self.error
        if not _put(self.queue, args, self.stop) and self.error is not None:
            raise self.error

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            _put(self.queue, _DONE, self.stop)
        else:
            self.stop.set()
            try:
                self.queue.put_nowait(_DONE)  # wakes a worker waiting on an empty queue
            except queue.Full:
                pass  # a full queue: the worker is not waiting, it sees `stop` after its call
        self.thread.join()
        if exc_type is None and self.error is not None:
            raise self.error
