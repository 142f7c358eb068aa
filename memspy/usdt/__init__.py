"""The USDT path: CPython's static probes, traced by bpftrace, fed to the same collectors."""
