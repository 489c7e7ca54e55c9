"""Altair chart builders: a `Snapshot` in, an Altair chart out (pure functions, no state, no UI imports).

Both front ends redraw these several times a second while a run grows, so each builder
1. turns the snapshot into small numpy arrays (`_steps`, `_evals`, `_group_arrays`),
2. thins them to a few hundred points (`_thin`: bucket means for losses, bucket maxima for gradient
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
one Vega-Lite `config` (`vega_config`); series are named inside the plot (`_inside_legend`), in a band kept
free above the data together with the knob-change labels (`_markers`, which never overlap), so nothing is below
the fold and no label covers a curve.

`explorer.views` is the one registry of chart views both front ends draw from.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable, Sequence

import altair as alt
import numpy as np

from explorer.runs.history import Snapshot
from explorer.runs.sweep_summary import METRICS, SweepSummary
from explorer.spec.wording import bits_per_char, format_value, perplexity, plural

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
def _column(records: list[dict], key: str) -> np.ndarray:
    """One field of every record as floats; missing or None becomes NaN."""
    return np.array([r.get(key) for r in records], dtype=float)


def _steps(snap: Snapshot) -> dict[str, np.ndarray]:
    return {key: _column(snap.steps, key) for key in ("step", "train_loss", "grad_norm", "clipped", "clip")}


def _evals(snap: Snapshot) -> dict[str, np.ndarray]:
    return {key: _column(snap.evals, key) for key in ("step", "train_eval_loss", "val_loss")}


def _groups(snap: Snapshot) -> list[str]:
    """Parameter-group names in model order (embedding, layer1.input, ..., norm, decoder)."""
    names = list((snap.start or {}).get("groups", []))
    for record in snap.details[-1:]:
        names += [g for g in record.get("grad_norms", {}) if g not in names]
    return names


def _group_arrays(snap: Snapshot, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {group: array of shape (records, len(keys))}) for per-group detail fields."""
    steps, groups = _column(snap.details, "step"), _groups(snap)
    tables = [
        np.array([[(r.get(k) or {}).get(g) for g in groups] for r in snap.details], dtype=float).reshape(
            len(steps), len(groups)
        )
        for k in keys
    ]
    return steps, {g: np.column_stack([t[:, j] for t in tables]) for j, g in enumerate(groups)}


# --------------------------------------------------------------------------- thinning
def _bucket_starts(x: np.ndarray, n: int) -> np.ndarray:
    """Start indices of ≤ n buckets of equal width in STEPS (not in records: the history keeps recent
    steps denser than old ones, and the x axis is steps)."""
    if len(x) <= n:
        return np.arange(len(x))
    edges = np.linspace(x[0], x[-1], n + 1)[1:-1]
    return np.unique(np.concatenate([[0], np.searchsorted(x, edges, side="right")]))


