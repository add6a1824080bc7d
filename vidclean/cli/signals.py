"""Signals and errors of a command: SIGINT / SIGTERM stop a job cleanly (exit 130 / 143), a
VidcleanError becomes one line on stderr (exit 2)."""

from __future__ import annotations

import _thread
import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

from vidclean.errors import VidcleanError


class Terminated(BaseException):
    """SIGTERM, turned into an exception so the writer can clean up on the way out.

    A BaseException, like KeyboardInterrupt, so that library code catching Exception
    (TensorFlow's import machinery does) lets it through."""


def guarded(job: Callable[[], int | None], aftermath: str | Callable[[], str],
            one_signal_thread: bool = True) -> int:
    """Runs ``job()``, turning what a user may cause into one line on stderr and an exit status.
    ``aftermath`` ends the line of a job stopped by a signal (a function: asked then).
    ``one_signal_thread``: with ``signals_through_one_thread``; not for a job that starts other
    processes (Ray's), which would inherit the blocked signals."""
    _received.clear()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if hasattr(signal, "SIGXFSZ"):
        # Past the file size limit (ulimit -f) the kernel's SIGXFSZ would kill the process before
        # the writer could remove its temp file; ignored, the write fails with EFBIG, which the
        # writer reports. CPython's startup ignores it already; this keeps it so when embedded.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with signals_through_one_thread() if one_signal_thread else nullcontext():
            status = job()
    except VidcleanError as e:
        print(f"vidclean: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, aftermath)
    except Terminated:
        return _stopped(signal.SIGTERM, aftermath)
    except Exception:
        if not _received:
            raise
        # the signal's exception came while a library ran its own code, which turned it into
        # another one (TensorFlow, in a compiled call: an AttributeError): stop as for the signal
        return _stopped(_received[-1], aftermath)
    return status or 0


@contextmanager
def signals_through_one_thread():
    """SIGINT and SIGTERM are taken, while inside, by one thread that waits for nothing else and
    hands each to the main thread's handler; every other thread, and every thread started inside
    (TensorFlow's, OpenCV's, FFmpeg's, the pipeline's), keeps them blocked: a signal landing in one
    of those in a system call could crash the process (docs/decisions.md, "Signals"). The main
    thread sees the signal at its next step of Python code (vidclean.core.pipeline waits with timeouts)."""
    watched = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    done = threading.Event()

    def forward():
        while True:
            signum = signal.sigwait(watched)
            if done.is_set():
                return
            _thread.interrupt_main(signum)

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    waiter = threading.Thread(target=forward, name="vidclean-signals", daemon=True)
    waiter.start()
    try:
        yield
    finally:
        done.set()
        signal.pthread_kill(waiter.ident, signal.SIGTERM)  # ends its wait (blocked there: taken by sigwait)
        waiter.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stopped(signum: int, aftermath: str | Callable[[], str]) -> int:
    """The one line and exit status for a job stopped by SIGINT (130) or SIGTERM (143)."""
    interrupted = signum == signal.SIGINT
    aftermath = aftermath() if callable(aftermath) else aftermath
    print(f"vidclean: {'interrupted' if interrupted else 'terminated'}{aftermath}", file=sys.stderr)
    return 130 if interrupted else 143


_received: list[int] = []  # SIGINT / SIGTERM received during the job


def _exception_for(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated()


def _on_signal(signum, frame):
    _received.append(signum)
    raise _exception_for(signum)


def raise_if_signalled() -> None:
    """Raises again for a SIGINT / SIGTERM whose exception was swallowed on the way (a library's
    bare ``except:`` while it loads, say), so that the job still stops before its output is
    complete. Called once per frame."""
    if _received:
        raise _exception_for(_received[-1])


def leave(status: int) -> None:
    """Exits with ``status``. After a job stopped by SIGINT or SIGTERM (its output cleaned up and
    its line printed), at once (``os._exit``) after the functions registered to run at exit (Ray's
    shutdown of a local cluster, say): the rest of the interpreter's shutdown, with TensorFlow's
    threads still about, now and then turned such a stop into death by SIGINT after the line."""
    if _received:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
