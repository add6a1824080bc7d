"""Errors that reach the user as one line on stderr (exit status 2), never as a traceback."""


class VidcleanError(Exception):
    """A problem with the user's input, output or options, worded for the user."""


def reason(exc: BaseException) -> str:
    """The short cause of an OS or FFmpeg error, for the end of a one-line message."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
