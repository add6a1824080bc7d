"""The command line (``vidclean``): argparse subcommands, the live preview window, signals."""

# OpenCV before PyAV: with PyAV's FFmpeg libraries loaded first, OpenCV's Qt window hangs in
# cv2.namedWindow (the live preview); docs/decisions.md, "Library load order"
import cv2  # noqa: F401
