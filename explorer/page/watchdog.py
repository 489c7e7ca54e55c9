"""The viewer watchdog: a live run stops a few seconds after its page has gone (a closed tab, a kernel left
running), so an abandoned page does not train on for hours. Each face says how it knows the page is there
(the Streamlit runtime's sessions, the notebook's heartbeat, a class seat's pages)."""

from __future__ import annotations

import time
from collections.abc import Callable


class ViewerWatchdog:
    """A LiveRun watchdog: True while the viewer is there; False once `is_present()` has said no for
    `grace_s` seconds in a row (a brief reconnect must not end a class demo). `on_leave` is called once,
    when it gives up (to log "run stopped (viewer left)")."""

    def __init__(
        self,
        is_present: Callable[[], bool],
        grace_s: float = 3.0,
        on_leave: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.is_present, self.grace_s, self.on_leave, self.clock = is_present, grace_s, on_leave, clock
        self._gone_since: float | None = None

    def __call__(self) -> bool:
        if self.is_present():
            self._gone_since = None
            return True
        now = self.clock()
        if self._gone_since is None:
            self._gone_since = now
        if now - self._gone_since < self.grace_s:
            return True
        if self.on_leave:
            self.on_leave()
        self._gone_since = None  # a later run with the same watchdog starts with a fresh grace period
        return False
