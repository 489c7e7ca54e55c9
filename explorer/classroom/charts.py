"""The teacher page's charts: a `class_board.Board` in, an Altair chart out (pure functions, as in
`explorer.views.kit`, with its type sizes and Okabe–Ito colours, so a projector shows them from the back row).

Students' names reach a chart only as data (axis labels, tooltips), which Vega draws as text: a name like
`<script>` is shown, never run.
"""

from __future__ import annotations

import altair as alt

from explorer.classroom.board import Board
from explorer.views.kit import (
    BLUE,
    DARK_GREY,
    HEIGHT,
    PALETTE,
    VERMILLION,
    WIDTH,
    chart_title,
    fonts,
    placeholder_chart,
    step_axis,
    vega_config,
)


def class_curves_chart(board: Board, width: int = WIDTH, height: int = HEIGHT, projector: bool = False) -> alt.Chart:
    """Every student's validation loss on one plot: the spread of the class at a glance, the teacher's
    own run drawn over them in vermillion."""
    title = "Validation loss of every student's run"
    if not board.curves:
        return placeholder_chart(
            title, "No evaluations yet — the curves appear as students train", width, height, projector
        )
    f = fonts(projector)
    return alt.Chart(
        {"values": board.curves},
        mark={"type": "line", "interpolate": "monotone"},
        encoding=alt.FacetedEncoding(
            x=step_axis(),
            y=alt.Y("val_loss:Q", title="validation loss (nats/token)", scale={"zero": False}),
            detail=alt.Detail("run:N"),  # one line per run: two students may share a name after a restart
            color=alt.Color(
                "teacher:N",
                scale={"domain": [False, True], "range": [BLUE, VERMILLION]},
                legend={"title": None, "labelExpr": "datum.label == 'true' ? 'teacher' : 'students'"},
            ),
            strokeWidth=alt.StrokeWidth("teacher:N", scale={"domain": [False, True], "range": [1.6, 4]}, legend=None),
            opacity=alt.Opacity("teacher:N", scale={"domain": [False, True], "range": [0.55, 1]}, legend=None),
            tooltip=[alt.Tooltip("student:N"), alt.Tooltip("step:Q"), alt.Tooltip("val_loss:Q", format=".3f")],
        ),
        title=chart_title(title, f"{len(board.rows)} runs; each student's latest.", width=width, projector=projector),
        width=width,
        height=height,
        config=vega_config(projector)
        | {"legend": vega_config(projector)["legend"] | {"symbolStrokeWidth": f["legend"] / 4}},
    )


def knob_timeline_chart(board: Board, width: int = WIDTH, height: int = HEIGHT, projector: bool = False) -> alt.Chart:
    """When each student moved which knob: one row per student, one mark per move, coloured by knob;
    the sentences above it count them."""
    title = "Knob moves across the class"
    if not board.moves:
        return placeholder_chart(title, "No knob moves yet", width, height, projector)
    knobs = sorted({m["knob"] for m in board.moves})
    return alt.Chart(
        {"values": board.moves},
        mark={"type": "point", "filled": True, "size": 160 if projector else 90, "opacity": 0.9},
        encoding=alt.FacetedEncoding(
            x=step_axis(),
            y=alt.Y("student:N", title=None, sort=None, axis={"labelLimit": 220}),
            color=alt.Color("knob:N", scale={"domain": knobs, "range": PALETTE[: len(knobs)]}, legend={"title": None}),
            shape=alt.Shape("knob:N", legend=None),
            tooltip=[alt.Tooltip("student:N"), alt.Tooltip("what:N"), alt.Tooltip("step:Q")],
        ),
        title=chart_title(title, *board.sentences[:3], width=width, projector=projector),
        width=width,
        height=height,
        config=vega_config(projector),
    )


def outcome_chart(
    board: Board, knob: str, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.LayerChart | alt.Chart:
    """The class's result for the lesson's comparison: each student's best validation perplexity as a dot,
    grouped by the lesson's knob as it stood at their latest step, with each group's mean and 95 % interval
    (how sure the class can be, from as many students as are in the group)."""
    title = f"The class's best validation perplexity by {knob}"
    if not board.outcomes:
        return placeholder_chart(title, "No evaluations yet", width, height, projector)
    y = alt.Y("group:N", title=None, sort=None)
    return alt.LayerChart(
        layer=[
            alt.Chart(
                {"values": board.outcomes},
                mark={"type": "tick", "thickness": 3, "size": 28 if projector else 20, "color": BLUE, "opacity": 0.7},
                encoding=alt.FacetedEncoding(
                    x=alt.X("ppl:Q", title="best validation perplexity (lower is better)", scale={"zero": False}),
                    y=y,
                    tooltip=[alt.Tooltip("student:N"), alt.Tooltip("ppl:Q", format=".2f")],
                ),
            ),
            alt.Chart(
                {"values": [g for g in board.groups if g["n"] >= 2]},
                mark={"type": "rule", "strokeWidth": 4, "color": DARK_GREY},
                encoding=alt.FacetedEncoding(x=alt.X("lo:Q"), x2=alt.X2("hi:Q"), y=y),
            ),
            alt.Chart(
                {"values": board.groups},
                mark={"type": "point", "filled": True, "size": 220, "color": VERMILLION, "shape": "diamond"},
                encoding=alt.FacetedEncoding(
                    x=alt.X("mean:Q"),
                    y=y,
                    tooltip=[alt.Tooltip("group:N"), alt.Tooltip("mean:Q", format=".2f"), alt.Tooltip("n:Q")],
                ),
            ),
        ],
        title=chart_title(
            title,
            "Ticks: one per student. Diamond: the group's mean; grey bar: its 95 % interval (two students or more).",
            width=width,
            projector=projector,
        ),
        width=width,
        height=max(120, min(height, 90 * len(board.groups))),
        config=vega_config(projector),
    )
