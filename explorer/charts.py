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
pixels: vl-convert needs numbers, and Streamlit's `use_container_width` stretches them anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import numpy as np

from .config import format_value
from .history import Snapshot

WIDTH, HEIGHT = 640, 280
MAX_POINTS = 300   # points per curve after thinning
MAX_ROWS = 900     # rows of one chart's data, all series together (Altair refuses more than 5000)
MAX_CELLS = 560    # heatmap rectangles
MAX_COLUMNS = 120  # heatmap columns (adjacent detail records merged)
MAX_MARKERS = 24   # knob-change labels drawn (the latest ones)
EMPTY = "No data yet — press Train"

BLUE, VERMILLION, GREEN, ORANGE = "#0072B2", "#D55E00", "#009E73", "#E69F00"
PURPLE, SKY, YELLOW, BLACK, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999"
DARK_GREY = "#555555"  # knob-change marks: neutral, yet readable over the grid
PALETTE = [BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY, BLACK, YELLOW, GREY]
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
    tables = [np.array([[(r.get(k) or {}).get(g) for g in groups] for r in snap.details],
                       dtype=float).reshape(len(steps), len(groups)) for k in keys]
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
    return alt.Chart({"values": rows} if rows is not None else alt.Undefined, mark=mark,
                     transform=transform or alt.Undefined, encoding=alt.FacetedEncoding(**encoding))


def _layered(layers: list[alt.Chart], rows: list[dict], title: dict, width: int, height: int) -> alt.LayerChart:
    """Layers over one table, all with x = step (set once here); colour scales kept apart (a heatmap's
    shares are not a line's series)."""
    return alt.LayerChart({"values": rows}, layer=layers, title=title, width=width, height=height,
                          encoding={"x": _step_x()}, resolve={"scale": {"color": "independent"}})


def _title(text: str, *subtitle: str) -> dict:
    return {"text": text, "subtitle": [s for s in subtitle if s], "anchor": "start"}


def _placeholder(title: str, message: str = EMPTY, width: int = WIDTH, height: int = HEIGHT) -> alt.Chart:
    """A valid, empty-looking chart that says why it is empty."""
    return alt.Chart({"values": [{"message": message}]}, mark={"type": "text", "fontSize": 14, "color": GREY},
                     encoding=alt.FacetedEncoding(text=alt.Text("message:N"), x=alt.XValue(width / 2),
                                                  y=alt.YValue(height / 2)),
                     title=_title(title), width=width, height=height)


def _step_x() -> alt.X:
    return alt.X("step:Q", title="step", scale={"nice": False, "zero": False},
                 axis={"format": "~s", "tickMinStep": 1})


