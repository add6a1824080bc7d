"""The Keras backend: loaded without its start-up chatter on stderr, bfloat16 where the CPU has it,
and networks compiled into backend functions.

TensorFlow logs from C++ while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says, so the import runs
with file descriptor 2 sent to a temporary file and only what is not that chatter is passed on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager

import numpy as np

from vidclean.errors import VidcleanError

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
    # 3: not even the C++ "errors" TensorFlow logs while running, which are fallbacks (e.g. float16
    # state without AVX-512); a real failure raises in Python
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if threads is not None:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    failed = None
    with _signals_held():
        try:
            with chatter_filtered():
                import keras
        except Exception as exc:  # noqa: BLE001 - a backend missing or broken: one line, below
            failed = exc
    if failed is not None:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        cause = (str(failed).strip().splitlines() or [""])[0]
        raise VidcleanError(f"cannot load Keras with its {backend!r} backend ({type(failed).__name__}: {cause}); "
                            "install it, or pick another with KERAS_BACKEND=tensorflow|jax|torch") from None
    return keras


@contextmanager
def chatter_filtered():
    """Runs the block with file descriptor 2 (C++ logging included) captured, then passes on what is
    not TensorFlow's INFO/WARNING chatter; nothing if the block raised (its exception says it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        rest = [line for line in captured.read().splitlines(keepends=True) if not _CHATTER.match(line)]
        if rest:
            sys.stderr.buffer.write(b"".join(rest))
            sys.stderr.flush()


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


# CPU flags of bfloat16 arithmetic in hardware, which oneDNN's bfloat16 convolutions use: Intel's
# AMX matrix units (Xeon 4th generation on), AVX-512 BF16 dot products (AMD Zen 4 on, Intel Cooper Lake)
BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")


def backend_name() -> str:
    """The Keras backend in use ("tensorflow", "jax", "torch"), Keras loaded quietly."""
    return load_keras().backend.backend()


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
    return backend_name() == "tensorflow" and cpu_has_bfloat16_arithmetic()


def use_bfloat16(enabled: bool) -> None:
    """Has TensorFlow run the networks' convolutions in bfloat16 (oneDNN on AMX or AVX-512 BF16),
    float32 elsewhere.

    TensorFlow's oneDNN auto-mixed-precision graph pass casts around the ops that gain (the
    convolutions) and keeps the rest in float32; weights, inputs and outputs stay float32. It
    applies to the graphs compiled from then on in this process (a Denoiser's, at their first
    call). No effect off the TensorFlow backend. Much faster at nearly the same PSNR
    (docs/decisions.md, "bfloat16").
    """
    if backend_name() == "tensorflow":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": enabled})


def compiled(model, pixels_first: bool = False, pixels_out: bool = False):
    """``model`` as a function of its list of inputs, compiled by the backend once per input shape.

    TensorFlow: a ``tf.function`` graph; JAX: ``jax.jit`` of the stateless call; PyTorch: eager,
    without autograd; other backends: ``predict_on_batch``. Outputs stay backend tensors, so
    features and state are not copied to NumPy and back between the networks (docs/decisions.md,
    "Backend"). With ``pixels_first`` the first input is given as pixels (uint8, or uint16 for more
    than 8 bits) and scaled to 0-1 in the graph; with ``pixels_out`` the (single) output is turned
    back into pixels of the first input's type in the graph.
    """

    def run(inputs, call=lambda x: model(x, training=False), kind=None):
        if not pixels_first:
            return call(inputs)
        kind = kind or keras.backend.standardize_dtype(inputs[0].dtype)  # "uint8" or "uint16"
        peak = int(np.iinfo(kind).max)
        out = call([ops.cast(inputs[0], "float32") * (1 / peak), *inputs[1:]])
        if not pixels_out:
            return out
        # (cast last: TensorFlow's oneDNN logs an error line for uint8 reshapes, then falls back)
        return ops.cast(ops.clip(ops.round(out * peak), 0, peak), kind)

    keras = load_keras()
    ops = keras.ops
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(run, reduce_retracing=True, autograph=False)
    if backend == "jax":
        import jax

        variables = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
        step = jax.jit(lambda trainable, fixed, inputs: run(
            inputs, lambda x: model.stateless_call(trainable, fixed, x, training=False)[0]))
        return lambda inputs: step(*variables, inputs)
    if backend == "torch":
        import torch

        def step(inputs):  # (predict_on_batch refuses a list mixing NumPy arrays and tensors)
            kind = np.asarray(inputs[0]).dtype.name  # (a uint16 array becomes an int32 tensor, and back)
            with torch.no_grad():
                out = run([ops.convert_to_tensor(x) for x in inputs], kind=kind)
            return ops.convert_to_numpy(out).astype(kind, copy=False) if pixels_out else out

        return step
    return lambda inputs: run(inputs, model.predict_on_batch)


def return_large_blocks_to_the_system() -> None:
    """Makes glibc's malloc give large freed blocks back at once (a 4K frame's buffers come and go).

    By default glibc raises its mmap threshold as big blocks are freed, after which such blocks
    stay in the heap and resident memory only grows; a fixed 1 MB threshold and two arenas keep it
    flat (docs/decisions.md, "Memory"). No effect off glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: blocks of 1 MB and up are mmap()ed, unmapped when freed
        libc.mallopt(-8, 2)  # M_ARENA_MAX: the threads share two heaps instead of one each
    except (OSError, AttributeError):
        pass
