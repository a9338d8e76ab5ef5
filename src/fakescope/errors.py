"""Exceptions raised by fakescope. Each carries a one-line, user-facing message."""

from __future__ import annotations


class FakescopeError(Exception):
    """Base class: a clear, one-line error meant for the user."""


class MediaError(FakescopeError):
    """An input file is missing, empty, unreadable or not a supported image or video."""


class UnknownNameError(FakescopeError, KeyError):
    """A registry was asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class WeightsError(FakescopeError):
    """A weight file is missing, corrupt or does not match the architecture."""
