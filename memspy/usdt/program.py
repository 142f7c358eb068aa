"""The bpftrace program whose output ``memspy trace`` reads: one line per probe firing.

The log is plain text so it can be captured on one machine and converted on another:

    # memspy-usdt-log 1
    # provider pyusdt                 (absent: CPython's own probes, provider python)
    E<TAB>nsecs<TAB>pid<TAB>tid<TAB>filename<TAB>function<TAB>line     (an enter probe)
    R<TAB>... same fields ...                                          (a leave probe)
    L<TAB>... same fields ...                                          (line, optional)
    X<TAB>status                      (the exit status of a command bpftrace started)
    # end
    # attached NSECS                  (added by memspy: when every probe was in place)
    # stopped NSECS                   (added by memspy: when it told bpftrace to stop)

``nsecs`` is bpftrace's monotonic clock. The program puts each provider's arguments in
the log's order, so the parser does not depend on which provider fired (the provider line
tells it only how to repair). The ``line`` probe serves two purposes on
CPython 3.11 (CPython issue 98894): while its semaphore is set the interpreter runs its
instrumented dispatch, the only path on which 3.11 fires ``function__entry`` at all; and
its events let the parser rebuild an entry the tracer still missed. To keep the log small
it prints a line event only when the thread's current function changes.

bpftrace attaches its probes one at a time too, and detaches them so as it stops, so the
events before every probe of a running process was in place, and after bpftrace was told
to stop, are of some probes only (returns without entries, or entries without returns):
memspy writes both moments at the end of the log, and the parser leaves those events out.
"""

from __future__ import annotations

from memspy.usdt.providers import PYTHON, Provider

LOG_HEADER = "# memspy-usdt-log 1"
PROVIDER_LINE = "# provider "
STOPPED_LINE = "# stopped "
ATTACHED_LINE = "# attached "
LOG_END = "# end"
# bpftrace truncates strings to BPFTRACE_STRLEN bytes (64 by default); two strings of 200
# overflow the 512-byte BPF stack in printf (bpftrace 0.17), 128 fits.
STRLEN = 128

_FIELDS = r"\t%llu\t%d\t%d\t%s\t%s\t%d\n"


def _args(provider: Provider) -> str:
    return (
        f"nsecs, pid, tid, str(arg{provider.filename_arg}), "
        f"str(arg{provider.function_arg}), arg{provider.line_arg}"
    )


def _probes(binary: str, provider: Provider, names: tuple[str, ...]) -> str:
    return ", ".join(f"usdt:{binary}:{provider.name}:{name}" for name in names)


def build_program(
    binary: str, provider: Provider = PYTHON, with_line: bool = False, command: bool = False
) -> str:
    """The program for ``provider``'s probes in ``binary`` (a python executable, libpython
    or pyusdt's extension); with ``command``, for a command bpftrace starts (``-c``),
    whose exit status it logs: bpftrace itself exits 0 whatever the command did."""
    with_line = with_line and bool(provider.line_probe)
    reset = "@fn[tid] = 0; @file[tid] = 0;" if with_line else ""

    def action(tag: str) -> str:
        return f'{{ {reset} printf("{tag}{_FIELDS}", {_args(provider)}); }}'

    header = LOG_HEADER + ("" if provider is PYTHON else f"\\n{PROVIDER_LINE}{provider.name}")
    parts = [
        f"// memspy trace program; run with BPFTRACE_STRLEN={STRLEN} and save stdout",
        f'BEGIN {{ printf("{header}\\n"); }}',
        f"{_probes(binary, provider, provider.enter)} {action('E')}",
        f"{_probes(binary, provider, provider.leave)} {action('R')}",
    ]
    if with_line:
        fn, file = f"arg{provider.function_arg}", f"arg{provider.filename_arg}"
        parts.append(
            f"{_probes(binary, provider, (provider.line_probe,))} "
            f"/@fn[tid] != (int64){fn} || @file[tid] != (int64){file}/ "
            f'{{ @fn[tid] = {fn}; @file[tid] = {file}; printf("L{_FIELDS}", {_args(provider)}); }}'
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
