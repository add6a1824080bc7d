"""``vidclean batch --ray``: the batch as Ray tasks, over every machine of a Ray cluster.

One task per file, and long files cut into parts (vidclean.jobs.segments) so that one long video
also spreads over the workers; the driver joins the parts by stream copy and writes every
output (atomically, as the one-machine batch does). Each task takes one CPU (its network runs
on one thread), or one GPU where the cluster has GPUs. A worker process loads the networks once
and keeps them for the tasks that follow. A task whose worker dies is run again (Ray's
``max_retries``); a file whose task fails is reported and the batch goes on.

Workers read the inputs by path: on a cluster of several machines the input folder must be
visible at the same path on each (a shared file system), and vidclean installed on each.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2

from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError
from vidclean.io import atomic
from vidclean.io.reader import open_video
from vidclean.io.writer import encoder_for
from vidclean.jobs.file import clean_file
from vidclean.jobs.segments import PartMismatch, clean_part, join_parts, part_suffix, plan_parts
from vidclean.options import CleanOptions

INSTALL_HINT = "--ray needs Ray, an optional extra: pip install 'vidclean[ray]'"
RETRIES = 3  # runs of a task after its worker died


def import_ray():
    try:
        import ray
    except ImportError:
        raise VidcleanError(INSTALL_HINT) from None
    return ray


def connect(ray, address: str) -> None:
    """Joins the cluster at ``address`` ("auto": the one this machine belongs to; "local": a new
    one on this machine), unless this process has already joined one."""
    if ray.is_initialized():
        return
    settings = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
    try:
        with warnings.catch_warnings():  # Ray warns of a timed-out client connection, then raises
            warnings.simplefilter("ignore")
            ray.init(**settings) if address == "local" else ray.init(address=address, **settings)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        hint = "start one with `ray start --head`, or use --ray local" if address == "auto" else \
            (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VidcleanError(f"--ray {address}: no Ray cluster found ({hint})") from None


# -- what runs on the workers ---------------------------------------------------

_LOADED: dict = {}  # this worker's Denoiser, by the options it was built for


def _denoiser(options: CleanOptions):
    key = options.model_key()
    if key not in _LOADED:
        load_keras(1)  # a task holds one CPU: so do the fusion's OpenCV calls
        cv2.setNumThreads(1)
        _LOADED.clear()
        _LOADED[key] = options.denoiser()
    return _LOADED[key]


def clean_part_task(src: str, part, options: CleanOptions) -> tuple[bytes, int, float]:
    """One part of ``src`` cleaned and encoded: (the part file's bytes, frames, sum of sigmas)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"part{part_suffix(options.codec)}")
        frames, sigma_total = clean_part(src, part, _denoiser(options), options, path)
        return Path(path).read_bytes(), frames, sigma_total


def clean_file_task(src: str, suffix: str, options: CleanOptions) -> tuple[bytes, int, float]:
    """A whole file cleaned into a file of type ``suffix``: (its bytes, frames, mean sigma)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out" + suffix)
        result = clean_file(src, path, options, denoiser=_denoiser(options))
        return Path(path).read_bytes(), result.frames, result.sigma


# -- the driver -------------------------------------------------------------------

@dataclass
class FileJob:
    entry: object  # batch.Entry
    started: float
    parts: list | None = None  # None: cleaned whole
    results: dict = field(default_factory=dict)  # part index -> (part file, frames, sigma sum)
    folder: tempfile.TemporaryDirectory | None = None  # where the part files wait, beside the output
    counted: int = 0  # frames shown on the progress bar
    codec: str = ""  # the encoder of its output (and parts), from its extension when none is named

    def discard_parts(self) -> None:
        """Removes the part files and forgets the parts' results."""
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None
        self.results = {}


def _bit_depth(path) -> int:
    """Bits a sample of a video (which picks its output's codec); 8 for one that cannot be read (its task says why)."""
    try:
        with open_video(path) as stream:
            return stream.info.bit_depth
    except VidcleanError:
        return 8


def _cause(exc: BaseException) -> BaseException:
    """The exception a task raised, from the RayTaskError that wraps it."""
    return getattr(exc, "cause", None) or exc


def run_batch_ray(todo: list, options: CleanOptions, address: str, segment_frames: int, progress) -> None:
    """Cleans the ``todo`` entries of a batch on the Ray cluster at ``address``; sets each entry's
    status, frames, seconds and sigma as the one-machine batch does, and tells ``progress``
    (a vidclean.jobs.batch.BatchProgress) as it goes."""
    if not todo:
        return
    ray = import_ray()
    connect(ray, address)
    overwrite = options.overwrite
    # a task writes into a folder of its own, and a task whose worker dies is run again whole
    options = replace(options, overwrite=True, part_frames=0)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    settings = dict(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)
    part_task = ray.remote(clean_part_task).options(**settings)
    file_task = ray.remote(clean_file_task).options(**settings)
    pending: dict = {}  # object ref -> (FileJob, part index or None)

    def drop(job: FileJob) -> None:
        """Cancels the job's tasks still pending and removes its part files."""
        for ref, (other, _) in list(pending.items()):
            if other is job:
                ray.cancel(ref)
                del pending[ref]
        job.discard_parts()

    def submit_whole(job: FileJob) -> None:
        """The file again, in one piece (its parts did not match the plan, or did not join)."""
        drop(job)
        progress.frames(-job.counted)
        job.parts, job.counted = None, 0
        pending[file_task.remote(str(job.entry.src), job.entry.dst.suffix, options)] = (job, None)

    def fail(job: FileJob, exc: BaseException) -> None:
        job.entry.fail(exc)
        progress.failed(job.entry)
        drop(job)

    for entry in todo:
        depth = 8 if options.codec else _bit_depth(entry.src)  # (only the default codec depends on it)
        job = FileJob(entry, time.time(), codec=encoder_for(options.codec, entry.dst.suffix, depth))
        # --strict needs the whole file read by one reader (it counts frames missing at the end)
        parts = None if options.strict else plan_parts(entry.src, segment_frames, options.window,
                                                       options.sigma is None, options.fusion_radius)
        if parts is None:
            submit_whole(job)
        else:
            job.parts = parts
            for part in parts:
                pending[part_task.remote(str(entry.src), part, replace(options, codec=job.codec))] = (job, part.index)

    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        job, index = pending.pop(ref)
        entry = job.entry
        try:
            data, frames, sigma = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - whatever a task raised, the batch goes on
            cause = _cause(exc)
            if index is not None and isinstance(cause, PartMismatch):
                submit_whole(job)
            else:
                fail(job, cause)
            continue
        del ref  # the object store may drop the bytes once written out
        progress.frames(frames)
        job.counted += frames
        try:
            entry.dst.parent.mkdir(parents=True, exist_ok=True)
            if index is None:
                if entry.dst.exists() and not overwrite:
                    raise VidcleanError(f"{entry.dst}: already exists")
                atomic.write_bytes(entry.dst, data)
                _done(entry, job, frames, sigma)
                continue
            if job.folder is None:
                job.folder = tempfile.TemporaryDirectory(prefix=f".{entry.dst.stem}.parts-", dir=entry.dst.parent)
            path = os.path.join(job.folder.name, f"{index:05d}{part_suffix(job.codec)}")
            Path(path).write_bytes(data)
            del data
            job.results[index] = (path, frames, sigma)
            if len(job.results) < len(job.parts):
                continue
            paths = [job.results[i][0] for i in range(len(job.parts))]
            try:
                join_parts(str(entry.src), paths, str(entry.dst), overwrite)
            except VidcleanError:
                # parts that do not join (a variable frame rate can give a part a first decode
                # timestamp before the last of the part before): the file in one piece
                submit_whole(job)
                continue
            frames = sum(r[1] for r in job.results.values())
            _done(entry, job, frames, sum(r[2] for r in job.results.values()) / max(frames, 1))
        except Exception as exc:  # noqa: BLE001 - writing one file failed: the batch goes on
            fail(job, exc)


def _done(entry, job: FileJob, frames: int, sigma: float) -> None:
    entry.status, entry.frames, entry.sigma = "done", frames, sigma
    entry.seconds = time.time() - job.started
    job.discard_parts()
