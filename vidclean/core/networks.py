"""The denoising network: a per-frame CNN encoder, a ConvLSTM over time, and a decoder.

Streaming design (work per frame does not grow with the window):

* ``encoder`` runs once per frame: noisy RGB + noise map -> a half-resolution skip feature and a
  quarter-resolution feature ``f``.
* ``temporal`` is one step of a ConvLSTM over ``f``; its state is carried from frame to frame, so
  every frame enters the recurrence exactly once.
* ``decoder`` cleans the centre frame ``t`` of a window of ``2k+1`` frames from that frame's own
  features and the ConvLSTM state after frame ``t+k`` (which has seen the ``k`` frames ahead of it
  as well as everything before). ``k`` is an input of the decoder, so one network serves any window.

Model code uses Keras 3 layers and ``keras.ops`` only, so it runs on the TensorFlow, JAX and
PyTorch backends alike. Frame height and width must be multiples of ``SIZE_MULTIPLE``.
"""

from __future__ import annotations

from pathlib import Path

from vidclean.core.backend import load_keras
from vidclean.errors import VidcleanError
from vidclean.presets import (MAX_DELAY, PRESETS, REFINERS, SIZE_MULTIPLE, NetConfig, RefinerConfig,
                              refiner_weights_path, weights_path)

keras = load_keras()  # (quietly: TensorFlow logs start-up lines while it is imported)
layers, ops = keras.layers, keras.ops

__all__ = ["MAX_DELAY", "PRESETS", "SIZE_MULTIPLE", "Networks", "build_refiner", "load_preset", "load_refiner"]