def _y_scale(values, log: bool = False, room: bool = False) -> dict:
    """A y scale fitted to the data, with the top fifth left free when knob labels will sit there."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values) & (values > 0 if log else True)]
    if not room or not len(values):
        return {"type": "log"} if log else {"zero": False}
    lo, hi = float(values.min()), float(values.max())
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or (abs(hi) or 1.0) * 0.1
    lo, hi = lo - 0.03 * span, hi + 0.25 * span
    if log:
        return {"type": "log", "domain": [10 ** lo, 10 ** hi], "nice": False}
    return {"domain": [lo, hi], "nice": False, "zero": False}


def _series_colour(domain: list[str], colours: list[str], columns: int = 0) -> alt.Color:
    return alt.Color("series:N", title=None, scale={"domain": domain, "range": colours},
                     legend={"orient": "bottom", "labelLimit": 600, "symbolStrokeWidth": 3, "columns": columns})


# --------------------------------------------------------------------------- markers: knob changes, the end
def _knob_labels(snap: Snapshot, span: float) -> list[tuple[int, str]]:
    """(step, "dropout 0 → 0.5") per knob change. Changes within 1% of the run of each other (a slider
    being dragged) merge into one label with the first old and the last new value."""
    merged: list[tuple[int, dict]] = []
    for event in sorted(snap.knob_changes(), key=lambda e: e["step"]):
        if not merged or event["step"] - merged[-1][0] > span / 100:
            merged.append((event["step"], {}))
        changes = merged[-1][1]
        old = changes[event["knob"]][0] if event["knob"] in changes else event["old"]
        changes[event["knob"]] = (old, event["new"])
    labels = [(step, ", ".join(f"{k} {format_value(a)} → {format_value(b)}" for k, (a, b) in changes.items() if a != b))
              for step, changes in merged]
    return [(step, text) for step, text in labels if text][-MAX_MARKERS:]


def _end_label(snap: Snapshot) -> tuple[int, str, str] | None:
    """(step, label, colour) for divergence or early stop; a normal finish needs no mark."""
    event = snap.final_event()
    if event is None or event["event"] == "finished":
        return None
    if event["event"] == "diverged":
        return event["step"], f"diverged: {event.get('cause', '')}".rstrip(": "), VERMILLION
    return event["step"], f"early stop (best step {event.get('best_step', '?')})", GREEN


def _markers(snap: Snapshot, lo: float, hi: float) -> list[dict]:
    """Data for vertical rules with labels, staggered over three rows (pixels from the top) so that
    neighbours do not overlap; labels right of 60% of the run end at their rule instead of starting."""
    rows = [(step, text, DARK_GREY) for step, text in _knob_labels(snap, hi - lo or 1.0)]
    end = _end_label(snap)
    if end:
        rows.append(end)
    steps = np.array([r[0] for r in rows], dtype=float)
    return _rows(step=steps, label=[r[1] for r in rows], colour=[r[2] for r in rows],
                 row=6 + 13 * (np.arange(len(rows)) % 3), right=steps > lo + 0.6 * (hi - lo))


def _marker_layers(markers: list[dict]) -> list[alt.Chart]:
    """A dashed rule per marker and its label; the label's y is pixels from the top (scale None)."""
    if not markers:
        return []
    colour = alt.Color("colour:N", scale=None)
    text = {"type": "text", "fontSize": 11, "baseline": "top",
            "align": {"expr": "datum.right ? 'right' : 'left'"}, "dx": {"expr": "datum.right ? -4 : 4"}}
    return [_unit({"type": "rule", "strokeDash": [4, 3], "strokeWidth": 1.5}, markers, color=colour),
            _unit(text, markers, y=alt.Y("row:Q", scale=None, axis=None), text=alt.Text("label:N"),
                  color=colour)]


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


def gap_chart(snap: Snapshot, metric: str = "loss", width: int = WIDTH, height: int = HEIGHT) -> alt.TopLevelMixin:
    """Training loss (eval mode, on the same fixed subset each time) and validation loss vs step, the gap
    between them shaded, knob changes and the best validation step marked. metric="ppl": perplexity."""
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
        return _placeholder(title, width=width, height=height)

    cap = _loss_cap(snap)
    capped = bool(np.nanmax(y) > cap)
    y = np.minimum(y, cap)
    shown = np.exp(y) if ppl else y
    lo, hi = float(x[0]), float(x[-1])
    markers = _markers(snap, lo, hi)
    y_title = "perplexity (log scale)" if ppl else LOSS_TITLE
    y_scale = _y_scale(shown, log=ppl, room=bool(markers))
    rows = _rows(step=x, **{s: shown[:, i] for i, s in enumerate(series)})
    notes = []
    layers = []
    if have_evals:
        layers.append(_unit({"type": "area", "color": VERMILLION, "opacity": 0.15},
                            y=alt.Y(field=TRAIN_EVAL, type="quantitative", scale=y_scale, title=y_title),
                            y2=alt.Y2(field=VALIDATION)))
    layers.append(_unit({"type": "line", "strokeWidth": 2.5, "point": bool(len(x) < 40)},
                        transform=[{"fold": series, "as": ["series", "value"]}],
                        y=alt.Y("value:Q", title=y_title, scale=y_scale),
                        color=_series_colour(series, [BLUE, VERMILLION][:len(series)])))

    if have_evals:
        both = np.flatnonzero(np.isfinite(shown).all(axis=1))
        if len(both):
            (train_now, val_now), at = shown[both[-1]], int(x[both[-1]])
            notes.append(f"Shaded: the gap, validation − training = {val_now - train_now:.3f} nats/token at step {at}."
                         if not ppl else
                         f"Shaded: the gap; validation perplexity is {val_now / train_now:.2f}× training at step {at}.")
        best = _best(snap, evals)
        if best is not None and best[1] <= cap:
            step, loss = best
            value = math.exp(loss) if ppl else loss
            notes.append(f"Black diamond: best validation {name}, {value:.1f} at step {step}." if ppl else
                         f"Black diamond: best validation {name}, {value:.3f} at step {step}.")
            layers.append(_unit({"type": "point", "shape": "diamond", "size": 150, "filled": True, "color": BLACK,
                                 "opacity": 1}, _rows(step=[step], value=[value]), y=alt.Y("value:Q")))
    else:
        notes.append("Too few evaluations yet: showing the training-batch loss (train mode) until there are two.")
    if capped:
        notes.append(f"Losses above {cap:.1f} nats/token (twice a uniform guess: the model blew up) "
                     "are drawn at that level.")
    layers += _marker_layers(markers)
    return _layered(layers, rows, _title(title, *notes), width, height)


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
    from .metrics import GRAD_HIST_EDGES  # imports torch: only when the start record is missing
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


