"""What every command shares: turning our errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn, Optional, TypeVar

import click

from memspy.errors import MemspyError

if TYPE_CHECKING:  # dump uses this module and needs no sampler
    from memspy.sampling.sampler import Stop

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: MemspyError) -> NoReturn:
    message = f"memspy: error: {error.message}"
    if error.hint:
        message += f" ({error.hint})"
    print(message, file=sys.stderr)
    sys.exit(error.exit_code)


def reports_errors(func: F) -> F:
    """Wrap a command so a MemspyError becomes one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MemspyError as error:
            fail(error)
        except BrokenPipeError:
            sys.exit(0)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if os.environ.get("MEMSPY_DEBUG"):
                raise
            fail(
                MemspyError(
                    f"internal error: {type(error).__name__}: {error}",
                    "this is a memspy bug; run again with MEMSPY_DEBUG=1 for the traceback "
                    "and report it",
                )
            )

    return wrapper  # type: ignore[return-value]


@contextmanager
def stop_on_signals(stop: Stop, child: Optional[subprocess.Popen]) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the sampling loop (which then finishes its output) for the
    duration of the block.

    SIGTERM is passed on to a command memspy started; SIGINT only when the terminal did
    not already deliver it to the command (memspy not in the foreground, or no terminal).
    """

    def handler(signum: int, frame: object) -> None:
        stop.set()
        if child is not None and child.poll() is None and _should_forward(signum):
            child.send_signal(signum)

    previous = [(signum, signal.signal(signum, handler))
                for signum in (signal.SIGINT, signal.SIGTERM)]
    try:
        yield
    finally:
        for signum, old in previous:
            signal.signal(signum, old)


def _should_forward(signum: int) -> bool:
    if signum != signal.SIGINT:
        return True
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) != os.getpgrp()
    except (OSError, ValueError):
        return True
