"""Errors a user can cause and read: one line, no traceback from the CLI."""
from __future__ import annotations


class OptbenchError(Exception):
    """Base of errors caused by user input; the CLI prints them and exits 2."""


class SpecError(OptbenchError, ValueError):
    """A spec, parameter or argument is invalid; the message names the field."""


class ResultsError(OptbenchError):
    """A results folder is missing, incomplete, corrupt or incompatible."""