class _Rearrange(layers.Layer):
    """A layer that moves pixels between space and channels by ``factor`` (no weights)."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="vidclean")
class PixelUnshuffle(_Rearrange):
    """Space-to-depth: (B, H, W, C) -> (B, H/r, W/r, C*r*r)."""

    def call(self, x):
        r = self.factor
        b, h, w, c = ops.shape(x)
        x = ops.reshape(x, (-1, h // r, r, w // r, r, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h // r, w // r, r * r * c))

    def compute_output_shape(self, shape):
        r = self.factor
        b, h, w, c = shape
        return (b, None if h is None else h // r, None if w is None else w // r, c * r * r)


@keras.saving.register_keras_serializable(package="vidclean")
class PixelShuffle(_Rearrange):
    """Depth-to-space: (B, H, W, C*r*r) -> (B, H*r, W*r, C)."""

    def call(self, x):
        r = self.factor
        b, h, w, c = ops.shape(x)
        x = ops.reshape(x, (-1, h, w, r, r, c // (r * r)))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * r, w * r, c // (r * r)))

    def compute_output_shape(self, shape):
        r = self.factor
        b, h, w, c = shape
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))


@keras.saving.register_keras_serializable(package="vidclean")
class ConstantMap(layers.Layer):
    """Broadcasts a per-sample scalar (B, 1) to a one-channel map shaped like ``like``."""

    def call(self, value, like):
        return ops.ones_like(like[..., :1]) * ops.reshape(value, (-1, 1, 1, 1))

    def compute_output_shape(self, value_shape, like_shape):
        return (*like_shape[:-1], 1)


@keras.saving.register_keras_serializable(package="vidclean")
class ConvLSTMCell(layers.Layer):
    """One step of a convolutional LSTM: (x, h, c) -> (h', c').

    Keras' own ConvLSTM2D needs static frame sizes; this cell takes any size and is stepped by
    the caller, which is what streaming needs (one step per frame, state carried).
    """

    def __init__(self, units: int, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_size = kernel_size
        self.gates = layers.Conv2D(4 * units, kernel_size, padding="same", name="gates")

    def build(self, x_shape, h_shape=None, c_shape=None):
        self.gates.build((*x_shape[:-1], x_shape[-1] + self.units))

    def call(self, x, h, c):
        i, f, o, g = ops.split(self.gates(ops.concatenate([x, h], axis=-1)), 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c), c

    def get_config(self):
        return {**super().get_config(), "units": self.units, "kernel_size": self.kernel_size}


def conv(width, name, strides=1, activation="leaky_relu", **kwargs):
    # leaky: with plain ReLU many units died early in training and learning crawled
    return layers.Conv2D(width, 3, strides=strides, padding="same", activation=activation, name=name, **kwargs)


def residual_blocks(x, count: int, width: int, name: str):
    """``count`` residual blocks of two convolutions; each starts as the identity."""
    for i in range(count):
        r = conv(width, f"{name}_{i + 1}a")(x)
        r = conv(width, f"{name}_{i + 1}b", activation=None, kernel_initializer="zeros")(r)
        x = layers.Add(name=f"{name}_{i + 1}")([x, r])
    return x


def conv_joining(x, near: list, width: int, name: str):
    """``conv(width, name)(x)``, plus (before the activation) a convolution of the neighbours'
    features ``near`` if there are any: zero-initialised, so a network given neighbours starts as
    the one without them, whose weights it copies."""
    if not near:
        return conv(width, name)(x)
    x = conv(width, name, activation=None)(x)
    joined = conv(width, f"{name}_near", activation=None, use_bias=False, kernel_initializer="zeros")(
        layers.Concatenate(name=f"{name}_neighbours")(near))
    return layers.Activation("leaky_relu", name=f"{name}_act")(layers.Add()([x, joined]))


def build_encoder(cfg: NetConfig) -> keras.Model:
    """Frame + noise map -> (skip, feat); computed once per frame."""
    frame = keras.Input((None, None, 3), name="frame")
    noise_map = keras.Input((None, None, 1), name="noise_map")
    centred = layers.Rescaling(1.0, offset=-0.5, name="centre")(frame)
    x = layers.Concatenate()([centred, noise_map])
    x = conv(cfg.skip, "enc_half_1")(PixelUnshuffle(2, name="unshuffle")(x))
    skip = conv(cfg.skip, "enc_half_2")(x)
    f = conv(cfg.feat, "enc_down", strides=2)(skip)
    f = residual_blocks(conv(cfg.feat, "enc_quarter")(f), cfg.blocks, cfg.feat, "enc_block")
    return keras.Model([frame, noise_map], [skip, f], name="encoder")


def build_decoder(cfg: NetConfig) -> keras.Model:
    """Centre frame, its (skip, feat) and the ConvLSTM state k frames later -> cleaned centre frame."""
    frame = keras.Input((None, None, 3), name="frame")
    skip = keras.Input((None, None, cfg.skip), name="skip")
    feat = keras.Input((None, None, cfg.feat), name="feat")
    state = keras.Input((None, None, cfg.lstm), name="state")
    delay = keras.Input((1,), name="delay")  # look-ahead k / MAX_DELAY
    inputs = [frame, skip, feat, state, delay]
    near_skips = near_feats = []
    if cfg.neighbours:  # the frames before and after the centre: (skip, feat) each
        near_skips = [keras.Input((None, None, cfg.skip), name=f"{n}_skip") for n in ("prev", "next")]
        near_feats = [keras.Input((None, None, cfg.feat), name=f"{n}_feat") for n in ("prev", "next")]
        inputs += [near_skips[0], near_feats[0], near_skips[1], near_feats[1]]
    d = layers.Concatenate()([feat, state, ConstantMap(name="delay_map")(delay, feat)])
    d = conv_joining(d, near_feats, cfg.feat, "dec_quarter_1")
    d = residual_blocks(conv(cfg.feat, "dec_quarter_2")(d), cfg.blocks, cfg.feat, "dec_block")
    d = PixelShuffle(2, name="up_half")(conv(4 * cfg.skip, "dec_up")(d))
    d = layers.Concatenate()([d, skip])
    d = residual_blocks(conv_joining(d, near_skips, cfg.skip, "dec_half_1"), cfg.half_blocks, cfg.skip,
                        "dec_half_block")
    d = conv(cfg.skip, "dec_half_2")(d)
    residual = PixelShuffle(2, name="up_full")(conv(12, "dec_out", activation=None, kernel_initializer="zeros")(d))
    clean = layers.Add(name="clean")([frame, residual])
    return keras.Model(inputs, clean, name="decoder")


def build_refiner(cfg: RefinerConfig) -> keras.Model:
    """Fused frame + the noisy frames' mean along the motion + the noise level per pixel that
    mean leaves (vidclean.core.fusion.Fused; all 0-1) -> the fused frame refined. The last convolution
    starts at zero: an untrained refiner passes the fused frame through."""
    fused = keras.Input((None, None, 3), name="fused")
    mean = keras.Input((None, None, 3), name="noisy_mean")
    noise = keras.Input((None, None, 1), name="mean_noise")
    x = PixelUnshuffle(cfg.fold, name="ref_unshuffle")(layers.Concatenate()([fused, mean, noise]))
    for i in range(cfg.depth):
        x = conv(cfg.width, f"ref_{i + 1}")(x)
    residual = conv(3 * cfg.fold**2, "ref_out", activation=None, kernel_initializer="zeros")(x)
    refined = layers.Add(name="refined")([fused, PixelShuffle(cfg.fold, name="ref_shuffle")(residual)])
    return keras.Model([fused, mean, noise], refined, name="refiner")


class Networks:
    """The three parts of one preset, sharing weights with the training model built from them."""

    def __init__(self, cfg: NetConfig):
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        self.decoder = build_decoder(cfg)
        self.cell = ConvLSTMCell(cfg.lstm, name="temporal_convlstm")
        feat = keras.Input((None, None, cfg.feat), name="feat")
        h = keras.Input((None, None, cfg.lstm), name="h")
        c = keras.Input((None, None, cfg.lstm), name="c")
        self.temporal = keras.Model([feat, h, c], self.cell(feat, h, c), name="temporal")

    def training_model(self, frames: int, patch: int) -> keras.Model:
        """Clip (B, T, P, P, 3) + sigma (B, 1) -> cleaned frames (B, D, P, P, 3), D = MAX_DELAY + 1.

        The ConvLSTM runs over all T frames from a zero state; output ``k`` is frame ``T-1-k``
        decoded with look-ahead ``k`` from the final state, exactly as the streaming engine
        decodes the centre of a window of ``2k+1``. One clip thus trains every window size.
        """
        cfg = self.cfg
        clip = keras.Input((frames, patch, patch, 3), name="clip")
        sigma = keras.Input((1,), name="sigma")
        images = ops.reshape(clip, (-1, patch, patch, 3))
        noise_map = ConstantMap(name="noise_map")(ops.repeat(sigma, frames, axis=0), images)
        skip, feat = self.encoder([images, noise_map])
        seq = lambda x: ops.reshape(x, (-1, frames, *x.shape[1:]))  # noqa: E731
        image_seq, skip_seq, feat_seq = seq(images), seq(skip), seq(feat)
        h = c = ops.repeat(ops.zeros_like(feat_seq[:, 0, ..., :1]), cfg.lstm, axis=-1)
        for t in range(frames):
            h, c = self.cell(feat_seq[:, t], h, c)
        delays = range(MAX_DELAY + 1)
        centres = [frames - 1 - k for k in delays]
        stacked = lambda x, ts: ops.concatenate([x[:, t] for t in ts], axis=0)  # noqa: E731
        # all look-aheads in one decoder call: stack them along the batch axis
        inputs = [
            stacked(image_seq, centres),
            stacked(skip_seq, centres),
            stacked(feat_seq, centres),
            ops.concatenate([h] * len(centres), axis=0),
            ops.concatenate([ops.ones_like(sigma) * (k / MAX_DELAY) for k in delays], axis=0),
        ]
        if cfg.neighbours:  # with no look-ahead (k = 0) the frame after is the centre itself
            before = [t - 1 for t in centres]
            after = [t + 1 if k else t for t, k in zip(centres, delays)]
            inputs += [stacked(skip_seq, before), stacked(feat_seq, before),
                       stacked(skip_seq, after), stacked(feat_seq, after)]
        clean = self.decoder(inputs)
        clean = ops.transpose(ops.reshape(clean, (len(centres), -1, patch, patch, 3)), (1, 0, 2, 3, 4))
        return keras.Model([clip, sigma], clean, name="vidclean_train")

    def save_weights(self, path):
        self.training_model(3, 16).save_weights(str(path))

    def load_weights(self, path):
        self.training_model(3, 16).load_weights(str(path))

    def parts(self) -> tuple[keras.Model, ...]:
        return self.encoder, self.decoder, self.temporal


def load_preset(preset: str = "balanced", weights: str | Path | None = None) -> Networks:
    """Builds a preset's networks and loads its shipped weights (or ``weights`` if given)."""
    if preset not in PRESETS:
        raise KeyError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    path = Path(weights or weights_path(preset))
    if not path.is_file():
        raise VidcleanError(f"weights of preset {preset!r} not found: {path}")
    nets = Networks(PRESETS[preset])
    nets.load_weights(path)
    return nets


def load_refiner(preset: str, weights: str | Path | None = None) -> keras.Model | None:
    """A preset's refiner with its shipped weights (or ``weights``); None for a preset without one."""
    if preset not in REFINERS:
        return None
    path = Path(weights or refiner_weights_path(preset))
    if not path.is_file():
        raise VidcleanError(f"refiner weights of preset {preset!r} not found: {path}")
    model = build_refiner(REFINERS[preset])
    model.load_weights(str(path))
    return model
