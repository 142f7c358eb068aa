"""Unit tests, in folders named for the package they test. This file puts ``tests/unit``
on ``sys.path`` for their shared helpers (``fakeprocess``)."""
