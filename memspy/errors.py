"""Errors memspy reports to a user: each carries a hint (what to do) and an exit code.

Exit codes are documented in the README; keep the two in step.
"""

from __future__ import annotations

from typing import Optional


class MemspyError(Exception):
    """Base of every error memspy reports; the CLI prints ``message`` and ``hint`` on one line."""

    exit_code = 1

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ProcessNotFound(MemspyError):
    exit_code = 3


class PermissionDenied(MemspyError):
    exit_code = 4


class NotAPythonProcess(MemspyError):
    exit_code = 5


class UnsupportedVersion(MemspyError):
    exit_code = 6


class TargetExited(MemspyError):
    """The target went away while we were reading it."""

    exit_code = 7


class OutputError(MemspyError):
    """The output file cannot be written."""

    exit_code = 8


class InputError(MemspyError):
    """A file given to memspy (a profile, a trace log) cannot be read."""

    exit_code = 9


class RemoteReadError(MemspyError):
    """A read of the target's memory failed or returned nonsense; recoverable per sample."""

    exit_code = 10


class LayoutMismatch(MemspyError):
    """The target's own _Py_DebugOffsets disagree with memspy's generated table."""

    exit_code = 6


class CommandNotFound(MemspyError):
    """The command memspy was asked to start does not exist; exits as a shell does."""

    exit_code = 127


class CommandNotExecutable(MemspyError):
    """The command memspy was asked to start exists but cannot be run; as a shell, 126."""

    exit_code = 126
