"""How much of what the model writes is copied from its training text: the memorisation meter's share over
time, and a sample with its copied stretches marked. A Snapshot in, an Altair chart out (the kit's contract)."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np

from explorer.runs.history import Snapshot
from explorer.spec.wording import plural
from explorer.views.kit import (
    EMPTY,
    GREY,
    INK,
    VERMILLION,
    WIDTH,
    arm_colours,
    band_room,
    chart_title,
    fonts,
    inside_legend,
    one_layer_chart,
    placeholder_chart,
    step_axis,
    unit_chart,
    vega_config,
)

SAMPLE_COLUMNS = 64  # characters per line of the sample chart


# --------------------------------------------------------------------------- memorisation
def _tokens(snap: Snapshot, count: int) -> str:
    """'13 characters' / '4 words': a count of the run's tokens."""
    level = (snap.start or {}).get("config", {}).get("level", "char")
    return plural(count, "character" if level == "char" else "word")


def _meter_n(snap: Snapshot) -> str:
    """'12 characters' / '4 words': the n-gram the meter counts, as the run's start record set it."""
    config = (snap.start or {}).get("config", {})
    level = config.get("level", "char")
    n = config.get("meter_n") or (12 if level == "char" else 4)
    return plural(n, "character" if level == "char" else "word")


def memorisation_chart(
    snap: Snapshot, width: int = WIDTH, height: int = 300, projector: bool = False
) -> alt.TopLevelMixin:
    """One run's meter: the share of a sample's n-grams found verbatim in the training text, against the
    same share for as much validation text (what a model that learned the language, not the text, also hits)."""
    return copied_share_chart([snap], width=width, height=height, projector=projector)


def copied_share_chart(
    snaps: Sequence[Snapshot], width: int = WIDTH, height: int = 300, projector: bool = False
) -> alt.TopLevelMixin:
    """The memorisation meter of several runs on one axis (a lesson's comparison; one run: the app's
    view), the share found in as much validation text as the grey baseline."""
    title = "Is the model copying its training text?"
    measured = [(s, [r for r in s.evals if r.get("copied_share") is not None]) for s in snaps]
    measured = [(s, evals) for s, evals in measured if evals]
    if not measured:
        return placeholder_chart(
            title,
            "No sample measured yet (every few evaluations)" if any(s.steps for s in snaps) else EMPTY,
            width=width,
            height=height,
            projector=projector,
        )
    baseline = "as much validation text (baseline)"
    names = ["training text"] if len(snaps) == 1 else [f"{s.name}: training text" for s, _ in measured]
    series = [*names, baseline]
    rows = [
        {"step": r["step"], "share": r["copied_share"], "text": name}
        for name, (_, evals) in zip(names, measured)
        for r in evals
    ]
    base_evals = measured[-1][1]  # the baseline of the last run (every run's is near zero)
    rows += [{"step": r["step"], "share": r["copied_share_valid"], "text": baseline} for r in base_evals]
    f = fonts(projector)
    legend, legend_bottom = inside_legend(series, f, width, 4)
    room = min(0.5, band_room(legend_bottom, height))
    top = max(max(r["share"] for r in rows), 0.05) / (1 - room)
    colours = [VERMILLION] if len(names) == 1 else arm_colours(len(names))
    line = unit_chart(
        {"type": "line", "strokeWidth": 2.5, "point": {"size": 50, "filled": True}},
        x=step_axis(),
        y=alt.Y(
            "share:Q",
            title="share of the sample's n-grams",
            axis={"format": "%", "values": [v / 10 for v in range(11) if v / 10 <= top]},  # never above 100 %
            scale={"domain": [0, top], "nice": False},
        ),
        color=alt.Color(
            "text:N", title=None, sort=series, scale={"domain": series, "range": [*colours, GREY]}, legend=legend
        ),
    )
    snap, evals = measured[-1]
    last = evals[-1]
    notes = [
        f"Every few evaluations the model writes a sample (same prompt, seed and temperature each time). "
        f"A run of {_meter_n(snap)} in it counts as copied when the text has it verbatim.",
        f"Latest{'' if len(snaps) == 1 else f' of {snap.name}'} (step {last['step']:,}): "
        f"{last['copied_share']:.0%} of its n-grams are in the training text, "
        f"{last['copied_share_valid']:.0%} in as much validation text; the longest copied span is "
        f"{_tokens(snap, last['longest_copy'])}. Climbing away from the baseline: memorising.",
    ]
    return one_layer_chart(
        line, rows, chart_title(title, *notes, width=width, projector=projector), width, height, projector
    )


def _sample_rows(text: str, copied: list[list[int]], columns: int) -> list[dict]:
    """One row per character at its (column, line), wrapped at `columns` and at line breaks."""
    flags = np.zeros(len(text), dtype=bool)
    for start, end in copied:
        flags[start:end] = True
    rows, x, line = [], 0, 0
    for ch, copy in zip(text, flags.tolist()):
        if ch == "\n" or x >= columns:
            x, line = 0, line + 1
            if ch == "\n":
                continue
        if ch != " ":
            rows.append({"x": x, "line": line, "ch": ch, "state": "copied from the training text" if copy else "new"})
        x += 1
    return rows


def sample_chart(snap: Snapshot, width: int = WIDTH, height: int = 300, projector: bool = False) -> alt.TopLevelMixin:
    """The latest measured sample, the spans it copied from the training text in vermillion."""
    title = "The latest sample, copied spans highlighted"
    latest = next((r for r in reversed(snap.evals) if r.get("sample") is not None), None)
    if latest is None:
        message = "No sample measured yet (every few evaluations)" if snap.steps else EMPTY
        return placeholder_chart(title, message, width=width, height=height, projector=projector)
    f = fonts(projector)
    size = f["annotation"]
    columns = max(20, min(SAMPLE_COLUMNS, int(width / (0.62 * size))))
    rows = _sample_rows(latest["sample"], latest.get("sample_copied") or [], columns)
    lines = 1 + max((r["line"] for r in rows), default=0)
    states = ["copied from the training text", "new"]
    return alt.Chart(
        {"values": rows},
        mark={"type": "text", "font": "monospace", "fontSize": size, "align": "left", "baseline": "top"},
        encoding=alt.FacetedEncoding(
            x=alt.X("x:Q", axis=None, scale={"domain": [0, columns]}),
            y=alt.Y("line:Q", axis=None, scale={"domain": [lines, 0]}),
            text=alt.Text("ch:N"),
            color=alt.Color(
                "state:N",
                title=None,
                sort=states,
                scale={"domain": states, "range": [VERMILLION, INK]},
                legend=None,  # the subtitle says what vermillion means
            ),
        ),
        title=chart_title(
            title,
            f"Step {latest['step']:,}. Vermillion: inside a run of {_meter_n(snap)} found verbatim in the "
            "training text. An overfitting model recites; a regularised one writes new text in the same style.",
            width=width,
            projector=projector,
        ),
        width=width,
        height=height,
        config={**vega_config(projector), "view": {"stroke": None}},
    )
