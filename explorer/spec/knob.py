"""One knob described once: its type, default, range or choices, help, group and the widget a page draws.

`Config` (explorer.spec.knobs) declares each field with its Knob, so validation, the CLI, links, sweeps, both
faces' widgets and the docs' knob reference all read the same entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from explorer.spec.errors import ConfigError

# Log-spaced choices (0 = off) for the penalties, as a slider a class can read.
PENALTY_CHOICES = (0.0, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
# Proximal L1's threshold is lr·λ, not rescaled by Adam: it needs λ far above the subgradient's to bite.
L1_CHOICES = (*PENALTY_CHOICES, 0.03, 0.1, 0.2, 0.5)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 2.0, 3.0)
# AWD-LSTM trains its word models with α = 2, β = 1; small models feel them from a tenth of that.
ACTIVATION_CHOICES = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
CLIP_CHOICES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Widget:
    """The widget a page draws for a knob. kind: 'slider' (lo..hi by step), 'choice_slider' (one of `options`,
    in order), 'select' (a drop-down of the knob's choices), 'toggle' (on/off), 'number' (an integer box)."""

    label: str
    kind: str
    lo: float = 0.0
    hi: float = 1.0
    step: float = 0.05
    options: tuple = ()


@dataclass(frozen=True)
class Knob:
    """What one field of `Config` may hold and how it is shown. `choices` for enums, `lo`/`hi` for numbers
    (hi_open: hi excluded).
    `aliases`: old value -> its new name, so links, flags, sweeps and stored runs made before a
    rename still load (and come back under the new name)."""

    name: str
    kind: type
    live: bool
    help: str
    default: Any = None
    group: str = ""  # what it belongs to: 'dropout', 'norm', 'penalty', 'activation', ... (the trainer and docs ask)
    advanced: bool = False  # a front end may tuck it into an "advanced" section
    widget: Widget | None = None  # None: no widget (the CLI, links and sweeps still set it)
    lo: float | None = None
    hi: float | None = None
    hi_open: bool = False
    lo_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict, hash=False)

    def parse(self, value: Any) -> Any:
        """Turn a string from the CLI / URL (or a Python value) into this knob's type, checked."""
        if self.kind is bool:
            value = _parse_bool(self.name, value)
        elif self.kind in (int, float):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{self.name} must be a number, got {value!r}") from None
            if self.kind is int:
                if not number.is_integer():
                    raise ConfigError(f"{self.name} must be a whole number, got {value!r}")
                value = int(number)
            else:
                value = number
        else:
            value = str(value)
            value = self.aliases.get(value, value)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{self.name} must be a finite number, got {value!r}")
            too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
            too_high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
            if too_low or too_high:
                raise ConfigError(f"{self.name} must be in {self.range_text()}, got {value}")

    def range_text(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        hi = "∞" if self.hi is None else f"{self.hi:g}"
        return f"{left}{self.lo:g}, {hi}{right}"


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be on|off|true|false, got {value!r}")


def live_knob(default: Any, help: str, **spec: Any) -> Any:
    """A live `Config` field: the trainer applies a change at the start of its next step."""
    return field(default=default, metadata={"knob": {"live": True, "help": help, **spec}})


def setup_knob(default: Any, help: str, **spec: Any) -> Any:
    """A fixed `Config` field: a change means a new run."""
    return field(default=default, metadata={"knob": {"live": False, "help": help, **spec}})
