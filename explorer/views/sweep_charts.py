"""A sweep's charts, over seeds (a `SweepSummary` in, an Altair chart out): each arm's band, the paired
difference of two arms, and the landscape over two knobs.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np

from explorer.runs.sweep_summary import METRICS, SweepSummary
from explorer.spec.wording import format_value, perplexity, plural
from explorer.views.kit import (
    BLUE,
    HEIGHT,
    INK,
    LOSS_TITLE,
    MAX_POINTS,
    SKY,
    VERMILLION,
    WIDTH,
    arm_colours,
    band_room,
    bucket_starts,
    chart_title,
    data_rows,
    fonts,
    inside_legend,
    placeholder_chart,
    scale_y,
    series_colour,
    step_axis,
    unit_chart,
    vega_config,
)


def variance_band_chart(
    summary: SweepSummary,
    width: int = WIDTH,
    height: int = HEIGHT,
    projector: bool = False,
    show_train: bool = False,
    x: str = "step",
    title: str = "Validation loss over seeds: mean and 95 % interval",
) -> alt.TopLevelMixin:
    """Each arm's mean validation curve over its seeds with the 95 % interval of that mean as a band
    (training loss in eval mode dashed, optional). Bands that overlap do not settle a comparison of arms
    run on the same seeds: the paired view compares them seed by seed. x="epoch": against passes over the
    training text, for arms that read different amounts of it (the same step is more epochs on less text)."""
    arms = [arm for arm in summary.arms if arm.runs]
    if not arms:
        return placeholder_chart(
            title, "No finished trial yet — the bands fill in as seeds finish", width, height, projector
        )
    labels = [f"{arm.label} ({plural(len(arm.runs), 'seed')})" for arm in arms]
    columns: dict[str, list] = {"step": [], "mean": [], "lo": [], "hi": [], "series": [], "curve": []}
    for arm, label in zip(arms, labels):
        for key, curve in (("val_loss", "validation"), ("train_eval_loss", "training")):
            if curve == "training" and not show_train:
                continue
            b = arm.band(key)
            keep = bucket_starts(b.step, MAX_POINTS // max(1, len(arms)))
            columns["step"].append(b.step[keep] * _epochs_per_step(arm) if x == "epoch" else b.step[keep])
            columns["mean"].append(b.mean[keep])
            columns["lo"].append(b.lo[keep])
            columns["hi"].append(b.hi[keep])
            columns["series"] += [label] * len(keep)
            columns["curve"] += [curve] * len(keep)
    means = np.concatenate(columns["mean"])
    bounds = np.concatenate([np.concatenate(columns["lo"]), np.concatenate(columns["hi"]), means])
    legend, band_bottom = inside_legend(labels, fonts(projector), width, 4)
    rows = data_rows(
        step=np.concatenate(columns["step"]),
        mean=means,
        lo=np.concatenate(columns["lo"]),
        hi=np.concatenate(columns["hi"]),
        series=columns["series"],
        curve=columns["curve"],
    )
    colour = series_colour(labels, arm_colours(len(labels)), legend)
    y_scale = scale_y(bounds, room=band_room(band_bottom, height))
    return alt.LayerChart(
        {"values": rows},
        layer=[
            unit_chart(
                {"type": "area", "opacity": 0.22},
                y=alt.Y("lo:Q", title="validation " + LOSS_TITLE, scale=y_scale),
                y2=alt.Y2("hi:Q"),
                color=series_colour(labels, arm_colours(len(labels)), None),  # the lines' legend, in full colour
                detail=alt.Detail("curve:N"),
            ),
            unit_chart(
                {"type": "line", "strokeWidth": 2.6},
                y=alt.Y("mean:Q", scale=y_scale),
                color=colour,
                strokeDash=alt.StrokeDash(
                    "curve:N",
                    legend=None,
                    scale={"domain": ["validation", "training"], "range": [[1, 0], [6, 4]]},
                ),
            ),
        ],
        title=chart_title(
            title,
            "The line: the mean over the arm's seeds. The band: the 95 % interval of that mean at each step on its "
            "own (pointwise: at a given step it holds the true mean 95 times in 100; the whole curve at once, less "
            "often)." + (" Dashed: training loss (eval mode)." if show_train else ""),
            width=width,
            projector=projector,
        ),
        width=width,
        height=height,
        encoding={"x": step_axis() if x == "step" else alt.X("step:Q", title="epochs (passes over the training text)")},
        resolve={"legend": {"color": "independent"}},
        config=vega_config(projector),
    )


def _epochs_per_step(arm) -> float:
    first = next(iter(arm.curves.values()))[0]
    return first["epoch"] / first["step"]


def paired_difference_chart(
    summary: SweepSummary,
    width: int = WIDTH,
    height: int = HEIGHT,
    projector: bool = False,
    metric: str = "best_val_loss",
) -> alt.TopLevelMixin:
    """Every arm against the first, seed by seed: one dot per seed (its difference), the 95 % interval as a
    bar, the mean as a tick, zero marked. A bar that crosses zero: not distinguishable from seed noise."""
    name = METRICS[metric]
    title = f"Paired differences: {name}"
    comparisons = [(a, b, p) for a, b, p in summary.comparisons(metric) if p.seeds]
    if not comparisons:
        return placeholder_chart(
            title, "Needs two arms with a seed finished in both", width=width, height=height, projector=projector
        )
    base = comparisons[0][0].label
    labels = [b.label for _, b, _ in comparisons]
    dots = [
        {"arm": b.label, "difference": d, "seed": f"seed {s}"}
        for _, b, p in comparisons
        for s, d in zip(p.seeds, p.differences)
    ]
    bars = data_rows(
        arm=labels,
        lo=np.array([p.interval.lo for _, _, p in comparisons]),
        hi=np.array([p.interval.hi for _, _, p in comparisons]),
        mean=np.array([p.interval.mean for _, _, p in comparisons]),
    )
    f = fonts(projector)
    values = [d["difference"] for d in dots] + [v for r in bars for v in (r["lo"], r["hi"]) if v is not None] + [0.0]
    span = (max(values) - min(values)) or 1.0
    x_scale = {"domain": [min(values) - 0.08 * span, max(values) + 0.08 * span], "nice": False, "zero": False}
    x_title = f"difference in {name} (nats); left of 0 = lower"
    x = alt.X("difference:Q", title=x_title, scale=x_scale)
    y = alt.Y("arm:N", title=None, sort=labels, axis={"labelLimit": max(120, width // 3)})
    sentences = [f"Each arm minus {base}, seed by seed."] + [
        f"{b.label}: {p.sentence(name)}" for _, b, p in comparisons[:3]
    ]
    return alt.LayerChart(
        layer=[
            unit_chart(
                {"type": "rule", "strokeWidth": max(6, f["tick"] // 2), "color": SKY, "opacity": 0.8},
                bars,
                x=alt.X("lo:Q", scale=x_scale, title=x_title),
                x2=alt.X2("hi:Q"),
                y=y,
            ),
            unit_chart(
                {"type": "tick", "color": BLUE, "thickness": 3, "size": f["tick"] * 2},
                bars,
                x=alt.X("mean:Q", scale=x_scale),
                y=y,
            ),
            unit_chart(
                {"type": "circle", "size": f["tick"] * 8, "color": VERMILLION, "opacity": 0.9},
                dots,
                x=x,
                y=y,
                tooltip=[alt.Tooltip("seed:N"), alt.Tooltip("difference:Q", format=".3f")],
            ),
            unit_chart(
                {"type": "rule", "color": INK, "strokeDash": [4, 3], "strokeWidth": 1.5},
                [{"zero": 0.0}],
                x=alt.X("zero:Q", scale=x_scale),
            ),
        ],
        title=chart_title(title, *sentences, width=width, projector=projector),
        width=width,
        height=min(height, max(90, 70 * len(labels))),
        config=vega_config(projector),
    )


LANDSCAPE_METRICS = {
    "best_val_ppl": "best validation perplexity (of the mean loss over seeds)",
    "final_gap": "mean final gap (nats)",
}


def _landscape_cells(arms: list, x_knob: str, y_knob: str | None, metric: str) -> tuple[list[dict], dict | None]:
    """One cell per arm: its mean over seeds, its label, whether it is the best, whether its colour is dark."""
    cells = []
    for arm in arms:
        best = arm.interval("best_val_loss")
        value = perplexity(best.mean) if metric == "best_val_ppl" else arm.interval("final_gap").mean
        cells.append(
            {
                "x": format_value(arm.knobs.get(x_knob)),
                "y": format_value(arm.knobs.get(y_knob)) if y_knob else "",
                "value": value if math.isfinite(value) else None,
                "label": "–" if not math.isfinite(value) else f"{value:.2f}",
                "seeds": plural(len(arm.runs), "seed"),
            }
        )
    finite = [c for c in cells if c["value"] is not None]
    best = min(finite, key=lambda c: c["value"]) if finite else None
    middle = (min(c["value"] for c in finite) + max(c["value"] for c in finite)) / 2 if finite else 0.0
    for c in cells:
        c["best"] = c is best
        c["dark"] = c["value"] is not None and c["value"] > middle  # the reversed viridis is dark at the top
    return cells, best


def landscape_chart(
    summary: SweepSummary,
    width: int = WIDTH,
    height: int = HEIGHT,
    projector: bool = False,
    metric: str = "best_val_ppl",
) -> alt.TopLevelMixin:
    """Two knobs of the grid against each other, each cell the mean over seeds (perplexity: e to the mean
    best loss, lower is better), the best cell outlined; one knob gives one row. Colour: viridis, readable
    without hue."""
    title = f"Landscape: {LANDSCAPE_METRICS[metric]}"
    knobs = summary.knobs
    arms = [arm for arm in summary.arms if arm.runs]
    if not arms or not knobs:
        return placeholder_chart(
            title, "No finished trial yet — cells fill in as trials finish", width, height, projector
        )
    x_knob, y_knob = knobs[0], (knobs[1] if len(knobs) > 1 else None)
    cells, best = _landscape_cells(arms, x_knob, y_knob, metric)
    plot_height = min(height, max(80, 70 * len({c["y"] for c in cells})))
    order = lambda knob: [format_value(v) for v in sorted({a.knobs.get(knob) for a in summary.arms}, key=_sort_key)]  # noqa: E731
    f = fonts(projector)
    x = alt.X("x:O", title=x_knob, sort=order(x_knob), axis={"labelAngle": 0})
    y = alt.Y("y:O", title=y_knob or None, sort=list(reversed(order(y_knob))) if y_knob else None)
    lower = "lower is better" if metric == "best_val_ppl" else "smaller gap: less overfitting"
    return alt.LayerChart(
        {"values": cells},
        layer=[
            unit_chart(
                {"type": "rect", "stroke": "white", "strokeWidth": 2},
                x=x,
                y=y,
                color=alt.Color(
                    "value:Q",
                    title=None,
                    scale={"scheme": "viridis", "reverse": True},
                    legend={"orient": "right", "gradientLength": max(60, plot_height - 10)},
                ),
                tooltip=[
                    alt.Tooltip("x:N", title=x_knob),
                    alt.Tooltip("label:N", title="mean"),
                    alt.Tooltip("seeds:N"),
                ],
            ),
            unit_chart(
                {"type": "rect", "fill": None, "stroke": VERMILLION, "strokeWidth": 5},
                transform=[{"filter": "datum.best"}],
                x=x,
                y=y,
            ),
            unit_chart(
                {"type": "text", "fontSize": f["annotation"], "fontWeight": "bold"},
                x=x,
                y=y,
                text=alt.Text("label:N"),
                color=alt.Color("dark:N", legend=None, scale={"domain": [False, True], "range": [INK, "white"]}),
            ),
        ],
        title=chart_title(
            title,
            f"Each cell: the mean over its seeds ({lower}); outlined: the best cell."
            + (f" Best: {x_knob}={best['x']}{f', {y_knob}=' + best['y'] if y_knob else ''}." if best else ""),
            width=width,
            projector=projector,
        ),
        width=width,
        height=plot_height,
        resolve={"scale": {"color": "independent"}},
        config=vega_config(projector),
    )


def _sort_key(value) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))