def gradient_histogram_chart(snap: Snapshot, width: int = WIDTH, height: int = HEIGHT) -> alt.TopLevelMixin:
    """Where the gradient mass sits (log10 |g| per entry) at each step, with the total norm before
    clipping on the same log axis, the clip threshold, and the steps where clipping fired."""
    title = "Gradient magnitudes over time"
    cells, steps = _heatmap(snap), _steps(snap)
    log_norm = _log10(steps["grad_norm"])
    x, norm = _thin(steps["step"], log_norm, n=150, how="max")
    if cells is None and not len(x):
        return _placeholder(title, width=width, height=height)

    series, colours = ["total gradient norm before clipping"], [BLACK]
    clip_x, clip_y, clip_id = _clip_segments(steps)
    if len(clip_x):
        series.append("clip threshold")
        colours.append(VERMILLION)
    hit_x, hit_y = _thin(steps["step"], np.where(steps["clipped"] > 0, log_norm, np.nan), n=150, how="max")

    all_x = np.concatenate([x, clip_x] + ([cells["step"], cells["step2"]] if cells else []))
    lo, hi = float(all_x.min()), float(all_x.max())
    markers = _markers(snap, lo, hi)
    all_y = np.concatenate([norm, clip_y] + ([cells["lo"], cells["hi"]] if cells else []))
    bottom, top = float(np.nanmin(all_y)), float(np.nanmax(all_y))
    top += 0.2 * (top - bottom) if markers else 0.3  # room for the knob labels
    y_title = "log10 |gradient|"
    y_scale = {"domain": [math.floor(bottom), top], "nice": False}
    y = alt.Y("value:Q", title=y_title, scale=y_scale)

    line = _rows(step=np.concatenate([x, clip_x]), value=np.concatenate([norm, clip_y]),
                 series=[series[0]] * len(x) + ["clip threshold"] * len(clip_x),
                 segment=np.concatenate([np.full(len(x), -1), clip_id]))
    layers = []
    if cells:
        layers.append(_unit({"type": "rect"}, x2=alt.X2("step2:Q"),
                            y=alt.Y("lo:Q", title=y_title, scale=y_scale), y2=alt.Y2("hi:Q"),
                            color=alt.Color("share:Q", title="share of entries", scale={"scheme": "blues", "type": "sqrt"},
                                            legend={"format": "%", "orient": "right", "gradientLength": 120})))
    if len(hit_x):  # under the line; a shape legend of its own (a colour legend would repeat per mark type)
        layers.append(_unit({"type": "point", "filled": True, "size": 22, "opacity": 1, "color": VERMILLION},
                            _rows(step=hit_x, value=hit_y, series="clipped step"), y=y,
                            shape=alt.Shape("series:N", title=None, scale={"range": ["circle"]},
                                            legend={"orient": "bottom", "symbolFillColor": VERMILLION,
                                                    "symbolStrokeColor": VERMILLION})))
    layers.append(_unit({"type": "line", "strokeWidth": 2}, line, y=y, detail=alt.Detail("segment:N"),
                        color=_series_colour(series, colours),
                        strokeDash=alt.StrokeDash("series:N", legend=None,
                                                  scale={"domain": series, "range": [[1, 0], [6, 3]][:len(series)]})))
    layers += _marker_layers(markers)

    notes = ["Colour: share of all gradient entries in each half-decade of |g| "
             "(bottom row: exact zeros too; top row: everything ≥ 100)."]
    if len(clip_x):
        notes.append("clip_mode=norm: when the black line is above the dashed red one, the whole gradient is "
                     "scaled down (red dots)." if _last(snap, "clip_mode", "norm") == "norm" else
                     "clip_mode=value: each entry above the dashed red line is cut to it "
                     "(red dots: steps where that happened).")
    return _layered(layers, _rows(**cells) if cells else [], _title(title, *notes), width, height)