def _thin(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Reduce (x, y) to ≤ n bucket means (or maxima, to keep spikes), ignoring NaN/inf. `y` may be 2-D
    (one column per series, thinned on the same steps). Each bucket sits at its last step, so the
    newest point is always the latest value. Rows with no finite value are dropped."""
    y = np.asarray(y, dtype=float)
    columns = y.reshape(len(y), math.prod(y.shape[1:]))
    keep = np.isfinite(x) & np.isfinite(columns).any(axis=1)
    x, columns = x[keep], columns[keep]
    starts = _bucket_starts(x, n)
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


def _log10(values: np.ndarray) -> np.ndarray:
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


def _text_width(text: str, size: float) -> float:
    """Estimated width in pixels of one line of `text` at `size` px (for laying out labels and legends)."""
    return len(text) * EM * size


def _label_y(row: int, f: dict, top: float = 0) -> int:
    """Pixels from the top of the plot to knob-label row `row` (0 = the top row) of a band starting at `top`."""
    return round(top) + 4 + row * (f["annotation"] + 4)


def _wrap_list(text: str, chars: int) -> list[str]:
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


def _inside_legend(labels: list[str], f: dict, width: int, top: float, **extra) -> tuple[dict, float]:
    """Legend properties for a legend INSIDE the plot, `top` px below its top edge, on a white semi-opaque
    card, in as many columns as fit the width, a label too long for one line wrapped onto more (the
    comparison's "what differs" lists); and the pixel where it ends (for the next legend or the data).
    The band above the data is kept free for it (see `_y_scale`), so it never hides a curve."""
    font = f["legend"]
    symbol, pad, row_gap, col_gap = round(1.5 * font), round(0.4 * font), round(0.3 * font), font
    room = width - 12 - 2 * pad  # the legend's inside, leaving the plot's edge visible
    lines = {label: _wrap_list(label, max(12, int((room - symbol - 4) / (EM * font)))) for label in labels}
    entries = [max(_text_width(line, font) for line in lines[label]) + symbol + 4 + col_gap for label in labels]
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


def _band_room(bottom: float, height: int) -> float:
    """Share of the plot height to keep free above the data for a band ending `bottom` px from the top."""
    return (bottom + 6) / max(height, 1)


# --------------------------------------------------------------------------- Vega-Lite building blocks
def _rows(**columns) -> list[dict]:
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


def _unit(mark: dict, rows: list[dict] | None = None, transform: list | None = None, **encoding) -> alt.Chart:
    """One layer (on the chart's table, or on `rows` of its own), built in a single constructor call."""
    return alt.Chart(
        {"values": rows} if rows is not None else alt.Undefined,
        mark=mark,
        transform=transform or alt.Undefined,
        encoding=alt.FacetedEncoding(**encoding),
    )


def _layered(
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
        encoding={"x": _step_x()},
        resolve={"scale": {"color": "independent"}},
        config=vega_config(projector),
    )


def _title(text: str, *subtitle: str, width: int = WIDTH, projector: bool = False) -> dict:
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


def _placeholder(
    title: str, message: str = EMPTY, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.Chart:
    """A valid, empty-looking chart that says why it is empty."""
    return alt.Chart(
        {"values": [{"message": message}]},
        mark={"type": "text", "fontSize": fonts(projector)["message"], "color": DARK_GREY},
        encoding=alt.FacetedEncoding(text=alt.Text("message:N"), x=alt.XValue(width / 2), y=alt.YValue(height / 2)),
        title=_title(title, width=width, projector=projector),
        width=width,
        height=height,
        config=vega_config(projector),
    )


def _step_x() -> alt.X:
    return alt.X(
        "step:Q",
        title="step",
        scale={"nice": False, "zero": False},
        axis={"format": "~s", "tickMinStep": 1, "labelOverlap": "greedy", "labelSeparation": 8},
    )


def _y_scale(values, log: bool = False, room: float = 0.0) -> dict:
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


def _series_colour(domain: list[str], colours: list[str], legend: dict) -> alt.Color:
    return alt.Color("series:N", title=None, scale={"domain": domain, "range": colours}, legend=legend)


# --------------------------------------------------------------------------- markers: knob changes, the end
def _change_text(changes: dict[str, tuple]) -> str:
    """ "dropout 0 → 0.5 · l2 0 → 1e-05" for {knob: (old, new)}; knobs back where they started are left out."""
    return " · ".join(
        f"{knob} {format_value(old)} → {format_value(new)}"
        for knob, (old, new) in changes.items()
        if format_value(old) != format_value(new)
    )


def _end_label(snap: Snapshot) -> tuple[int, str, str] | None:
    """(step, label, colour) for divergence or early stop; a normal finish needs no mark."""
    event = snap.final_event()
    if event is None or event["event"] == "finished":
        return None
    if event["event"] == "diverged":
        return event["step"], f"diverged: {event.get('cause', '')}".rstrip(": "), VERMILLION
    return event["step"], f"early stop (best step {event.get('best_step', '?')})", GREEN


def _place_labels(
    items: list[tuple], px: Callable[[float], float], width: int, f: dict, top: float, force: bool = False
) -> list[dict] | None:
    """Label rows for `items` (steps, text, colour, kind) in LABEL_ROWS rows: a label starts right of its first
    rule, or ends left of its last one when it would run off the plot (cut with "…" if it fits neither way).
    None if some label finds no free row (with `force`, that label is left out instead)."""
    size, gap = f["annotation"], f["annotation"] / 2
    texts: list[list[tuple[float, float]]] = [[] for _ in range(LABEL_ROWS)]  # label extents per row
    out = []
    for steps, text, colour, kind in items:
        w, left, right = _text_width(text, size), px(steps[0]) + 4, px(steps[-1]) - 4
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
                "y": _label_y(row, f, top),
                "row": row,
                "align": align,
                "steps": steps,
                "kind": kind,
                "limit": 0 if b - a >= w else int(b - a),
            }
        )  # Vega: limit 0 = no limit
    return out


def _markers(
    snap: Snapshot, lo: float, hi: float, width: int, height: int, f: dict, top: float = 0
) -> tuple[list[dict], list[dict], float]:
    """Knob changes and the end of a diverged or early-stopped run, for `_marker_layers`: one rule per event
    and labels "KNOB OLD → NEW" that never overlap. Changes closer together than two characters merge into one
    label ("dropout 0 → 0.5 · l2 0 → 1e-05", a knob changed twice keeping its first old and last new value);
    labels that still collide are staggered over LABEL_ROWS rows, and when a label finds no free row the two
    closest neighbours merge too. The labels sit in a band starting `top` px below the plot's top edge (under
    the legend, which no rule then crosses). Returns (rules, labels, the pixel where the band ends)."""
    events = sorted(snap.knob_changes(), key=lambda e: e["step"])[-MAX_MARKERS:]
    end = _end_label(snap)
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
        items = [(steps, _change_text(changes), INK, "knob") for steps, changes in groups]
        items = [item for item in items if item[1]] + ([([end[0]], end[1], end[2], "end")] if end else [])
        labels = _place_labels(items, px, width, f, top, force=len(groups) < 2)
        if labels is not None:
            break
        i = min(range(len(groups) - 1), key=lambda i: px(groups[i + 1][0][0]) - px(groups[i][0][-1]))
        (steps, changes), (later_steps, later) = groups[i], groups.pop(i + 1)
        steps.extend(later_steps)
        for knob, (old, new) in later.items():
            changes[knob] = (changes[knob][0] if knob in changes else old, new)
    rows = max((label["row"] for label in labels), default=-1) + 1
    band = _label_y(rows, f, top) if rows else round(top)
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


def _marker_layers(rules: list[dict], labels: list[dict], f: dict) -> list[alt.Chart]:
    """A dashed rule per marker, from under its label down, and the labels; y in pixels (scale None). Labels
    are drawn twice, first with a thick white outline, so a rule of a label in a higher row that passes
    behind them never cuts through the letters."""
    colour = alt.Color("colour:N", scale=None)
    layers = []
    if rules:
        layers.append(
            _unit(
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
            layers.append(_unit(mark, labels, y=alt.Y("y:Q", scale=None, axis=None), text=alt.Text("label:N"), **paint))
    return layers


# --------------------------------------------------------------------------- 1. generalisation gap
def _loss_cap(snap: Snapshot) -> float:
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
    evals = _evals(snap)
    have_evals = np.isfinite(evals["val_loss"]).sum() >= 2  # a curve needs two points
    if have_evals:
        series = [TRAIN_EVAL, VALIDATION]
        x, y = _thin(evals["step"], np.column_stack([evals["train_eval_loss"], evals["val_loss"]]))
    else:
        series = [TRAIN_BATCH]
        steps = _steps(snap)
        x, y = _thin(steps["step"], steps["train_loss"][:, None])
    if not len(x):
        return _placeholder(title, width=width, height=height, projector=projector)

    f = fonts(projector)
    cap = _loss_cap(snap)
    capped = bool(np.nanmax(y) > cap)
    y = np.minimum(y, cap)
    shown = np.exp(y) if ppl else y
    lo, hi = float(x[0]), float(x[-1])
    legend, legend_bottom = _inside_legend(series, f, width, 4)
    rules, labels, band_bottom = _markers(snap, lo, hi, width, height, f, legend_bottom)
    y_title = "perplexity (log scale)" if ppl else LOSS_TITLE
    y_scale = _y_scale(shown, log=ppl, room=_band_room(band_bottom, height))
    rows = _rows(step=x, **{s: shown[:, i] for i, s in enumerate(series)})
    notes = []
    layers = []
    if have_evals:
        layers.append(
            _unit(
                {"type": "area", "color": VERMILLION, "opacity": 0.15},
                y=alt.Y(field=TRAIN_EVAL, type="quantitative", scale=y_scale, title=y_title),
                y2=alt.Y2(field=VALIDATION),
            )
        )
    layers.append(
        _unit(
            {"type": "line", "strokeWidth": 2.5, "point": bool(len(x) < 40)},
            transform=[{"fold": series, "as": ["series", "value"]}],
            y=alt.Y("value:Q", title=y_title, scale=y_scale),
            color=_series_colour(series, [BLUE, VERMILLION][: len(series)], legend),
        )
    )

    if have_evals:
        both = np.flatnonzero(np.isfinite(shown).all(axis=1))
        if len(both):
            (train_now, val_now), at = shown[both[-1]], int(x[both[-1]])
            notes.append(
                f"Shaded: the gap, validation − training = {val_now - train_now:.3f} nats/token at step {at}."
                if not ppl
                else f"Shaded: the gap; validation perplexity is {val_now / train_now:.2f}× training at step {at}."
            )
            if snap.level == "char":
                train_bpc, val_bpc = (bits_per_char(loss) for loss in y[both[-1]])
                notes.append(
                    f"Bits per character (loss / ln 2): validation {val_bpc:.3f} bpc, training {train_bpc:.3f} bpc."
                )
        best = _best(snap, evals)
        if best is not None and best[1] <= cap:
            step, loss = best
            value = math.exp(loss) if ppl else loss
            notes.append(
                f"Black diamond: best validation {name}, {value:.1f} at step {step}."
                if ppl
                else f"Black diamond: best validation {name}, {value:.3f} at step {step}."
            )
            best_row = _rows(step=[step], value=[value])
            layers.append(
                _unit(
                    {
                        "type": "point",
                        "shape": "diamond",
                        "size": round(10 * f["annotation"]),
                        "filled": True,
                        "color": BLACK,
                        "opacity": 1,
                    },
                    best_row,
                    y=alt.Y("value:Q"),
                )
            )
            layers.append(
                _unit(
                    {
                        "type": "text",
                        "text": "best",
                        "fontSize": f["annotation"],
                        "fontWeight": "bold",
                        "baseline": "bottom",
                        "dy": -round(0.6 * f["annotation"]),
                        "color": BLACK,
                    },
                    best_row,
                    y=alt.Y("value:Q"),
                )
            )
    else:
        notes.append("Too few evaluations yet: showing the training-batch loss (train mode) until there are two.")
    if capped:
        notes.append(
            f"Losses above {cap:.1f} nats/token (twice a uniform guess: the model blew up) are drawn at that level."
        )
    layers += _marker_layers(rules, labels, f)
    return _layered(layers, rows, _title(title, *notes, width=width, projector=projector), width, height, projector)


# --------------------------------------------------------------------------- 2. gradient histogram
def _heatmap(snap: Snapshot) -> dict[str, np.ndarray] | None:
    """Cells (step, step2, lo, hi, share) of the log10|g| histogram over time: bins paired into half
    decades, adjacent detail records merged into one column until ≤ MAX_CELLS non-empty cells."""
    records = [r for r in snap.details if r.get("grad_hist")]
    if not records:
        return None
    counts = np.array([r["grad_hist"] for r in records], dtype=float)
    edges = np.asarray((snap.start or {}).get("grad_hist_edges") or _default_edges(), dtype=float)
    if counts.shape[1] % 2 == 0 and len(edges) == counts.shape[1] + 1:
        counts, edges = counts[:, 0::2] + counts[:, 1::2], edges[::2]
    steps = _column(records, "step")
    occupied = max(1, int((counts.sum(axis=0) > 0).sum()))
    starts = _bucket_starts(steps, max(8, min(MAX_COLUMNS, MAX_CELLS // occupied)))
    ends = np.append(starts[1:], len(steps))
    merged = np.add.reduceat(counts, starts, axis=0)
    totals = merged.sum(axis=1, keepdims=True)
    share = np.divide(merged, totals, out=np.zeros_like(merged), where=totals > 0)
    right = steps[ends - 1]
    every = np.median(np.diff(steps)) if len(steps) > 1 else 1.0
    left = np.concatenate([[right[0] - every * (ends[0] - starts[0])], right[:-1]])
    col, row = np.nonzero(share > 0)
    return {"step": left[col], "step2": right[col], "lo": edges[row], "hi": edges[row + 1], "share": share[col, row]}


def _default_edges() -> list[float]:
    from explorer.core.gradients import GRAD_HIST_EDGES  # imports torch: only when the start record is missing

    return GRAD_HIST_EDGES.tolist()


def _clip_segments(steps: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip threshold as flat segments (x, log10 clip, segment id) over the steps where it was on."""
    step, clip = steps["step"], steps["clip"]
    change = np.flatnonzero(np.diff(clip) != 0) + 1
    starts, ends = np.concatenate([[0], change]), np.concatenate([change, [len(step)]]) - 1
    on = [(a, b) for a, b in zip(starts, ends) if len(step) and clip[a] > 0 and np.isfinite(clip[a])]
    x = np.array([step[i] for a, b in on for i in (a, b)], dtype=float)
    value = np.array([math.log10(clip[a]) for a, b in on for _ in (a, b)], dtype=float)
    return x, value, np.repeat(np.arange(len(on)), 2)


def gradient_histogram_chart(
    snap: Snapshot, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """Where the gradient mass sits (log10 |g| per entry) at each step, with the total norm before
    clipping on the same log axis, the clip threshold, and the steps where clipping fired."""
    title = "Gradient magnitudes over time"
    cells, steps = _heatmap(snap), _steps(snap)
    log_norm = _log10(steps["grad_norm"])
    x, norm = _thin(steps["step"], log_norm, n=150, how="max")
    if cells is None and not len(x):
        return _placeholder(title, width=width, height=height, projector=projector)

    f = fonts(projector)
    series, colours = ["total gradient norm before clipping"], [BLACK]
    clip_x, clip_y, clip_id = _clip_segments(steps)
    if len(clip_x):
        series.append("clip threshold")
        colours.append(VERMILLION)
    hit_x, hit_y = _thin(steps["step"], np.where(steps["clipped"] > 0, log_norm, np.nan), n=150, how="max")

    all_x = np.concatenate([x, clip_x] + ([cells["step"], cells["step2"]] if cells else []))
    lo, hi = float(all_x.min()), float(all_x.max())
    legend, legend_bottom = _inside_legend(series, f, width, 4)
    if len(hit_x):  # a legend of its own, under the lines' one
        hits_legend, legend_bottom = _inside_legend(
            ["clipped step"], f, width, legend_bottom + 2, symbolFillColor=VERMILLION, symbolStrokeColor=VERMILLION
        )
    rules, labels, band_bottom = _markers(snap, lo, hi, width, height, f, legend_bottom)
    all_y = np.concatenate([norm, clip_y] + ([cells["lo"], cells["hi"]] if cells else []))
    bottom, top = math.floor(float(np.nanmin(all_y))), float(np.nanmax(all_y))
    room = min(0.5, _band_room(band_bottom, height))
    top += max(top - bottom, 1.0) * room / (1 - room)  # the band for labels and legends
    y_title = "log10 |gradient|"
    y_scale = {"domain": [bottom, top], "nice": False}
    y = alt.Y("value:Q", title=y_title, scale=y_scale)

    line = _rows(
        step=np.concatenate([x, clip_x]),
        value=np.concatenate([norm, clip_y]),
        series=[series[0]] * len(x) + ["clip threshold"] * len(clip_x),
        segment=np.concatenate([np.full(len(x), -1), clip_id]),
    )
    layers = []
    if cells:
        layers.append(
            _unit(
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
        )
    if len(hit_x):  # under the line; a shape legend of its own (a colour legend would repeat per mark type)
        layers.append(
            _unit(
                {"type": "point", "filled": True, "size": 22, "opacity": 1, "color": VERMILLION},
                _rows(step=hit_x, value=hit_y, series="clipped step"),
                y=y,
                shape=alt.Shape(
                    "series:N",
                    title=None,
                    scale={"range": ["circle"]},
                    legend={**hits_legend, "symbolType": "circle", "symbolSize": round(0.6 * f["legend"]) ** 2},
                ),
            )
        )
    layers.append(
        _unit(
            {"type": "line", "strokeWidth": 2},
            line,
            y=y,
            detail=alt.Detail("segment:N"),
            color=_series_colour(series, colours, legend),
            strokeDash=alt.StrokeDash(
                "series:N", legend=None, scale={"domain": series, "range": [[1, 0], [6, 3]][: len(series)]}
            ),
        )
    )
    layers += _marker_layers(rules, labels, f)

    notes = [
        "Colour: share of all gradient entries in each half-decade of |g| "
        "(bottom row: exact zeros too; top row: everything ≥ 100)."
    ]
    if len(clip_x):
        notes.append(
            "clip_mode=norm: when the black line is above the dashed red one, the whole gradient is "
            "scaled down (red dots)."
            if _last(snap, "clip_mode", "norm") == "norm"
            else "clip_mode=value: each entry above the dashed red line is cut to it "
            "(red dots: steps where that happened)."
        )
    return _layered(
        layers,
        _rows(**cells) if cells else [],
        _title(title, *notes, width=width, projector=projector),
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
    steps, groups = _group_arrays(snap, keys)
    groups = {g: v for g, v in groups.items() if g not in skip}
    n = min(MAX_POINTS, MAX_ROWS // max(1, len(groups)))
    parts = []
    for group, values in groups.items():
        if log:
            values = np.where(values > 0, values, np.nan)
        x, y = _thin(steps, values, n=n, how=how)
        if len(x):
            parts.append((group, x, y))
    if not parts:
        return [], []
    rows = _rows(
        step=np.concatenate([x for _, x, _ in parts]),
        group=[g for g, x, _ in parts for _ in range(len(x))],
        **{k: np.concatenate([y[:, i] for _, _, y in parts]) for i, k in enumerate(keys)},
    )
    return rows, [g for g, _, _ in parts]


def _group_colour(snap: Snapshot, shown: list[str], legend: dict) -> alt.Color:
    """One colour per group, fixed by its place in the model: the same in every chart and every run."""
    every = _groups(snap)
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
        return _placeholder(title, width=width, height=height, projector=projector)
    f = fonts(projector)
    steps = [row["step"] for row in rows]
    legend, legend_bottom = _inside_legend(shown, f, width, 4)
    rules, labels, band_bottom = _markers(snap, min(steps), max(steps), width, height, f, legend_bottom)
    values = [row["grad_norms"] for row in rows if row["grad_norms"] is not None]
    line = _unit(
        {"type": "line", "strokeWidth": 2},
        color=_group_colour(snap, shown, legend),
        y=alt.Y(
            "grad_norms:Q",
            title="gradient L2 norm (log scale)",
            scale=_y_scale(values, log=True, room=_band_room(band_bottom, height)),
        ),
    )
    return _layered(
        [line, *_marker_layers(rules, labels, f)],
        rows,
        _title(
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
        return _placeholder(title, width=width, height=height, projector=projector)
    f = fonts(projector)
    near_zero = [row["near_zero"] for row in rows if row["near_zero"] is not None]
    top = min(1.0, max(0.05, 1.1 * max(near_zero, default=0.0)))  # noise of 0.1% stays flat
    spacing, axis = 2 * f["tick"], round(4 * EM * f["tick"] + 16)  # y axis: ~4 characters of ticks
    panel = max(120, (width - 3 * axis - 2 * spacing) // 3)
    legend, _ = _inside_legend(shown, f, width, 0)
    for key in ("legendX", "legendY", "fillColor", "strokeColor"):
        del legend[key]
    legend["orient"] = "top"
    step_x, colour, log = _step_x(), _group_colour(snap, shown, legend), {"type": "log"}
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
        title=_title(
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
        evals = _evals(snap)
        x, y = _thin(evals["step"], np.minimum(evals["val_loss"], _loss_cap(snap)), n=n)
        if not len(x):
            continue
        is_current = i == len(snaps) - 1
        labels.append(f"{name}: {differences[name]}" if differences[name] else name)
        colours.append(BLACK if is_current and len(snaps) > 1 else PALETTE[i % 6])
        xs.append(x)
        ys.append(y)
        current.append(np.full(len(x), is_current))
    if not xs:
        return _placeholder(
            title,
            "No validation loss yet — press Train, then save runs to compare",
            width=width,
            height=height,
            projector=projector,
        )
    rows = _rows(
        step=np.concatenate(xs),
        value=np.concatenate(ys),
        current=np.concatenate(current),
        series=[label for label, x in zip(labels, xs) for _ in range(len(x))],
    )
    hint = "" if len(snaps) > 1 else "Save this run, change a knob, train again: both curves appear here."
    legend, band_bottom = _inside_legend(labels, fonts(projector), width, 4)
    return alt.Chart(
        {"values": rows},
        mark={"type": "line"},
        width=width,
        height=height,
        title=_title(
            title,
            "Same seed → same data order and initialisation: the curves differ only by the settings in the legend.",
            hint,
            width=width,
            projector=projector,
        ),
        config=vega_config(projector),
        encoding=alt.FacetedEncoding(
            x=_step_x(),
            y=alt.Y(
                "value:Q",
                title="validation " + LOSS_TITLE,
                scale=_y_scale(np.concatenate(ys), room=_band_room(band_bottom, height)),
            ),
            color=_series_colour(labels, colours, legend),
            strokeWidth=alt.StrokeWidth("current:N", legend=None, scale={"domain": [False, True], "range": [1.8, 3.2]}),
        ),
    )


# --------------------------------------------------------------------------- over seeds: a sweep's summary
def _arm_colours(n: int) -> list[str]:
    return [PALETTE[i % 7] for i in range(n)]  # Okabe–Ito without yellow and grey (too faint for a band)


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
        return _placeholder(
            title, "No finished trial yet — the bands fill in as seeds finish", width, height, projector
        )
    labels = [f"{arm.label} ({plural(len(arm.runs), 'seed')})" for arm in arms]
    columns: dict[str, list] = {"step": [], "mean": [], "lo": [], "hi": [], "series": [], "curve": []}
    for arm, label in zip(arms, labels):
        for key, curve in (("val_loss", "validation"), ("train_eval_loss", "training")):
            if curve == "training" and not show_train:
                continue
            b = arm.band(key)
            keep = _bucket_starts(b.step, MAX_POINTS // max(1, len(arms)))
            columns["step"].append(b.step[keep] * _epochs_per_step(arm) if x == "epoch" else b.step[keep])
            columns["mean"].append(b.mean[keep])
            columns["lo"].append(b.lo[keep])
            columns["hi"].append(b.hi[keep])
            columns["series"] += [label] * len(keep)
            columns["curve"] += [curve] * len(keep)
    means = np.concatenate(columns["mean"])
    bounds = np.concatenate([np.concatenate(columns["lo"]), np.concatenate(columns["hi"]), means])
    legend, band_bottom = _inside_legend(labels, fonts(projector), width, 4)
    rows = _rows(
        step=np.concatenate(columns["step"]),
        mean=means,
        lo=np.concatenate(columns["lo"]),
        hi=np.concatenate(columns["hi"]),
        series=columns["series"],
        curve=columns["curve"],
    )
    colour = _series_colour(labels, _arm_colours(len(labels)), legend)
    y_scale = _y_scale(bounds, room=_band_room(band_bottom, height))
    return alt.LayerChart(
        {"values": rows},
        layer=[
            _unit(
                {"type": "area", "opacity": 0.22},
                y=alt.Y("lo:Q", title="validation " + LOSS_TITLE, scale=y_scale),
                y2=alt.Y2("hi:Q"),
                color=_series_colour(labels, _arm_colours(len(labels)), None),  # the lines' legend, in full colour
                detail=alt.Detail("curve:N"),
            ),
            _unit(
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
        title=_title(
            title,
            "The line: the mean over the arm's seeds. The band: its 95 % interval (95 of 100 such bands from "
            "this many seeds hold the true mean)." + (" Dashed: training loss (eval mode)." if show_train else ""),
            width=width,
            projector=projector,
        ),
        width=width,
        height=height,
        encoding={"x": _step_x() if x == "step" else alt.X("step:Q", title="epochs (passes over the training text)")},
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
        return _placeholder(
            title, "Needs two arms with a seed finished in both", width=width, height=height, projector=projector
        )
    base = comparisons[0][0].label
    labels = [b.label for _, b, _ in comparisons]
    dots = [
        {"arm": b.label, "difference": d, "seed": f"seed {s}"}
        for _, b, p in comparisons
        for s, d in zip(p.seeds, p.differences)
    ]
    bars = _rows(
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
            _unit(
                {"type": "rule", "strokeWidth": max(6, f["tick"] // 2), "color": SKY, "opacity": 0.8},
                bars,
                x=alt.X("lo:Q", scale=x_scale, title=x_title),
                x2=alt.X2("hi:Q"),
                y=y,
            ),
            _unit(
                {"type": "tick", "color": BLUE, "thickness": 3, "size": f["tick"] * 2},
                bars,
                x=alt.X("mean:Q", scale=x_scale),
                y=y,
            ),
            _unit(
                {"type": "circle", "size": f["tick"] * 8, "color": VERMILLION, "opacity": 0.9},
                dots,
                x=x,
                y=y,
                tooltip=[alt.Tooltip("seed:N"), alt.Tooltip("difference:Q", format=".3f")],
            ),
            _unit(
                {"type": "rule", "color": INK, "strokeDash": [4, 3], "strokeWidth": 1.5},
                [{"zero": 0.0}],
                x=alt.X("zero:Q", scale=x_scale),
            ),
        ],
        title=_title(title, *sentences, width=width, projector=projector),
        width=width,
        height=min(height, max(90, 70 * len(labels))),
        config=vega_config(projector),
    )


LANDSCAPE_METRICS = {
    "best_val_ppl": "best validation perplexity (of the mean loss over seeds)",
    "final_gap": "mean final gap (nats)",
}


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
        return _placeholder(title, "No finished trial yet — cells fill in as trials finish", width, height, projector)
    x_knob, y_knob = knobs[0], (knobs[1] if len(knobs) > 1 else None)
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
    plot_height = min(height, max(80, 70 * len({c["y"] for c in cells})))
    order = lambda knob: [format_value(v) for v in sorted({a.knobs.get(knob) for a in summary.arms}, key=_sort_key)]  # noqa: E731
    f = fonts(projector)
    x = alt.X("x:O", title=x_knob, sort=order(x_knob), axis={"labelAngle": 0})
    y = alt.Y("y:O", title=y_knob or None, sort=list(reversed(order(y_knob))) if y_knob else None)
    lower = "lower is better" if metric == "best_val_ppl" else "smaller gap: less overfitting"
    return alt.LayerChart(
        {"values": cells},
        layer=[
            _unit(
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
            _unit(
                {"type": "rect", "fill": None, "stroke": VERMILLION, "strokeWidth": 5},
                transform=[{"filter": "datum.best"}],
                x=x,
                y=y,
            ),
            _unit(
                {"type": "text", "fontSize": f["annotation"], "fontWeight": "bold"},
                x=x,
                y=y,
                text=alt.Text("label:N"),
                color=alt.Color("dark:N", legend=None, scale={"domain": [False, True], "range": [INK, "white"]}),
            ),
        ],
        title=_title(
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
