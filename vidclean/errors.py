"""Errors that reach the user as one line on stderr (exit status 2), never as a traceback."""


class VidcleanError(Exception):
    """A problem with the user's input, output or options, worded for the user."""
