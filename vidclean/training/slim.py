"""A narrower network started from a wider one's weights: channel pruning.

    narrow_from(source, target)   # vidclean.core.networks.Networks, same design, target no wider

Each group of channels that flows through the network together (the half-resolution skip path's
layers, the quarter-resolution features, the ConvLSTM's units, ...) keeps its most important
channels, scored by the norm of the weights that make each channel times the norm of those that
read it; every layer's kernel keeps the rows and columns of the channels kept. The narrow network
then starts close to the wide one's output, and training recovers much of the rest in a fraction
of the time training it from scratch takes. For the plain design (no residual blocks, no
neighbours' features): the "balanced" network's.
"""

from __future__ import annotations

import numpy as np

from vidclean.core.networks import Networks
from vidclean.presets import NetConfig, net_config

# Each layer with weights: (model, layer, its input channels, its output channels), each a list of
# parts in order: an int (that many channels, all kept) or (group, copies): a group's channels, the
# group repeated ``copies`` times one after another (the ConvLSTM's four gates; the 4 sub-pixels
# of a depth-to-space). Groups: width of the skip path (E1 S U H1 H2: "skip"), of the quarter
# features (D F Q1 Q2: "feat"), the ConvLSTM units (L: "lstm").
LAYERS = [
    ("encoder", "enc_half_1", [16], [("E1", 1)]),
    ("encoder", "enc_half_2", [("E1", 1)], [("S", 1)]),
    ("encoder", "enc_down", [("S", 1)], [("D", 1)]),
    ("encoder", "enc_quarter", [("D", 1)], [("F", 1)]),
    ("temporal", "temporal_convlstm", [("F", 1), ("L", 1)], [("L", 4)]),
    ("decoder", "dec_quarter_1", [("F", 1), ("L", 1), 1], [("Q1", 1)]),
    ("decoder", "dec_quarter_2", [("Q1", 1)], [("Q2", 1)]),
    ("decoder", "dec_up", [("Q2", 1)], [("U", 4)]),
    ("decoder", "dec_half_1", [("U", 1), ("S", 1)], [("H1", 1)]),
    ("decoder", "dec_half_2", [("H1", 1)], [("H2", 1)]),
    ("decoder", "dec_out", [("H2", 1)], [12]),
]
WIDTH = {"E1": "skip", "S": "skip", "U": "skip", "H1": "skip", "H2": "skip",
         "D": "feat", "F": "feat", "Q1": "feat", "Q2": "feat", "L": "lstm"}


def plain(cfg) -> bool:
    """Whether a NetConfig is of the plain design this module prunes (no residual blocks, no
    neighbours' features)."""
    return not (cfg.blocks or cfg.half_blocks or cfg.neighbours)


def _check(cfg) -> None:
    if not plain(cfg):
        raise ValueError("channel pruning is for the plain design (no residual blocks, no neighbours)")


def _indices(parts: list, widths: dict, keep: dict | None = None) -> list[tuple[str | None, np.ndarray]]:
    """For each part: (group or None, the indices of its channels in the layer's axis; with
    ``keep``, of those kept, in that order)."""
    out, offset = [], 0
    for part in parts:
        if isinstance(part, int):
            out.append((None, offset + np.arange(part)))
            offset += part
            continue
        group, copies = part
        width = widths[group]
        chosen = np.arange(width) if keep is None else keep[group]
        for copy in range(copies):
            out.append((group, offset + copy * width + chosen))
        offset += copies * width
    return out


def _kernels(nets) -> dict:
    models = {"encoder": nets.encoder, "decoder": nets.decoder, "temporal": nets.temporal}
    found = {}
    for model, name, _, _ in LAYERS:
        layer = models[model].get_layer(name)
        found[name] = layer.gates if name == "temporal_convlstm" else layer
    return found