def _last(snap: Snapshot, knob: str, default):
    return snap.steps[-1].get(knob, default) if snap.steps else default


# --------------------------------------------------------------------------- 3. per-layer gradients
def _group_rows(snap: Snapshot, keys: list[str], how: str = "mean", log: bool = False,
                skip: tuple[str, ...] = ()) -> tuple[list[dict], list[str]]:
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
    rows = _rows(step=np.concatenate([x for _, x, _ in parts]),
                 group=[g for g, x, _ in parts for _ in range(len(x))],
                 **{k: np.concatenate([y[:, i] for _, _, y in parts]) for i, k in enumerate(keys)})
    return rows, [g for g, _, _ in parts]


def _group_colour(snap: Snapshot, shown: list[str]) -> alt.Color:
    """One colour per group, fixed by its place in the model: the same in every chart and every run."""
    every = _groups(snap)
    colours = [PALETTE[every.index(g) % len(PALETTE)] for g in shown]
    return alt.Color("group:N", title="parameter group", sort=shown, scale={"domain": shown, "range": colours},
                     legend={"orient": "bottom", "columns": 5, "labelLimit": 200, "symbolStrokeWidth": 3})


def layer_gradient_chart(snap: Snapshot, width: int = WIDTH, height: int = HEIGHT) -> alt.TopLevelMixin:
    """Gradient norm of each parameter group (log scale, bucket maxima): vanishing shows as early layers
    sinking decades below the decoder, exploding as every layer jumping at once."""
    title = "Gradient norm per layer"
    rows, shown = _group_rows(snap, ["grad_norms"], how="max", log=True)
    if not rows:
        return _placeholder(title, width=width, height=height)
    steps = [row["step"] for row in rows]
    markers = _markers(snap, min(steps), max(steps))
    values = [row["grad_norms"] for row in rows if row["grad_norms"] is not None]
    line = _unit({"type": "line", "strokeWidth": 2}, color=_group_colour(snap, shown),
                 y=alt.Y("grad_norms:Q", title="gradient L2 norm (log scale)",
                         scale=_y_scale(values, log=True, room=bool(markers))))
    return _layered([line, *_marker_layers(markers)], rows, _title(
        title, "Measured before clipping. Early layers decades below the decoder: vanishing gradients;",
        "every layer spiking together: exploding. Groups with no gradient (norm while off) are hidden."),
        width, height)


