"""ONNX export: a preset's networks as ONNX models, plus a JSON that says how to step them.

    export_onnx("models", presets=["balanced"])   # models/balanced/{encoder,temporal,decoder}.onnx + vidclean.json

The models take and give float32 NHWC tensors of any batch, height and width (multiples of
SIZE_MULTIPLE); vidclean.export.runner steps them with ONNX Runtime and NumPy alone, as the engine
steps the Keras networks. The fusion after the networks is OpenCV's optical flow and is not
exported: the JSON names its settings. Needs the TensorFlow backend and tf2onnx (``pip install
'vidclean[onnx]'``); the models are float32 whatever ``--precision`` cleaning uses.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from vidclean._version import __version__
from vidclean.core.backend import backend_name, chatter_filtered
from vidclean.errors import VidcleanError
from vidclean.io.atomic import write_bytes
from vidclean.presets import (
    DEFAULT_WINDOW,
    FUSION_RADIUS,
    MAX_DELAY,
    PRESETS,
    REFINERS,
    SIGMA_HISTORY,
    SIZE_MULTIPLE,
    STATE_PERIOD,
    STATE_WARMUP,
    NetConfig,
    fusion_flow,
)

OPSET = 17  # ONNX Runtime, OpenVINO and TensorRT 8.6+ all run it
MANIFEST = "vidclean.json"
# Each network's ONNX input names (in the Keras model's input order), and its outputs' names
INPUTS = {
    "encoder": ("frame", "noise_map"),
    "temporal": ("feat", "state_h", "state_c"),
    "decoder": ("frame", "skip", "feat", "state", "delay"),
    "refiner": ("fused", "noisy_mean", "mean_noise"),
}
NEIGHBOUR_INPUTS = ("prev_skip", "prev_feat", "next_skip", "next_feat")
OUTPUTS = {"encoder": ("skip", "feat"), "temporal": ("next_h", "next_c"), "decoder": ("clean",),
           "refiner": ("refined",)}

STEPPING = [
    ("Pixels are RGB float32 in 0-1 (8-bit values / 255, 16-bit / 65535), NHWC; pad height and width to a multiple of "
    "size_multiple (reflecting the last rows and columns), crop the output back."),
    ("encoder: each frame once, with noise_map = sigma / 255 everywhere (sigma on the 0-255 scale) -> skip "
    "(half resolution), feat (quarter resolution)."),
    "temporal: one ConvLSTM step per frame over feat, from a zero state_h/state_c; next_h is the state.",
    ("A window of 2k+1 frames (reflected at both ends of the clip) cleans its centre frame t with the decoder "
    "from frame t's own frame, skip and feat, the state next_h after frame t+k, and delay = k / max_delay."),
    ("The state restarts: track n serves frames n*period .. (n+1)*period-1; it starts from zero at frame "
    "n*period - warmup (the first track with the clip, at frame -k: the reflected pre-roll) and takes frames "
    "up to k past its last one."),
    ("neighbours (a decoder that takes them): prev_* and next_* are the skip and feat of frames t-1 and t+1 "
    "(with k = 0: the frame before, or frame t itself at the start; and frame t itself for next)."),
    ("clean is the cleaned frame in 0-1, before rounding to 8 bits; then the fusion (not exported) and, for "
    "a preset with one, the refiner."),
]


def _quiet_converter():
    """tf2onnx, its Python logging kept to errors; VidcleanError if it or the backend is not there."""
    if backend_name() != "tensorflow":
        raise VidcleanError(f"ONNX export runs on the TensorFlow backend (KERAS_BACKEND is {backend_name()!r}); "
                            "unset KERAS_BACKEND or set it to tensorflow")
    try:
        with chatter_filtered():
            import tf2onnx
    except ImportError:
        raise VidcleanError("ONNX export needs tf2onnx and onnx: pip install 'vidclean[onnx]'") from None
    except Exception as exc:  # noqa: BLE001 - installed but broken (a version that does not fit): one line
        raise VidcleanError(f"tf2onnx cannot load ({type(exc).__name__}: {exc}); pip install -U 'vidclean[onnx]'") from None
    tf2onnx.logging.set_level(logging.ERROR)
    return tf2onnx


def onnx_bytes(model, name: str, input_names: tuple[str, ...], output_names: tuple[str, ...]) -> bytes:
    """One Keras network as a serialised ONNX model: batch, height and width left free.

    Args:
        model: a functional Keras model whose inputs are NHWC (or (B, 1)) float tensors.
        name: the graph's name.
        input_names: the ONNX inputs' names, in the model's input order.
        output_names: the ONNX outputs' names, in the model's output order.
    """
    import tensorflow as tf

    tf2onnx = _quiet_converter()
    specs = [tf.TensorSpec((None, *x.shape[1:]), tf.float32, name=n) for x, n in zip(model.inputs, input_names)]

    def call(*inputs):
        outputs = model(list(inputs), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(output_names, outputs))  # (the dict's keys name the ONNX outputs)

    with chatter_filtered():  # (TensorFlow's graph optimiser logs from C++)
        proto, _ = tf2onnx.convert.from_function(tf.function(call, autograph=False), input_signature=specs,
                                                 opset=OPSET)
    proto.graph.name = name
    return proto.SerializeToString()


def inputs_of(name: str, cfg: NetConfig) -> tuple[str, ...]:
    """A network's ONNX inputs, in order (the decoder's with the neighbours' where it takes them)."""
    return INPUTS[name] + (NEIGHBOUR_INPUTS if name == "decoder" and cfg.neighbours else ())


