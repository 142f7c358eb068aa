"""The bpftrace program whose output ``memspy trace`` reads: one line per probe firing.

The log is plain text so it can be captured on one machine and converted on another:

    # memspy-usdt-log 1
    E<TAB>nsecs<TAB>pid<TAB>tid<TAB>filename<TAB>function<TAB>line     (function__entry)
    R<TAB>... same fields ...                                          (function__return)
    L<TAB>... same fields ...                                          (line, optional)
    X<TAB>status                      (the exit status of a command bpftrace started)
    # end

``nsecs`` is bpftrace's monotonic clock. The ``line`` probe serves two purposes on
CPython 3.11 (CPython issue 98894): while its semaphore is set the interpreter runs its
instrumented dispatch, the only path on which 3.11 fires ``function__entry`` at all; and
its events let the parser rebuild an entry the tracer still missed. To keep the log small
it prints a line event only when the thread's current function changes.
"""

from __future__ import annotations

LOG_HEADER = "# memspy-usdt-log 1"
LOG_END = "# end"
# bpftrace truncates strings to BPFTRACE_STRLEN bytes (64 by default); two strings of 200
# overflow the 512-byte BPF stack in printf (bpftrace 0.17), 128 fits.
STRLEN = 128

_FIELDS = r"\t%llu\t%d\t%d\t%s\t%s\t%d\n"
_ARGS = "nsecs, pid, tid, str(arg0), str(arg1), arg2"


def _probe(binary: str, name: str) -> str:
    return f"usdt:{binary}:python:{name}"


def build_program(binary: str, with_line: bool, command: bool = False) -> str:
    """The program for the interpreter ``binary`` (a python executable or libpython);
    with ``command``, for a command bpftrace starts (``-c``), whose exit status it logs:
    bpftrace itself exits 0 whatever the command did."""
    reset = "@fn[tid] = 0; @file[tid] = 0;" if with_line else ""
    parts = [
        f"// memspy trace program; run with BPFTRACE_STRLEN={STRLEN} and save stdout",
        f'BEGIN {{ printf("{LOG_HEADER}\\n"); }}',
        f'{_probe(binary, "function__entry")} {{ {reset} printf("E{_FIELDS}", {_ARGS}); }}',
        f'{_probe(binary, "function__return")} {{ {reset} printf("R{_FIELDS}", {_ARGS}); }}',
    ]
    if with_line:
        parts.append(
            f"{_probe(binary, 'line')} /@fn[tid] != (int64)arg1 || @file[tid] != (int64)arg0/ "
            f'{{ @fn[tid] = arg1; @file[tid] = arg0; printf("L{_FIELDS}", {_ARGS}); }}'
        )
    if command:
        parts.append(
            "tracepoint:syscalls:sys_enter_exit_group /pid == cpid/ "
            '{ printf("X\\t%d\\n", args->error_code); }'
        )
    end = "clear(@fn); clear(@file); " if with_line else ""
    parts.append(f'END {{ {end}printf("{LOG_END}\\n"); }}')
    return "\n".join(parts) + "\n"


def needs_line_probe(version: tuple) -> bool:
    """Whether the interpreter only fires ``function__entry`` while ``line`` is traced.

    Verified on Debian's 3.11.2: with entry and return probes alone, one second of a busy
    process gives 0 entries and ~900 returns (5 entries when started under the tracer);
    with ``line`` attached as well, entries and returns match.
    """
    return tuple(version[:2]) == (3, 11)