# --------------------------------------------------------------------------- 4. weight norms
def weight_norm_chart(snap: Snapshot, width: int = WIDTH, height: int = 200) -> alt.TopLevelMixin:
    """Three panels per group: L2 norm, L1 norm and the share of near-zero weights. L2 shrinks every
    weight a little (both norms fall together); L1 drives many weights to ~0 (the share rises).
    The norm group is left out: the penalties never act on normalisation parameters."""
    title = "Weight norms per layer"
    rows, shown = _group_rows(snap, ["weight_l2", "weight_l1", "near_zero"], skip=("norm",))
    if not rows:
        return _placeholder(title, width=width, height=height)
    near_zero = [row["near_zero"] for row in rows if row["near_zero"] is not None]
    top = min(1.0, max(0.05, 1.1 * max(near_zero, default=0.0)))  # noise of 0.1% stays flat
    step_x, colour, log = _step_x(), _group_colour(snap, shown), {"type": "log"}
    panels = [
        alt.Chart(mark={"type": "line", "strokeWidth": 2}, width=max(120, (width - 140) // 3), height=height,
                  encoding=alt.FacetedEncoding(x=step_x, y=y, color=colour))
        for y in (alt.Y("weight_l2:Q", title="L2 norm √Σw² (log scale)", scale=log, axis={"format": "~g"}),
                  alt.Y("weight_l1:Q", title="L1 norm Σ|w| (log scale)", scale=log, axis={"format": "~g"}),
                  alt.Y("near_zero:Q", title="share of weights with |w| < 0.001", scale={"domain": [0, top]},
                        axis={"format": "%"}))]
    return alt.HConcatChart(data={"values": rows}, hconcat=panels, spacing=28, title=_title(
        title, "L2 / weight decay: both norms shrink smoothly. L1: weights are pushed to zero, so the share on "
               "the right grows.", "Biases and normalisation parameters are not penalised and not shown."))


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
    (knobs as they were at its end; "(from step N)" when the run changed it mid-way). Repeated names
    get " (2)", " (3)" as in the comparison chart's legend."""
    settings = [_settings(s) for s in snaps]
    keys = [k for k in dict.fromkeys(k for s in settings for k in s) if k not in IGNORED_IN_DIFFERENCES]
    differing = [k for k in keys if len({format_value(s.get(k)) for s in settings}) > 1]
    out = {}
    for name, snap, values in zip(_unique_names(snaps), snaps, settings):
        changed = {e["knob"]: e["step"] for e in snap.knob_changes()}
        parts = [f"{k} {format_value(values.get(k, '?'))}" + (f" (from step {changed[k]})" if k in changed else "")
                 for k in differing]
        out[name] = ", ".join(parts) if parts else ("same settings" if len(snaps) > 1 else "")
    return out


def comparison_chart(snaps: Sequence[Snapshot], width: int = WIDTH, height: int = HEIGHT) -> alt.TopLevelMixin:
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
        return _placeholder(title, "No validation loss yet — press Train, then save runs to compare",
                            width=width, height=height)
    rows = _rows(step=np.concatenate(xs), value=np.concatenate(ys), current=np.concatenate(current),
                 series=[label for label, x in zip(labels, xs) for _ in range(len(x))])
    hint = "" if len(snaps) > 1 else "Save this run, change a knob, train again: both curves appear here."
    return alt.Chart({"values": rows}, mark={"type": "line"}, width=width, height=height, title=_title(
        title, "Same seed → same data order and initialisation: the curves differ only by the settings in the "
               "legend.", hint), encoding=alt.FacetedEncoding(
        x=_step_x(), y=alt.Y("value:Q", title="validation " + LOSS_TITLE, scale={"zero": False}),
        color=_series_colour(labels, colours, columns=1),  # one run per line: the labels are long
        strokeWidth=alt.StrokeWidth("current:N", legend=None, scale={"domain": [False, True], "range": [1.8, 3.2]})))


# --------------------------------------------------------------------------- all of them
def all_charts(snap: Snapshot, saved: Sequence[Snapshot] = (), width: int = WIDTH,
               metric: str = "loss") -> dict[str, alt.TopLevelMixin]:
    """Every chart for one redraw (both front ends and the benchmark use this). Keys: gap,
    gradient_histogram, layer_gradients, weight_norms, comparison (saved runs + this one)."""
    return {
        "gap": gap_chart(snap, metric=metric, width=width),
        "gradient_histogram": gradient_histogram_chart(snap, width=width),
        "layer_gradients": layer_gradient_chart(snap, width=width),
        "weight_norms": weight_norm_chart(snap, width=width),
        "comparison": comparison_chart([*saved, snap], width=width),
    }