def manifest(preset: str, files: dict[str, str]) -> dict:
    """What a runtime needs to step a preset's exported networks (written as vidclean.json)."""
    cfg = PRESETS[preset]
    refiner = REFINERS.get(preset)
    return {
        "format": "vidclean-onnx",
        "version": 1,
        "vidclean": __version__,
        "preset": preset,
        "opset": OPSET,
        "networks": {name: {"file": file, "inputs": list(inputs_of(name, cfg)), "outputs": list(OUTPUTS[name])}
                     for name, file in files.items()},
        "widths": {"skip": cfg.skip, "feat": cfg.feat, "state": cfg.lstm},
        "size_multiple": SIZE_MULTIPLE,
        "max_delay": MAX_DELAY,
        "default_window": DEFAULT_WINDOW,
        "neighbours": cfg.neighbours,
        "state_restart": {"period": STATE_PERIOD, "warmup": STATE_WARMUP},
        "sigma": {"scale": "0-255", "auto": f"median of per-frame estimates over the last {SIGMA_HISTORY} frames "
                  "(vidclean.core.noise.SigmaTracker)"},
        "fusion": {"exported": False, "radius": FUSION_RADIUS, "flow": f"OpenCV DIS, preset {fusion_flow(preset)}",
                   "how": "vidclean.core.fusion.MotionFusion: each cleaned frame averaged with the frames before "
                          "and after it, warped along the motion"},
        "refiner": None if refiner is None else {
            "file": files.get("refiner"), "after": "the fusion",
            "inputs": "the fused frame, the noisy frames' mean along the motion (0-1), its noise level per pixel "
                      "(0-1 scale); vidclean.core.fusion.Fused"},
        "stepping": STEPPING,
    }


def export_onnx(folder: str | os.PathLike, presets: list[str] | None = None, overwrite: bool = False) -> list[Path]:
    """Writes each preset's networks as ONNX models and a vidclean.json to ``folder/PRESET/``.

    Args:
        folder: where the presets' folders go (made if missing).
        presets: the presets to export (default: all of ``PRESETS``).
        overwrite: replace files that exist (else VidcleanError before anything is written).

    Returns:
        The files written.
    """
    from vidclean.core.networks import load_preset, load_refiner

    presets = list(presets or PRESETS)
    for preset in presets:
        if preset not in PRESETS:
            raise VidcleanError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise VidcleanError(f"{root}: is a file; give a folder for the exported models")
    if not overwrite:
        taken = [root / p / MANIFEST for p in presets if (root / p / MANIFEST).exists()]
        if taken:
            raise VidcleanError(f"{taken[0]}: already exists (-y replaces it)")
    _quiet_converter()
    written = []
    for preset in presets:
        nets = load_preset(preset)
        models = dict(zip(("encoder", "decoder", "temporal"), nets.parts()))
        refiner = load_refiner(preset)
        if refiner is not None:
            models["refiner"] = refiner
        out = root / preset
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidcleanError(f"{out}: cannot make the folder ({exc.strerror})") from None
        files = {}
        for name, model in models.items():
            files[name] = f"{name}.onnx"
            written.append(_write(out / files[name], onnx_bytes(model, f"vidclean_{preset}_{name}",
                                                                 inputs_of(name, nets.cfg), OUTPUTS[name])))
        text = json.dumps(manifest(preset, files), indent=2) + "\n"
        written.append(_write(out / MANIFEST, text.encode()))  # last: its presence says the folder is complete
    return written


def _write(path: Path, data: bytes) -> Path:
    try:
        write_bytes(path, data)
    except OSError as exc:
        raise VidcleanError(f"{path}: cannot write ({exc.strerror})") from None
    return path
