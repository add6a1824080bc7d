"""vidclean: a streaming video denoiser (per-frame CNN + ConvLSTM, Keras 3)."""

__version__ = "0.1.0"
