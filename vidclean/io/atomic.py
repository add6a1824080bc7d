"""Outputs that appear whole or not at all: written to a hidden temporary file beside the
destination, then renamed into place (a rename within a folder is atomic)."""

from __future__ import annotations

import os


def partial_path(dst: str | os.PathLike) -> str:
    """The temporary file beside ``dst`` that becomes it: hidden, named after it and this process."""
    folder, name = os.path.split(os.path.abspath(os.fspath(dst)))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.partial-{os.getpid()}{ext}")


def commit(tmp: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Moves the complete ``tmp`` into place at ``dst`` (replacing what is there)."""
    os.replace(tmp, dst)


def discard(tmp: str | os.PathLike | None) -> None:
    """Removes ``tmp`` if it is there (never created, or not a file of ours: left alone)."""
    if tmp is not None:
        try:
            os.remove(tmp)
        except OSError:
            pass


def sync(path: str | os.PathLike) -> None:
    """Has the file at ``path`` reach the disk (before a record that says it is complete)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_bytes(dst: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``dst`` through a temporary file: ``dst`` is whole or untouched (OSError then)."""
    tmp = partial_path(dst)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        commit(tmp, dst)
    except BaseException:
        discard(tmp)
        raise
