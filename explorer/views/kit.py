"""The chart kit: what every chart of explorer is built from (pure functions, no state, no UI imports, no torch).

Both front ends redraw these several times a second while a run grows, so each builder
1. turns the snapshot into small numpy arrays (`step_arrays`, `eval_arrays`, `group_arrays`),
2. thins them to a few hundred points (`thin`: bucket means for losses, bucket maxima for gradient
   norms so a spike is never averaged away; NaN/inf dropped, so a diverged run still draws),
3. hands Altair plain `{"values": [...]}` rows: the big table of a chart at its top level, the few
   rows of a marker or a highlight on their own layer.
Altair, not numpy, is the slow step (a front end pays `to_dict()`, which validates the whole spec),
so: no DataFrames (Altair's DataFrame sanitising cost more than everything else), one constructor
call per layer instead of chained methods (each chained call deep-copies the chart), nested
properties (scales, axes, legends) as plain dicts (Altair's objects are validated on creation AND
in `to_dict`), no filter transforms (each one costs ~2 ms of validation), and as few layers as the
picture needs.

Colours are Okabe–Ito (safe for colour-blind students). Every builder takes `width`/`height` in
pixels (the PLOT area; title, axes and the colour scale of a heatmap come on top): vl-convert needs numbers,
and Streamlit's `use_container_width` stretches them anyway.

Made for a projector: type sizes come from one table (`FONT_SIZES`, ×1.4 with `projector=True`) turned into
one Vega-Lite `config` (`vega_config`); series are named inside the plot (`inside_legend`), in a band kept
free above the data together with the knob-change labels (`knob_markers`, which never overlap), so nothing is below
the fold and no label covers a curve.

The builders: explorer.views.run_charts (one run and its comparisons), sweep_charts (over seeds),
mechanism_charts, and explorer.classroom.charts; explorer.views.registry is the one registry of chart views
both front ends draw from.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable

import altair as alt
import numpy as np

from explorer.runs.history import Snapshot
from explorer.spec.wording import describe_move, format_value

WIDTH, HEIGHT = 640, 380  # plot area; 380 keeps the gap chart whole on 1024×768 below a 150 px page header


MAX_POINTS = 300  # points per curve after thinning


MAX_ROWS = 900  # rows of one chart's data, all series together (Altair refuses more than 5000)


MAX_CELLS = 560  # heatmap rectangles


MAX_COLUMNS = 120  # heatmap columns (adjacent detail records merged)


MAX_MARKERS = 24  # knob-change rules drawn (the latest ones)


LABEL_ROWS = 3  # rows of knob-change labels before neighbours are merged into one label


EMPTY = "No data yet — press Train"


BLUE, VERMILLION, GREEN, ORANGE = "#0072B2", "#D55E00", "#009E73", "#E69F00"


PURPLE, SKY, YELLOW, BLACK, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999"


DARK_GREY = "#555555"  # knob-change rules: neutral, yet visible over the grid


INK = "#222222"  # text: near-black reads best on a projector


PALETTE = [BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY, BLACK, YELLOW, GREY]


LEGEND_FILL = "rgba(255, 255, 255, 0.85)"


# Type sizes in pixels, readable from the back of a classroom; projector=True makes them PROJECTOR_SCALE bigger.
FONT_SIZES = {"tick": 14, "axis_title": 15, "title": 18, "subtitle": 14, "legend": 14, "annotation": 16, "message": 16}


PROJECTOR_SCALE = 1.4


EM = 0.55  # average glyph width of the sans-serif chart font, in ems: enough to lay labels out without a browser


LOSS_TITLE = "loss (nats/token)"


TRAIN_EVAL, VALIDATION, TRAIN_BATCH = "training (eval mode)", "validation", "training batch (train mode)"


# --------------------------------------------------------------------------- snapshot -> arrays
def column_of(records: list[dict], key: str) -> np.ndarray:
    """One field of every record as floats; missing or None becomes NaN."""
    return np.array([r.get(key) for r in records], dtype=float)


def step_arrays(snap: Snapshot) -> dict[str, np.ndarray]:
    return {key: column_of(snap.steps, key) for key in ("step", "train_loss", "grad_norm", "clipped", "clip")}


def eval_arrays(snap: Snapshot) -> dict[str, np.ndarray]:
    return {key: column_of(snap.evals, key) for key in ("step", "train_eval_loss", "val_loss")}


def group_names(snap: Snapshot) -> list[str]:
    """Parameter-group names in model order (embedding, layer1.input, ..., norm, decoder)."""
    names = list((snap.start or {}).get("groups", []))
    for record in snap.details[-1:]:
        names += [g for g in record.get("grad_norms", {}) if g not in names]
    return names


def group_arrays(snap: Snapshot, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {group: array of shape (records, len(keys))}) for per-group detail fields."""
    steps, groups = column_of(snap.details, "step"), group_names(snap)
    tables = [
        np.array([[(r.get(k) or {}).get(g) for g in groups] for r in snap.details], dtype=float).reshape(
            len(steps), len(groups)
        )
        for k in keys
    ]
    return steps, {g: np.column_stack([t[:, j] for t in tables]) for j, g in enumerate(groups)}


