"""From a saved event log to a profile file, through the same collectors ``record`` uses."""

from __future__ import annotations

from collections.abc import Callable

from memspy.collectors import StackOptions, create
from memspy.collectors.output import write_atomic
from memspy.model import Frame, ProfileInfo
from memspy.usdt.events import LogStats, read_log


def convert(
    log_path: str,
    output: str,
    fmt: str,
    info: ProfileInfo,
    options: StackOptions,
    allow_truncated: bool = False,
    rename: Callable[[Frame], Frame] | None = None,
    hidden: tuple[str, str] | None = None,
) -> LogStats:
    """Write ``output`` in format ``fmt`` from the log, frames renamed by ``rename`` (see
    ``qualnames``), without an outermost frame ``hidden`` (see ``read_log``); the log is
    checked before any write."""
    stats, events = read_log(log_path, allow_truncated, rename, hidden)
    info = ProfileInfo(
        pid=info.pid or stats.pid,
        command=info.command,
        python_version=info.python_version,
        rate_hz=info.rate_hz,
        # The tracer's clock is monotonic: only the caller knows when, on the wall clock,
        # the trace began (0 for a log converted later, as pprof allows).
        start_time_ns=info.start_time_ns,
        duration_s=stats.end - stats.start,
        mode="wall",
        extra=info.extra + (("source", "usdt"),),
    )
    collector = create(fmt, info, options)
    for event in events:
        collector.collect_event(event)
    write_atomic(output, collector.export)
    return stats
