"""Predict first, for real: a lesson's questions, and the button that starts the experiment they are about.

Under Voilà (and Jupyter's Run All) every cell runs before the kernel handles a click, so a question drawn
above an experiment cell would be answered after the runs had told the answer. So the experiment's cells are
held back: a cell that starts with `%%after_prediction NAME` draws an empty output where it stands and runs
only once the reader commits the answers of the gate NAME (or chooses to run without predicting). Held cells
run in the order they were written, each in its own output; a held cell that fails stops the ones after it.

Headless (the tests, `jupyter nbconvert --execute`): EXPLORER_ANSWERS=skip commits every gate as it is drawn,
with no answer, so each held cell runs where it stands and every check in it still runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext

import ipywidgets as W
from IPython import get_ipython
from IPython.display import display

from explorer.faces.notebook.lessons import Prediction

ANSWERS_ENV = "EXPLORER_ANSWERS"  # "skip": every gate commits as it is drawn (headless runs)
MAGIC = "after_prediction"


class PredictFirst(W.VBox):
    """The questions, a Commit button and a Skip button; the held cells of this gate run once either is
    pressed. `after`: an earlier gate whose cells must have run first (they made what these cells read)."""

    def __init__(self, predictions: tuple[Prediction, ...], after: PredictFirst | None = None):
        self.predictions, self.after = predictions, after
        self.state = "open"  # then "waiting" (for `after`), "running", "done" or "failed"
        self._held: list[tuple[str, W.Output | None]] = []
        self._next = 0
        self._when_done: list[Callable[[], None]] = []
        self.commit = W.Button(description="Commit my answers and run", button_style="primary")
        self.skip = W.Button(description="Run without predicting")
        self.commit.layout.width = self.skip.layout.width = "max-content"
        self.line = W.HTML("Your answers are fixed once you commit; then the experiment runs and is checked.")
        self.commit.on_click(lambda _: self._commit(skip=False))
        self.skip.on_click(lambda _: self._commit(skip=True))
        super().__init__([*predictions, W.HBox([self.commit, self.skip]), self.line])
        if os.environ.get(ANSWERS_ENV) == "skip":
            self._commit(skip=True)

    @property
    def committed(self) -> bool:
        return self.state != "open"

    def hold(self, body: str) -> None:
        """A held cell: run at once if this gate has already run its cells (a headless run, or the reader
        running a cell again); otherwise an empty output here, filled when the gate runs."""
        if self.state == "done" and self._next == len(self._held):
            self._held.append((body, None))
            self._run_held()
            return
        output = W.Output()
        display(output)
        self._held.append((body, output))

    def _commit(self, skip: bool) -> None:
        if self.committed:
            return
        if not skip and any(p.choice.value is None for p in self.predictions):
            self.line.value = "Pick an answer to every question first, or run without predicting."
            return
        for prediction in self.predictions:
            prediction.fix()
        self.commit.disabled = self.skip.disabled = True
        self.state = "waiting"
        self._start()

    def _start(self) -> None:
        if self.after is not None and self.after.state != "done":
            self.line.value = "Waiting for the experiment above: commit its answers first."
            self.after._when_done.append(self._start)
            return
        self.state = "running"
        self.line.value = "Running the experiment below…"
        self._run_held()
        if self.state == "running":
            self.state = "done"
            self.line.value = "Done: the verdicts are above, the runs below."
            for then in self._when_done:
                then()

    def _run_held(self) -> None:
        shell = get_ipython()
        while self._next < len(self._held):
            body, output = self._held[self._next]
            self._next += 1
            with output or nullcontext():  # no output: the cell runs where it stands, in its own cell
                result = shell.run_cell(body, store_history=False)
            if not result.success:
                self.state = "failed"
                self.line.value = "A cell of the experiment failed: its error is shown where it stands."
                return


def predict_first(*predictions: Prediction, after: PredictFirst | None = None) -> PredictFirst:
    """The gate of a lesson's experiment: display it, then start each cell the experiment needs with
    `%%after_prediction NAME` (NAME: the variable this is assigned to)."""
    shell = get_ipython()
    if shell is not None and MAGIC not in shell.magics_manager.magics["cell"]:
        shell.register_magic_function(_after_prediction, "cell", MAGIC)
    return PredictFirst(predictions, after)


def _after_prediction(line: str, cell: str) -> None:
    name = line.strip()
    gate = get_ipython().user_ns.get(name)
    if not isinstance(gate, PredictFirst):
        raise NameError(f"%%{MAGIC} {name}: no gate named {name!r} (make one with predict_first(...) first)")
    gate.hold(cell)
