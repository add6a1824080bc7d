"""Loading Keras and its backend without the backend's start-up chatter on stderr.

TensorFlow 2.21 logs "oneDNN custom operations are on" (and absl's "All log messages before
absl::InitializeLog() ..." line) from C++ while it is imported, whatever TF_CPP_MIN_LOG_LEVEL
says. A command-line tool promises one line on stderr for an error and nothing else with -q, so
the import runs with file descriptor 2 sent to a temporary file, and whatever else was written
there (a real error, say) is passed on.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager

# C++ log lines of level INFO or WARNING (I0000 00:00:...) and absl's notice about them
_CHATTER = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} \d\d:\d\d:\d\d)")


def load_keras(threads: int | None = None):
    """Imports and returns ``keras`` (and so its backend), keeping the backend's log lines off stderr.

    ``threads``: how many threads TensorFlow may use inside one operation (None: its own
    choice, one per core); it must be set before TensorFlow starts, so it has no effect once
    Keras is loaded.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    # 3: not even the C++ "errors" TensorFlow logs while running, which are fallbacks (frames above
    # 1080p keep their state in float16: "oneDNN supports DT_HALF only on platforms with AVX-512"); a
    # real failure raises in Python
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if threads is not None:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    sys.stderr.flush()
    saved = os.dup(2)
    with _signals_held(), tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = [line for line in captured.read().splitlines(keepends=True) if not _CHATTER.match(line)]
            if rest:
                sys.stderr.buffer.write(b"".join(rest))
                sys.stderr.flush()
    return keras


@contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait while inside, then go to their handlers (the first one received).
    Raised inside TensorFlow's import, their exception now and then aborted the process (SIGABRT,
    its message lost in the captured stderr) in place of stopping it cleanly."""
    watched = (signal.SIGINT, signal.SIGTERM)
    handlers = {s: signal.getsignal(s) for s in watched}
    if threading.current_thread() is not threading.main_thread() or None in handlers.values():
        yield  # (handlers can only be set from the main thread; None: one set outside Python)
        return
    held: list[int] = []
    for s in watched:
        signal.signal(s, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        if held:
            handler = handlers[held[0]]
            if callable(handler):
                handler(held[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(held[0])
