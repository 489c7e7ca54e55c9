"""One run's charts (a `Snapshot` in, an Altair chart out): the generalisation gap, the gradient histogram,
per-layer gradient norms, weight norms, and saved runs compared on one plot.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import altair as alt
import numpy as np

from explorer.runs.history import Snapshot
from explorer.spec.records import GRAD_HIST_EDGES
from explorer.spec.wording import bits_per_char, format_value, perplexity
from explorer.views.kit import (
    BLACK,
    BLUE,
    EM,
    HEIGHT,
    LOSS_TITLE,
    MAX_CELLS,
    MAX_COLUMNS,
    MAX_POINTS,
    MAX_ROWS,
    PALETTE,
    TRAIN_BATCH,
    TRAIN_EVAL,
    VALIDATION,
    VERMILLION,
    WIDTH,
    band_room,
    bucket_starts,
    chart_title,
    column_of,
    data_rows,
    eval_arrays,
    fonts,
    group_arrays,
    group_names,
    inside_legend,
    knob_markers,
    layered_chart,
    marker_layers,
    placeholder_chart,
    safe_log10,
    scale_y,
    series_colour,
    step_arrays,
    step_axis,
    thin,
    unit_chart,
    vega_config,
)


# --------------------------------------------------------------------------- 1. generalisation gap
def loss_cap(snap: Snapshot) -> float:
    """Losses above twice a uniform guess (2 ln V) mean the run blew up; drawing them would flatten every
    other curve, so they are drawn at this cap instead (and the subtitle says so)."""
    vocab = (snap.start or {}).get("vocab_size") or 1000
    return 2 * math.log(max(vocab, 2))


def _best(snap: Snapshot, evals: dict[str, np.ndarray]) -> tuple[int, float] | None:
    """(step, loss) of the best validation loss: the trainer's running best from the latest eval that
    carries it (the thinned history may have dropped that eval itself), else the best eval kept."""
    for record in reversed(snap.evals):
        if "best_step" in record and math.isfinite(record.get("best_val_loss", math.nan)):
            return int(record["best_step"]), float(record["best_val_loss"])
    val = np.where(np.isfinite(evals["val_loss"]), evals["val_loss"], np.inf)
    if not np.isfinite(val).any():
        return None
    i = int(np.argmin(val))
    return int(evals["step"][i]), float(val[i])


def _gap_notes(snap: Snapshot, x: np.ndarray, y: np.ndarray, shown: np.ndarray, ppl: bool) -> list[str]:
    """The gap's size at the last step both curves have, and (for characters) both losses in bits per character."""
    both = np.flatnonzero(np.isfinite(shown).all(axis=1))
    if not len(both):
        return []
    (train_now, val_now), at = shown[both[-1]], int(x[both[-1]])
    notes = [
        f"Shaded: the gap, validation − training = {val_now - train_now:.3f} nats/token at step {at}."
        if not ppl
        else f"Shaded: the gap; validation perplexity is {val_now / train_now:.2f}× training at step {at}."
    ]
    if snap.level == "char":
        train_bpc, val_bpc = (bits_per_char(loss) for loss in y[both[-1]])
        notes.append(f"Bits per character (loss / ln 2): validation {val_bpc:.3f} bpc, training {train_bpc:.3f} bpc.")
    return notes


def _best_marker(snap: Snapshot, evals: dict, cap: float, ppl: bool, f: dict) -> tuple[list[alt.Chart], list[str]]:
    """The best validation step as a black diamond labelled "best", and the note that reads it out."""
    best = _best(snap, evals)
    if best is None or best[1] > cap:
        return [], []
    step, loss = best
    name = "perplexity" if ppl else "loss"
    value = perplexity(loss) if ppl else loss
    note = (
        f"Black diamond: best validation {name}, {value:.1f} at step {step}."
        if ppl
        else (f"Black diamond: best validation {name}, {value:.3f} at step {step}.")
    )
    best_row = data_rows(step=[step], value=[value])
    diamond = {"type": "point", "shape": "diamond", "size": round(10 * f["annotation"]), "filled": True}
    label = {
        "type": "text",
        "text": "best",
        "fontSize": f["annotation"],
        "fontWeight": "bold",
        "baseline": "bottom",
        "dy": -round(0.6 * f["annotation"]),
    }
    layers = [
        unit_chart({**diamond, "color": BLACK, "opacity": 1}, best_row, y=alt.Y("value:Q")),
        unit_chart({**label, "color": BLACK}, best_row, y=alt.Y("value:Q")),
    ]
    return layers, [note]