def importance(nets) -> dict[str, np.ndarray]:
    """Each group's channels' scores: (norm of the weights making the channel) x (norm of the
    weights reading it), the copies of a group summed."""
    cfg = nets.cfg
    widths = {g: getattr(cfg, w) for g, w in WIDTH.items()}
    made = {g: np.zeros(n) for g, n in widths.items()}
    read = {g: np.zeros(n) for g, n in widths.items()}
    layers = _kernels(nets)
    for _, name, ins, outs in LAYERS:
        kernel = layers[name].get_weights()[0]
        for group, idx in _indices(outs, widths):
            if group:
                made[group] += np.sqrt((kernel[..., idx] ** 2).sum(axis=(0, 1, 2)))
        for group, idx in _indices(ins, widths):
            if group:
                read[group] += np.sqrt((kernel[:, :, idx, :] ** 2).sum(axis=(0, 1, 3)))
    return {g: made[g] * read[g] for g in widths}


def narrow_from(source, target) -> dict[str, np.ndarray]:
    """Sets ``target``'s weights to ``source``'s most important channels (``importance``); both
    vidclean.core.networks.Networks of the plain design, ``target`` no wider anywhere. Returns the
    channels kept per group (sorted)."""
    _check(source.cfg)
    _check(target.cfg)
    wide = {g: getattr(source.cfg, w) for g, w in WIDTH.items()}
    narrow = {g: getattr(target.cfg, w) for g, w in WIDTH.items()}
    if any(narrow[g] > wide[g] for g in WIDTH):
        raise ValueError("the narrower network is wider than its source somewhere")
    scores = importance(source)
    keep = {g: np.sort(np.argsort(-scores[g], kind="stable")[:narrow[g]]) for g in WIDTH}
    src, dst = _kernels(source), _kernels(target)
    for _, name, ins, outs in LAYERS:
        kernel, bias = src[name].get_weights()
        rows = np.concatenate([i for _, i in _indices(ins, wide, keep)])
        cols = np.concatenate([i for _, i in _indices(outs, wide, keep)])
        dst[name].set_weights([kernel[:, :, rows][..., cols], bias[cols]])
    return keep


# -- warm starts: a network from another's weights ----------------------------------------


def freeze_layers_of(nets: Networks, preset: str) -> int:
    """Makes the layers that ``preset``'s networks have too (those ``warm_start`` copies)
    untrainable in ``nets``, leaving only what ``nets`` adds to train; returns how many were frozen."""
    shared = [target for _, target in _layers_shared(Networks(net_config(preset)), nets)]
    for layer in shared:
        layer.trainable = False
    return len(shared)


def warm_start(nets: Networks, path, preset: str) -> int:
    """Loads weights saved by another preset's (or a former preset's) networks, layer by layer
    where names and shapes agree (e.g. "balanced" into "quality", whose extra blocks start as
    identities); returns how many layers were copied. A narrower network of the plain design
    (no blocks, no neighbours) takes a wider one's most important channels instead (``narrow_from``)."""
    source = Networks(net_config(preset))
    source.load_weights(path)
    if narrowing(source.cfg, nets.cfg):
        narrow_from(source, nets)
        return len(LAYERS)
    shared = list(_layers_shared(source, nets))
    for layer, target in shared:
        target.set_weights(layer.get_weights())
    return len(shared)


def _layers_shared(source: Networks, nets: Networks):
    """(source layer, the layer of ``nets``) for each layer with weights that both have, by
    name, with weights of the same shapes."""
    for src_model, dst_model in zip(source.parts(), nets.parts()):
        dst = {layer.name: layer for layer in dst_model.layers}
        for layer in src_model.layers:
            target = dst.get(layer.name)
            if layer.weights and target is not None and \
                    [tuple(w.shape) for w in target.weights] == [tuple(w.shape) for w in layer.weights]:
                yield layer, target


def narrowing(source: NetConfig, target: NetConfig) -> bool:
    """Whether ``target`` is ``source``'s plain design (no blocks, no neighbours) made narrower."""
    widths = lambda c: (c.skip, c.feat, c.lstm)  # noqa: E731
    return plain(source) and plain(target) and widths(target) != widths(source) and \
        all(t <= s for t, s in zip(widths(target), widths(source)))
