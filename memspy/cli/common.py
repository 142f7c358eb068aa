"""What every command shares: turning our errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable, NoReturn, TypeVar

import click

from memspy.errors import MemspyError

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
