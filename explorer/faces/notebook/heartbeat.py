"""Whether anyone still looks at a dashboard: Voilà does not reliably shut a kernel when its tab closes, so the
page itself says it is there, and the run's watchdog stops a run nobody watches."""

from __future__ import annotations

import time

import anywidget
import ipywidgets as W
import traitlets

BEAT_MS = 5000


class Heartbeat(anywidget.AnyWidget):
    """Invisible. While a page shows it, the page sends a beat every few seconds; `alive()` turns False
    once beats stop for `timeout_s` (the tab was closed). Before the first beat it stays True: a front end
    that cannot run it (nbclient, a plain console) must not stop runs. `beats` counts the beats received and
    goes back to the page (as the element's data-beats attribute), so a browser test sees the round trip."""

    _esm = """
    function render({ model, el }) {
      el.classList.add("explorer-heartbeat");
      const show = () => { el.dataset.beats = String(model.get("beats")); };
      model.on("change:beats", show);
      show();
      const beat = () => model.send({ beat: Date.now() });
      beat();
      const timer = setInterval(beat, BEAT_MS);
      return () => { clearInterval(timer); model.off("change:beats", show); };
    }
    export default { render };
    """.replace("BEAT_MS", str(BEAT_MS))
    beats = traitlets.Int(0).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(layout=W.Layout(display="none"), **kwargs)
        self.last_beat: float | None = None
        self.on_msg(self._on_beat)

    def _on_beat(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and "beat" in content:
            self.last_beat = time.monotonic()
            self.beats += 1

    def alive(self, timeout_s: float) -> bool:
        return self.last_beat is None or time.monotonic() - self.last_beat < timeout_s