def gap_chart(
    snap: Snapshot, metric: str = "loss", width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """Training loss (eval mode, on the same fixed subset each time) and validation loss vs step, the gap
    between them shaded, knob changes and the best validation step marked. metric="ppl": perplexity. A
    character-level run's subtitle also reads both out in bits per character."""
    if metric not in ("loss", "ppl"):
        raise ValueError(f"metric must be 'loss' or 'ppl', got {metric!r}")
    ppl = metric == "ppl"
    name = "perplexity" if ppl else "loss"
    title = f"Generalisation gap: training vs validation {name}"
    evals = eval_arrays(snap)
    have_evals = np.isfinite(evals["val_loss"]).sum() >= 2  # a curve needs two points
    if have_evals:
        series = [TRAIN_EVAL, VALIDATION]
        x, y = thin(evals["step"], np.column_stack([evals["train_eval_loss"], evals["val_loss"]]))
    else:
        series = [TRAIN_BATCH]
        steps = step_arrays(snap)
        x, y = thin(steps["step"], steps["train_loss"][:, None])
    if not len(x):
        return placeholder_chart(title, width=width, height=height, projector=projector)

    f = fonts(projector)
    cap = loss_cap(snap)
    capped = bool(np.nanmax(y) > cap)
    y = np.minimum(y, cap)
    shown = np.exp(y) if ppl else y
    lo, hi = float(x[0]), float(x[-1])
    legend, legend_bottom = inside_legend(series, f, width, 4)
    rules, labels, band_bottom = knob_markers(snap, lo, hi, width, height, f, legend_bottom)
    y_title = "perplexity (log scale)" if ppl else LOSS_TITLE
    y_scale = scale_y(shown, log=ppl, room=band_room(band_bottom, height))
    rows = data_rows(step=x, **{s: shown[:, i] for i, s in enumerate(series)})
    notes = []
    layers = []
    if have_evals:
        layers.append(
            unit_chart(
                {"type": "area", "color": VERMILLION, "opacity": 0.15},
                y=alt.Y(field=TRAIN_EVAL, type="quantitative", scale=y_scale, title=y_title),
                y2=alt.Y2(field=VALIDATION),
            )
        )
    layers.append(
        unit_chart(
            {"type": "line", "strokeWidth": 2.5, "point": bool(len(x) < 40)},
            transform=[{"fold": series, "as": ["series", "value"]}],
            y=alt.Y("value:Q", title=y_title, scale=y_scale),
            color=series_colour(series, [BLUE, VERMILLION][: len(series)], legend),
        )
    )

    if have_evals:
        notes += _gap_notes(snap, x, y, shown, ppl)
        best_layers, best_note = _best_marker(snap, evals, cap, ppl, f)
        layers += best_layers
        notes += best_note
    else:
        notes.append("Too few evaluations yet: showing the training-batch loss (train mode) until there are two.")
    if capped:
        notes.append(
            f"Losses above {cap:.1f} nats/token (twice a uniform guess: the model blew up) are drawn at that level."
        )
    layers += marker_layers(rules, labels, f)
    return layered_chart(
        layers, rows, chart_title(title, *notes, width=width, projector=projector), width, height, projector
    )


# --------------------------------------------------------------------------- 2. gradient histogram
def _heatmap(snap: Snapshot) -> dict[str, np.ndarray] | None:
    """Cells (step, step2, lo, hi, share) of the log10|g| histogram over time: bins paired into half
    decades, adjacent detail records merged into one column until ≤ MAX_CELLS non-empty cells."""
    records = [r for r in snap.details if r.get("grad_hist")]
    if not records:
        return None
    counts = np.array([r["grad_hist"] for r in records], dtype=float)
    edges = np.asarray((snap.start or {}).get("grad_hist_edges") or GRAD_HIST_EDGES, dtype=float)
    if counts.shape[1] % 2 == 0 and len(edges) == counts.shape[1] + 1:
        counts, edges = counts[:, 0::2] + counts[:, 1::2], edges[::2]
    steps = column_of(records, "step")
    occupied = max(1, int((counts.sum(axis=0) > 0).sum()))
    starts = bucket_starts(steps, max(8, min(MAX_COLUMNS, MAX_CELLS // occupied)))
    ends = np.append(starts[1:], len(steps))
    merged = np.add.reduceat(counts, starts, axis=0)
    totals = merged.sum(axis=1, keepdims=True)
    share = np.divide(merged, totals, out=np.zeros_like(merged), where=totals > 0)
    right = steps[ends - 1]
    every = np.median(np.diff(steps)) if len(steps) > 1 else 1.0
    left = np.concatenate([[right[0] - every * (ends[0] - starts[0])], right[:-1]])
    col, row = np.nonzero(share > 0)
    return {"step": left[col], "step2": right[col], "lo": edges[row], "hi": edges[row + 1], "share": share[col, row]}


def _clip_segments(steps: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip threshold as flat segments (x, log10 clip, segment id) over the steps where it was on."""
    step, clip = steps["step"], steps["clip"]
    change = np.flatnonzero(np.diff(clip) != 0) + 1
    starts, ends = np.concatenate([[0], change]), np.concatenate([change, [len(step)]]) - 1
    on = [(a, b) for a, b in zip(starts, ends) if len(step) and clip[a] > 0 and np.isfinite(clip[a])]
    x = np.array([step[i] for a, b in on for i in (a, b)], dtype=float)
    value = np.array([math.log10(clip[a]) for a, b in on for _ in (a, b)], dtype=float)
    return x, value, np.repeat(np.arange(len(on)), 2)


def _share_layer(y_title: str, y_scale: dict, height: int, f: dict) -> alt.Chart:
    """The heatmap: each step's share of gradient entries in each half-decade of |g|."""
    return unit_chart(
        {"type": "rect"},
        x2=alt.X2("step2:Q"),
        y=alt.Y("lo:Q", title=y_title, scale=y_scale),
        y2=alt.Y2("hi:Q"),
        color=alt.Color(
            "share:Q",
            title="share of entries",
            scale={"scheme": "blues", "type": "sqrt"},
            legend={"format": "%", "orient": "right", "gradientLength": min(height, 9 * f["legend"])},
        ),
    )


def _clipped_steps_layer(hit_x: np.ndarray, hit_y: np.ndarray, y: alt.Y, legend: dict, f: dict) -> alt.Chart:
    """Red dots on the steps where clipping fired, with a shape legend of their own."""
    return unit_chart(
        {"type": "point", "filled": True, "size": 22, "opacity": 1, "color": VERMILLION},
        data_rows(step=hit_x, value=hit_y, series="clipped step"),
        y=y,
        shape=alt.Shape(
            "series:N",
            title=None,
            scale={"range": ["circle"]},
            legend={**legend, "symbolType": "circle", "symbolSize": round(0.6 * f["legend"]) ** 2},
        ),
    )


def _histogram_notes(snap: Snapshot, clipping: bool) -> list[str]:
    notes = [
        "Colour: share of all gradient entries in each half-decade of |g| "
        "(bottom row: exact zeros too; top row: everything ≥ 100)."
    ]
    if clipping:
        notes.append(
            "clip_mode=norm: when the black line is above the dashed red one, the whole gradient is "
            "scaled down (red dots)."
            if _last(snap, "clip_mode", "norm") == "norm"
            else "clip_mode=value: each entry above the dashed red line is cut to it "
            "(red dots: steps where that happened)."
        )
    return notes


def gradient_histogram_chart(
    snap: Snapshot, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """Where the gradient mass sits (log10 |g| per entry) at each step, with the total norm before
    clipping on the same log axis, the clip threshold, and the steps where clipping fired."""
    title = "Gradient magnitudes over time"
    cells, steps = _heatmap(snap), step_arrays(snap)
    log_norm = safe_log10(steps["grad_norm"])
    x, norm = thin(steps["step"], log_norm, n=150, how="max")
    if cells is None and not len(x):
        return placeholder_chart(title, width=width, height=height, projector=projector)

    f = fonts(projector)
    series, colours = ["total gradient norm before clipping"], [BLACK]
    clip_x, clip_y, clip_id = _clip_segments(steps)
    if len(clip_x):
        series.append("clip threshold")
        colours.append(VERMILLION)
    hit_x, hit_y = thin(steps["step"], np.where(steps["clipped"] > 0, log_norm, np.nan), n=150, how="max")

    all_x = np.concatenate([x, clip_x] + ([cells["step"], cells["step2"]] if cells else []))
    lo, hi = float(all_x.min()), float(all_x.max())
    legend, legend_bottom = inside_legend(series, f, width, 4)
    if len(hit_x):  # a legend of its own, under the lines' one
        hits_legend, legend_bottom = inside_legend(
            ["clipped step"], f, width, legend_bottom + 2, symbolFillColor=VERMILLION, symbolStrokeColor=VERMILLION
        )
    rules, labels, band_bottom = knob_markers(snap, lo, hi, width, height, f, legend_bottom)
    all_y = np.concatenate([norm, clip_y] + ([cells["lo"], cells["hi"]] if cells else []))
    bottom, top = math.floor(float(np.nanmin(all_y))), float(np.nanmax(all_y))
    room = min(0.5, band_room(band_bottom, height))
    top += max(top - bottom, 1.0) * room / (1 - room)  # the band for labels and legends
    y_title = "log10 |gradient|"
    y_scale = {"domain": [bottom, top], "nice": False}
    y = alt.Y("value:Q", title=y_title, scale=y_scale)

    line = data_rows(
        step=np.concatenate([x, clip_x]),
        value=np.concatenate([norm, clip_y]),
        series=[series[0]] * len(x) + ["clip threshold"] * len(clip_x),
        segment=np.concatenate([np.full(len(x), -1), clip_id]),
    )
    layers = [_share_layer(y_title, y_scale, height, f)] if cells else []
    if len(hit_x):  # under the line; a shape legend of its own (a colour legend would repeat per mark type)
        layers.append(_clipped_steps_layer(hit_x, hit_y, y, hits_legend, f))
    layers.append(
        unit_chart(
            {"type": "line", "strokeWidth": 2},
            line,
            y=y,
            detail=alt.Detail("segment:N"),
            color=series_colour(series, colours, legend),
            strokeDash=alt.StrokeDash(
                "series:N", legend=None, scale={"domain": series, "range": [[1, 0], [6, 3]][: len(series)]}
            ),
        )
    )
    layers += marker_layers(rules, labels, f)

    notes = _histogram_notes(snap, clipping=bool(len(clip_x)))
    return layered_chart(
        layers,
        data_rows(**cells) if cells else [],
        chart_title(title, *notes, width=width, projector=projector),
        width,
        height,
        projector,
    )


def _last(snap: Snapshot, knob: str, default):
    return snap.steps[-1].get(knob, default) if snap.steps else default


# --------------------------------------------------------------------------- 3. per-layer gradients
def _group_rows(
    snap: Snapshot, keys: list[str], how: str = "mean", log: bool = False, skip: tuple[str, ...] = ()
) -> tuple[list[dict], list[str]]:
    """Data rows (step, group, *keys) of per-group detail fields, thinned so all groups together stay
    under MAX_ROWS; non-finite values (and non-positive ones, for log axes) become null = not drawn.
    Also returns the groups that have anything to draw, in model order."""
    steps, groups = group_arrays(snap, keys)
    groups = {g: v for g, v in groups.items() if g not in skip}
    n = min(MAX_POINTS, MAX_ROWS // max(1, len(groups)))
    parts = []
    for group, values in groups.items():
        if log:
            values = np.where(values > 0, values, np.nan)
        x, y = thin(steps, values, n=n, how=how)
        if len(x):
            parts.append((group, x, y))
    if not parts:
        return [], []
    rows = data_rows(
        step=np.concatenate([x for _, x, _ in parts]),
        group=[g for g, x, _ in parts for _ in range(len(x))],
        **{k: np.concatenate([y[:, i] for _, _, y in parts]) for i, k in enumerate(keys)},
    )
    return rows, [g for g, _, _ in parts]


def _group_colour(snap: Snapshot, shown: list[str], legend: dict) -> alt.Color:
    """One colour per group, fixed by its place in the model: the same in every chart and every run."""
    every = group_names(snap)
    colours = [PALETTE[every.index(g) % len(PALETTE)] for g in shown]
    return alt.Color("group:N", title=None, sort=shown, scale={"domain": shown, "range": colours}, legend=legend)


def layer_gradient_chart(
    snap: Snapshot, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """Gradient norm of each parameter group (log scale, bucket maxima): vanishing shows as early layers
    sinking decades below the decoder, exploding as every layer jumping at once."""
    title = "Gradient norm per layer"
    rows, shown = _group_rows(snap, ["grad_norms"], how="max", log=True)
    if not rows:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    f = fonts(projector)
    steps = [row["step"] for row in rows]
    legend, legend_bottom = inside_legend(shown, f, width, 4)
    rules, labels, band_bottom = knob_markers(snap, min(steps), max(steps), width, height, f, legend_bottom)
    values = [row["grad_norms"] for row in rows if row["grad_norms"] is not None]
    line = unit_chart(
        {"type": "line", "strokeWidth": 2},
        color=_group_colour(snap, shown, legend),
        y=alt.Y(
            "grad_norms:Q",
            title="gradient L2 norm (log scale)",
            scale=scale_y(values, log=True, room=band_room(band_bottom, height)),
        ),
    )
    return layered_chart(
        [line, *marker_layers(rules, labels, f)],
        rows,
        chart_title(
            title,
            "Measured before clipping. Early layers decades below the decoder: vanishing gradients;",
            "every layer spiking together: exploding. Groups with no gradient (norm while off) are hidden.",
            width=width,
            projector=projector,
        ),
        width,
        height,
        projector,
    )


# --------------------------------------------------------------------------- 4. weight norms
def weight_norm_chart(
    snap: Snapshot, width: int = WIDTH, height: int = 300, projector: bool = False
) -> alt.TopLevelMixin:
    """Three panels per group: L2 norm, L1 norm and the share of near-zero weights. L2 shrinks every
    weight a little (both norms fall together); L1 drives many weights to ~0 (the share rises).
    The norm group is left out: the penalties never act on normalisation parameters. Three narrow panels
    leave no room inside for seven names, so the legend sits right under the title, across all three."""
    title = "Weight norms per layer"
    rows, shown = _group_rows(snap, ["weight_l2", "weight_l1", "near_zero"], skip=("norm",))
    if not rows:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    f = fonts(projector)
    near_zero = [row["near_zero"] for row in rows if row["near_zero"] is not None]
    top = min(1.0, max(0.05, 1.1 * max(near_zero, default=0.0)))  # noise of 0.1% stays flat
    spacing, axis = 2 * f["tick"], round(4 * EM * f["tick"] + 16)  # y axis: ~4 characters of ticks
    panel = max(120, (width - 3 * axis - 2 * spacing) // 3)
    legend, _ = inside_legend(shown, f, width, 0)
    for key in ("legendX", "legendY", "fillColor", "strokeColor"):
        del legend[key]
    legend["orient"] = "top"
    step_x, colour, log = step_axis(), _group_colour(snap, shown, legend), {"type": "log"}
    panels = [
        alt.Chart(
            mark={"type": "line", "strokeWidth": 2},
            width=panel,
            height=height,
            title={
                "text": textwrap.wrap(heading, max(12, int(panel / (EM * f["axis_title"])))),
                "fontSize": f["axis_title"],
                "anchor": "middle",
                "fontWeight": "normal",
            },
            encoding=alt.FacetedEncoding(x=step_x, y=y, color=colour),
        )
        for heading, y in (
            ("L2 norm √Σw²", alt.Y("weight_l2:Q", title=None, scale=log, axis={"format": "~g"})),
            ("L1 norm Σ|w|", alt.Y("weight_l1:Q", title=None, scale=log, axis={"format": "~g"})),
            (
                "share of |w| < 0.001",
                alt.Y("near_zero:Q", title=None, scale={"domain": [0, top]}, axis={"format": "%"}),
            ),
        )
    ]
    return alt.HConcatChart(
        data={"values": rows},
        hconcat=panels,
        spacing=spacing,
        config=vega_config(projector),
        title=chart_title(
            title,
            "L2 / weight decay: both norms (log scales) shrink smoothly. L1: "
            "weights are pushed to zero, so the share on the right grows.",
            "Biases and normalisation parameters are not penalised and not shown.",
            width=width,
            projector=projector,
        ),
    )


# --------------------------------------------------------------------------- 5. run comparison
IGNORED_IN_DIFFERENCES = ("device", "detail_every", "eval_batches")


def _settings(snap: Snapshot) -> dict:
    """Fixed config from the start record, overridden by the knob values in force at the end."""
    settings = dict((snap.start or {}).get("config", {}))
    last = snap.steps[-1] if snap.steps else (snap.evals[-1] if snap.evals else {})
    settings.update({k: v for k, v in last.items() if k in settings})
    return settings


def _unique_names(snaps: Sequence[Snapshot]) -> list[str]:
    names, seen = [], {}
    for snap in snaps:
        seen[snap.name] = seen.get(snap.name, 0) + 1
        names.append(snap.name if seen[snap.name] == 1 else f"{snap.name} ({seen[snap.name]})")
    return names


def describe_differences(snaps: Sequence[Snapshot]) -> dict[str, str]:
    """{run name: "dropout 0.5, l2 0.0001"}: the settings in which the runs differ, with each run's value
    (knobs as they were at its end; "(from step N)" when the run changed it mid-way, N being its FIRST
    change). Repeated names get " (2)", " (3)" as in the comparison chart's legend."""
    settings = [_settings(s) for s in snaps]
    keys = [k for k in dict.fromkeys(k for s in settings for k in s) if k not in IGNORED_IN_DIFFERENCES]
    differing = [k for k in keys if len({format_value(s.get(k)) for s in settings}) > 1]
    out = {}
    for name, snap, values in zip(_unique_names(snaps), snaps, settings):
        changed: dict[str, int] = {}
        for event in sorted(snap.knob_changes(), key=lambda e: e["step"]):
            changed.setdefault(event["knob"], event["step"])
        parts = [
            f"{k} {format_value(values.get(k, '?'))}" + (f" (from step {changed[k]})" if k in changed else "")
            for k in differing
        ]
        out[name] = ", ".join(parts) if parts else ("same settings" if len(snaps) > 1 else "")
    return out


def comparison_chart(
    snaps: Sequence[Snapshot], width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """Validation loss of saved runs and the current one (the last, drawn thickest) on one axis, each
    labelled with what differs, so "dropout on" vs "off" reads straight off the legend."""
    title = "Run comparison: validation loss"
    differences = describe_differences(snaps)
    n = min(MAX_POINTS, MAX_ROWS // max(1, len(snaps)))
    xs, ys, labels, colours, current = [], [], [], [], []
    for i, (name, snap) in enumerate(zip(_unique_names(snaps), snaps)):
        evals = eval_arrays(snap)
        x, y = thin(evals["step"], np.minimum(evals["val_loss"], loss_cap(snap)), n=n)
        if not len(x):
            continue
        is_current = i == len(snaps) - 1
        labels.append(f"{name}: {differences[name]}" if differences[name] else name)
        colours.append(BLACK if is_current and len(snaps) > 1 else PALETTE[i % 6])
        xs.append(x)
        ys.append(y)
        current.append(np.full(len(x), is_current))
    if not xs:
        return placeholder_chart(
            title,
            "No validation loss yet — press Train, then save runs to compare",
            width=width,
            height=height,
            projector=projector,
        )
    rows = data_rows(
        step=np.concatenate(xs),
        value=np.concatenate(ys),
        current=np.concatenate(current),
        series=[label for label, x in zip(labels, xs) for _ in range(len(x))],
    )
    hint = "" if len(snaps) > 1 else "Save this run, change a knob, train again: both curves appear here."
    legend, band_bottom = inside_legend(labels, fonts(projector), width, 4)
    return alt.Chart(
        {"values": rows},
        mark={"type": "line"},
        width=width,
        height=height,
        title=chart_title(
            title,
            "Same seed → same data order and initialisation: the curves differ only by the settings in the legend.",
            hint,
            width=width,
            projector=projector,
        ),
        config=vega_config(projector),
        encoding=alt.FacetedEncoding(
            x=step_axis(),
            y=alt.Y(
                "value:Q",
                title="validation " + LOSS_TITLE,
                scale=scale_y(np.concatenate(ys), room=band_room(band_bottom, height)),
            ),
            color=series_colour(labels, colours, legend),
            strokeWidth=alt.StrokeWidth("current:N", legend=None, scale={"domain": [False, True], "range": [1.8, 3.2]}),
        ),
    )
