"""What every command shares: turning our errors into one line and an exit code."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

from memspy.errors import MemspyError

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: MemspyError) -> NoReturn:  # noqa: F821
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

    return wrapper  # type: ignore[return-value]
