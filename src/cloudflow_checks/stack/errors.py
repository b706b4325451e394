"""Errors of the local stack: one clear message each, and the exit status a CLI should use."""
from __future__ import annotations


class StackError(Exception):
    """The stack could not be brought to the asked state. Message: one line (+ a log tail)."""

    exit_code = 1


class SetupMissing(StackError):
    """A binary or package the stack needs is not installed: the message says how to install it."""

    exit_code = 2


class PortTaken(StackError):
    """A port the user asked for is in use."""

    exit_code = 2


class UnknownFault(StackError):
    """A fault switch the twin does not have."""

    exit_code = 2


class NotUp(StackError):
    """The operation needs a running stack and there is none."""

    exit_code = 1
