"""How a run's process ends on a signal (the server stopping, Ctrl-C, a stuck run ended by force): cut short
between two steps, never halfway through writing its records."""

from __future__ import annotations

import signal
from contextlib import contextmanager


class CutShort(Exception):
    """A signal ended the run: it is recorded as interrupted, not as a crash."""


class Shutdown:
    """SIGTERM or SIGINT (the server stopping, Ctrl-C) cuts the run short, but never in the middle of writing its
    records: a signal that arrives while they are written waits until the write is done (raising inside
    `RunWriter.flush` lost the batch and printed a traceback). Once one signal has cut the run short, the others are
    ignored: its last records are being written and the process is ending anyway (a second one raised in the
    handling of the first ended the process with a traceback, its run recorded as an error)."""

    def __init__(self):
        self.writing = False
        self.closing = False
        self.pending: str | None = None

    def __call__(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.writing or self.closing:
            self.pending = self.pending or name
            return
        self.closing = True  # a second signal must not cut short the run's ending (a storm of them: CI saw one)
        raise CutShort(name)

    @contextmanager
    def whole_write(self):
        """Let the records' write inside finish, then end the run if a signal came meanwhile."""
        self.writing = True
        try:
            yield
        finally:
            self.writing = False
        if self.pending and not self.closing:
            self.closing = True
            raise CutShort(self.pending)


SHUTDOWN = Shutdown()
