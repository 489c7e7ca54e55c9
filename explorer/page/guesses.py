"""Predict, then observe: before a knob change takes effect, the student says what the validation loss
will do; a few evaluations later the run says what it did.

Why a fixed horizon of evaluations and a tolerance: "went down" must mean the same for every student and
every change, and an evaluation's noise (a few thousandths of a nat on the lessons' settings) must not
turn "stays" into "up". The verdict compares the last validation loss before the change with the one
`PREDICT_EVALS` evaluations after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

QUESTION = "After your change, what will the validation loss do?"  # a lesson's own question replaces it
GUESSES = {"down": "go down", "stay": "stay about the same", "up": "go up"}
PREDICT_EVALS = 3  # evaluations after the change that decide what happened
TOLERANCE = 0.01  # a relative change of validation loss below 1 % "stays"


def verdict(before: float, after: float, tolerance: float = TOLERANCE) -> str:
    """What validation loss did, from `before` to `after`: "up", "down" or "stay"."""
    if after > before * (1 + tolerance):
        return "up"
    if after < before * (1 - tolerance):
        return "down"
    return "stay"


@dataclass(frozen=True)
class Prediction:
    """One student's guess about one knob move, and (once `PREDICT_EVALS` evaluations have passed) what
    happened."""

    move: str  # 'dropout 0 → 0.5'
    guess: str  # a key of GUESSES
    run_id: str | None  # the run it is about: a Reset before the outcome leaves it unanswered
    step: int  # the run's step when the change was made
    before: float  # the last validation loss before the change
    after: float | None = None
    outcome: str | None = None  # a key of GUESSES, once known

    @property
    def right(self) -> bool:
        return self.outcome == self.guess

    def observed(self, run_id: str | None, evals: list[dict]) -> Prediction | None:
        """This prediction with its outcome, once its run has evaluated `PREDICT_EVALS` times after the
        change (None until then)."""
        later = [e for e in evals if e["step"] > self.step]
        if self.outcome is not None or run_id != self.run_id or len(later) < PREDICT_EVALS:
            return None
        after = later[PREDICT_EVALS - 1]["val_loss"]
        return replace(self, after=after, outcome=verdict(self.before, after))

    def sentence(self) -> str:
        """What the student reads once it is known."""
        did = {"up": "went up", "down": "went down", "stay": "stayed about the same"}[self.outcome]
        mark = "You were right" if self.right else "Not this time"
        return (
            f"{mark}: after {self.move} you predicted validation loss would {GUESSES[self.guess]}; it {did} "
            f"({self.before:.3f} → {self.after:.3f} over {PREDICT_EVALS} evaluations)."
        )