# --------------------------------------------------------------------------- thinning
def bucket_starts(x: np.ndarray, n: int) -> np.ndarray:
    """Start indices of ≤ n buckets of equal width in STEPS (not in records: the history keeps recent
    steps denser than old ones, and the x axis is steps)."""
    if len(x) <= n:
        return np.arange(len(x))
    edges = np.linspace(x[0], x[-1], n + 1)[1:-1]
    return np.unique(np.concatenate([[0], np.searchsorted(x, edges, side="right")]))


def thin(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Reduce (x, y) to ≤ n bucket means (or maxima, to keep spikes), ignoring NaN/inf. `y` may be 2-D
    (one column per series, thinned on the same steps). Each bucket sits at its last step, so the
    newest point is always the latest value. Rows with no finite value are dropped."""
    y = np.asarray(y, dtype=float)
    columns = y.reshape(len(y), math.prod(y.shape[1:]))
    keep = np.isfinite(x) & np.isfinite(columns).any(axis=1)
    x, columns = x[keep], columns[keep]
    starts = bucket_starts(x, n)
    if len(starts) < len(x):
        finite = np.isfinite(columns)
        with np.errstate(invalid="ignore", divide="ignore"):
            if how == "max":
                columns = np.maximum.reduceat(np.where(finite, columns, -np.inf), starts)
            else:
                columns = np.add.reduceat(np.where(finite, columns, 0.0), starts) / np.add.reduceat(finite, starts)
        columns[~np.isfinite(columns)] = np.nan
        x = x[np.append(starts[1:], len(x)) - 1]
    return x, columns.reshape(len(x), *y.shape[1:])


def safe_log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


# --------------------------------------------------------------------------- type and layout for a projector
def fonts(projector: bool = False) -> dict[str, int]:
    """Type sizes in pixels by role: tick, axis_title, title, subtitle, legend, annotation, message."""
    scale = PROJECTOR_SCALE if projector else 1.0
    return {role: math.ceil(size * scale - 1e-9) for role, size in FONT_SIZES.items()}


def vega_config(projector: bool = False) -> dict:
    """The Vega-Lite `config` every chart carries: the one place where type sizes reach a spec (marks that
    draw text set theirs from `fonts` too, since a mark's own size would override this)."""
    f = fonts(projector)
    return {
        "axis": {
            "labelFontSize": f["tick"],
            "titleFontSize": f["axis_title"],
            "titleFontWeight": "normal",
            "labelColor": INK,
            "titleColor": INK,
        },
        "legend": {
            "labelFontSize": f["legend"],
            "titleFontSize": f["legend"],
            "titleFontWeight": "normal",
            "labelColor": INK,
        },
        "title": {
            "fontSize": f["title"],
            "subtitleFontSize": f["subtitle"],
            "subtitleColor": "#333333",
            "anchor": "start",
        },
        "text": {"fontSize": f["annotation"]},
    }


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of one line of `text` at `size` px (for laying out labels and legends)."""
    return len(text) * EM * size


def label_y(row: int, f: dict, top: float = 0) -> int:
    """Pixels from the top of the plot to knob-label row `row` (0 = the top row) of a band starting at `top`."""
    return round(top) + 4 + row * (f["annotation"] + 4)


def wrap_list(text: str, chars: int) -> list[str]:
    """Lines of at most `chars` characters, broken after the commas of a list ("dropout 0.5 (from step 30),
    l2 0") where possible, so that no item is split."""
    lines: list[str] = []
    for item in text.split(", "):
        if lines and len(lines[-1]) + 2 + len(item) <= chars:
            lines[-1] += ", " + item
        else:
            if lines:
                lines[-1] += ","
            lines += textwrap.wrap(item, chars, break_on_hyphens=False) or [item]
    return lines


def inside_legend(labels: list[str], f: dict, width: int, top: float, **extra) -> tuple[dict, float]:
    """Legend properties for a legend INSIDE the plot, `top` px below its top edge, on a white semi-opaque
    card, in as many columns as fit the width, a label too long for one line wrapped onto more (the
    comparison's "what differs" lists); and the pixel where it ends (for the next legend or the data).
    The band above the data is kept free for it (see `scale_y`), so it never hides a curve."""
    font = f["legend"]
    symbol, pad, row_gap, col_gap = round(1.5 * font), round(0.4 * font), round(0.3 * font), font
    room = width - 12 - 2 * pad  # the legend's inside, leaving the plot's edge visible
    lines = {label: wrap_list(label, max(12, int((room - symbol - 4) / (EM * font)))) for label in labels}
    entries = [max(text_width(line, font) for line in lines[label]) + symbol + 4 + col_gap for label in labels]
    columns = next(
        c
        for c in range(len(labels), 0, -1)  # entries fill rows left to right; a column is as wide
        if c == 1 or sum(max(entries[i::c]) for i in range(c)) <= room
    )  # as its widest entry
    heights = [max(len(lines[label]) for label in labels[r : r + columns]) for r in range(0, len(labels), columns)]
    legend = {
        "orient": "none",
        "legendX": 6,
        "legendY": round(top),
        "direction": "horizontal",
        "columns": columns,
        "fillColor": LEGEND_FILL,
        "strokeColor": "#cccccc",
        "cornerRadius": 3,
        "padding": pad,
        "rowPadding": row_gap,
        "columnPadding": col_gap,
        "symbolSize": symbol**2,
        "symbolType": "stroke",
        "symbolStrokeWidth": max(3, round(font / 5)),
        "labelLimit": max(100, room - symbol - 4),
        **extra,
    }
    wrapped = {label: parts for label, parts in lines.items() if len(parts) > 1}
    if wrapped:  # the series keeps its full name; only the legend shows it on several lines
        legend["labelExpr"] = f"({json.dumps(wrapped)})[datum.label] || datum.label"
    return legend, top + sum(n * round(1.2 * font) + row_gap for n in heights) + 2 * pad


def band_room(bottom: float, height: int) -> float:
    """Share of the plot height to keep free above the data for a band ending `bottom` px from the top."""
    return (bottom + 6) / max(height, 1)


# --------------------------------------------------------------------------- Vega-Lite building blocks
def data_rows(**columns) -> list[dict]:
    """Data rows from equal-length columns (or scalars); NaN/inf become null (not drawn)."""
    length = max((len(c) for c in columns.values() if np.ndim(c)), default=1)
    lists = []
    for column in columns.values():
        if not np.ndim(column):
            lists.append([column] * length)
            continue
        column = np.asarray(column)
        if column.dtype.kind == "f":
            lists.append([v if math.isfinite(v) else None for v in column.tolist()])
        else:
            lists.append(column.tolist())
    return [dict(zip(columns, row)) for row in zip(*lists)]


def unit_chart(mark: dict, rows: list[dict] | None = None, transform: list | None = None, **encoding) -> alt.Chart:
    """One layer (on the chart's table, or on `rows` of its own), built in a single constructor call."""
    return alt.Chart(
        {"values": rows} if rows is not None else alt.Undefined,
        mark=mark,
        transform=transform or alt.Undefined,
        encoding=alt.FacetedEncoding(**encoding),
    )


def layered_chart(
    layers: list[alt.Chart], rows: list[dict], title: dict, width: int, height: int, projector: bool = False
) -> alt.LayerChart:
    """Layers over one table, all with x = step (set once here); colour scales kept apart (a heatmap's
    shares are not a line's series)."""
    return alt.LayerChart(
        {"values": rows},
        layer=layers,
        title=title,
        width=width,
        height=height,
        encoding={"x": step_axis()},
        resolve={"scale": {"color": "independent"}},
        config=vega_config(projector),
    )


def chart_title(text: str, *subtitle: str, width: int = WIDTH, projector: bool = False) -> dict:
    """A title (wrapped onto two lines if it is wider than the chart) with explanatory lines below it, wrapped
    to the chart's width (Vega does not wrap text, and an overlong line would widen the chart instead)."""
    f = fonts(projector)

    def wrap(line: str, size: int) -> list[str]:
        return textwrap.wrap(line, max(24, int(width / (0.5 * size))), break_on_hyphens=False)  # prose: ~0.5 em

    heading = wrap(text, f["title"])
    return {
        "text": heading[0] if len(heading) == 1 else heading,
        "anchor": "start",
        "subtitle": [part for line in subtitle if line for part in wrap(line, f["subtitle"])],
    }


def placeholder_chart(
    title: str, message: str = EMPTY, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.Chart:
    """A valid, empty-looking chart that says why it is empty."""
    return alt.Chart(
        {"values": [{"message": message}]},
        mark={"type": "text", "fontSize": fonts(projector)["message"], "color": DARK_GREY},
        encoding=alt.FacetedEncoding(text=alt.Text("message:N"), x=alt.XValue(width / 2), y=alt.YValue(height / 2)),
        title=chart_title(title, width=width, projector=projector),
        width=width,
        height=height,
        config=vega_config(projector),
    )


def step_axis() -> alt.X:
    """Steps on round numbers a class reads aloud (200, 400, … 1,400; never "0.05k"), six or so ticks."""
    return alt.X(
        "step:Q",
        title="step",
        scale={"nice": False, "zero": False},
        axis={"format": ",d", "tickCount": 6, "tickMinStep": 1, "labelOverlap": "greedy", "labelSeparation": 8},
    )


def scale_y(values, log: bool = False, room: float = 0.0) -> dict:
    """A y scale fitted to the data, with the top `room` (a share of the plot height, at most half) left
    free for the band of knob labels and legend."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values) & (values > 0 if log else True)]
    if not room or not len(values):
        return {"type": "log"} if log else {"zero": False}
    lo, hi = float(values.min()), float(values.max())
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or (abs(hi) or 1.0) * 0.1
    lo, hi = lo - 0.03 * span, hi + 0.03 * span
    room = min(room, 0.5)
    hi += (hi - lo) * room / (1 - room)
    if log:
        return {"type": "log", "domain": [10**lo, 10**hi], "nice": False}
    return {"domain": [lo, hi], "nice": False, "zero": False}


def series_colour(domain: list[str], colours: list[str], legend: dict) -> alt.Color:
    return alt.Color("series:N", title=None, scale={"domain": domain, "range": colours}, legend=legend)


# --------------------------------------------------------------------------- markers: knob changes, the end
def change_text(changes: dict[str, tuple]) -> str:
    """ "dropout 0 → 0.5 · l2 0 → 1e-05" for {knob: (old, new)}; knobs back where they started are left out."""
    moved = {knob: (old, new) for knob, (old, new) in changes.items() if format_value(old) != format_value(new)}
    return describe_move(moved, sep=" · ")


def end_label(snap: Snapshot) -> tuple[int, str, str] | None:
    """(step, label, colour) for divergence or early stop; a normal finish needs no mark."""
    event = snap.final_event()
    if event is None or event["event"] == "finished":
        return None
    if event["event"] == "diverged":
        return event["step"], f"diverged: {event.get('cause', '')}".rstrip(": "), VERMILLION
    return event["step"], f"early stop (best step {event.get('best_step', '?')})", GREEN


def place_labels(
    items: list[tuple], px: Callable[[float], float], width: int, f: dict, top: float, force: bool = False
) -> list[dict] | None:
    """Label rows for `items` (steps, text, colour, kind) in LABEL_ROWS rows: a label starts right of its first
    rule, or ends left of its last one when it would run off the plot (cut with "…" if it fits neither way).
    None if some label finds no free row (with `force`, that label is left out instead)."""
    size, gap = f["annotation"], f["annotation"] / 2
    texts: list[list[tuple[float, float]]] = [[] for _ in range(LABEL_ROWS)]  # label extents per row
    out = []
    for steps, text, colour, kind in items:
        w, left, right = text_width(text, size), px(steps[0]) + 4, px(steps[-1]) - 4
        if left + w <= width or (right - w < 0 and width - left >= right):
            align, a, b = "left", left, min(left + w, width)
        else:
            align, a, b = "right", max(right - w, 0), right
        row = next((r for r in range(LABEL_ROWS) if all(b + gap <= x0 or a >= x1 + gap for x0, x1 in texts[r])), None)
        if row is None:
            if not force:
                return None
            continue
        texts[row].append((a, b))
        out.append(
            {
                "step": steps[0] if align == "left" else steps[-1],
                "label": text,
                "colour": colour,
                "y": label_y(row, f, top),
                "row": row,
                "align": align,
                "steps": steps,
                "kind": kind,
                "limit": 0 if b - a >= w else int(b - a),
            }
        )  # Vega: limit 0 = no limit
    return out


def knob_markers(
    snap: Snapshot, lo: float, hi: float, width: int, height: int, f: dict, top: float = 0
) -> tuple[list[dict], list[dict], float]:
    """Knob changes and the end of a diverged or early-stopped run, for `marker_layers`: one rule per event
    and labels "KNOB OLD → NEW" that never overlap. Changes closer together than two characters merge into one
    label ("dropout 0 → 0.5 · l2 0 → 1e-05", a knob changed twice keeping its first old and last new value);
    labels that still collide are staggered over LABEL_ROWS rows, and when a label finds no free row the two
    closest neighbours merge too. The labels sit in a band starting `top` px below the plot's top edge (under
    the legend, which no rule then crosses). Returns (rules, labels, the pixel where the band ends)."""
    events = sorted(snap.knob_changes(), key=lambda e: e["step"])[-MAX_MARKERS:]
    end = end_label(snap)
    marked = [e["step"] for e in events] + ([end[0]] if end else [])
    lo, hi = min([lo, *marked]), max([hi, *marked])  # the x axis spans the marks too
    span = (hi - lo) or 1.0

    def px(step: float) -> float:
        return (step - lo) / span * width

    groups: list[tuple[list, dict]] = []  # ([steps], {knob: (first old, last new)})
    for event in events:
        if not groups or px(event["step"]) - px(groups[-1][0][-1]) >= 2 * f["annotation"]:
            groups.append(([], {}))
        steps, changes = groups[-1]
        steps.append(event["step"])
        old = changes[event["knob"]][0] if event["knob"] in changes else event["old"]
        changes[event["knob"]] = (old, event["new"])
    while True:
        items = [(steps, change_text(changes), INK, "knob") for steps, changes in groups]
        items = [item for item in items if item[1]] + ([([end[0]], end[1], end[2], "end")] if end else [])
        labels = place_labels(items, px, width, f, top, force=len(groups) < 2)
        if labels is not None:
            break
        i = min(range(len(groups) - 1), key=lambda i: px(groups[i + 1][0][0]) - px(groups[i][0][-1]))
        (steps, changes), (later_steps, later) = groups[i], groups.pop(i + 1)
        steps.extend(later_steps)
        for knob, (old, new) in later.items():
            changes[knob] = (changes[knob][0] if knob in changes else old, new)
    rows = max((label["row"] for label in labels), default=-1) + 1
    band = label_y(rows, f, top) if rows else round(top)
    tops = {}  # where each rule starts: under its label
    for label in labels:
        kind, steps = label.pop("kind"), label.pop("steps")
        tops.update({(kind, step): label["y"] + f["annotation"] + 2 for step in steps})
    rules = [{"step": e["step"], "colour": DARK_GREY, "top": tops.get(("knob", e["step"]), band)} for e in events]
    if end:
        rules.append({"step": end[0], "colour": end[2], "top": tops.get(("end", end[0]), band)})
    for rule in rules:
        rule["bottom"] = height
    return rules, labels, float(band)


def marker_layers(rules: list[dict], labels: list[dict], f: dict) -> list[alt.Chart]:
    """A dashed rule per marker, from under its label down, and the labels; y in pixels (scale None). Labels
    are drawn twice, first with a thick white outline, so a rule of a label in a higher row that passes
    behind them never cuts through the letters."""
    colour = alt.Color("colour:N", scale=None)
    layers = []
    if rules:
        layers.append(
            unit_chart(
                {"type": "rule", "strokeDash": [5, 3], "strokeWidth": max(1.5, f["annotation"] / 10)},
                rules,
                color=colour,
                y=alt.Y("top:Q", scale=None, axis=None),
                y2=alt.Y2("bottom:Q"),
            )
        )
    text = {
        "type": "text",
        "fontSize": f["annotation"],
        "baseline": "top",
        "align": {"expr": "datum.align"},
        "dx": {"expr": "datum.align == 'right' ? -4 : 4"},
        "limit": {"expr": "datum.limit"},
    }
    if labels:
        halo = {**text, "color": "white", "stroke": "white", "strokeWidth": 5, "strokeJoin": "round"}
        for mark, paint in ((halo, {}), (text, {"color": colour})):
            layers.append(
                unit_chart(mark, labels, y=alt.Y("y:Q", scale=None, axis=None), text=alt.Text("label:N"), **paint)
            )
    return layers


# --------------------------------------------------------------------------- over seeds: a sweep's summary
def arm_colours(n: int) -> list[str]:
    return [PALETTE[i % 7] for i in range(n)]  # Okabe–Ito without yellow and grey (too faint for a band)


def one_layer_chart(layer: alt.Chart, rows: list[dict], title: dict, width: int, height: int, projector: bool):
    """A chart of one layer over its own rows, with the shared type sizes."""
    return alt.LayerChart(
        {"values": rows}, layer=[layer], title=title, width=width, height=height, config=vega_config(projector)
    )
