"""Altair chart builders: a `Snapshot` in, an `alt.Chart` out (pure functions, no state, no UI imports).

Both front ends redraw these several times a second while a run grows, so every builder first turns
the snapshot into small numpy arrays (`_steps`, `_evals`, `_details`), thins them to a few hundred
points (bucket means for losses, bucket maxima for gradient norms so a spike is never averaged away),
drops NaN/inf (a diverged run must still draw), and only then hands Altair a DataFrame.

Colours are Okabe–Ito (safe for colour-blind students). Every builder takes `width`/`height` in
pixels (vl-convert needs numbers; Streamlit's `use_container_width` stretches them anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from .history import Snapshot

WIDTH, HEIGHT = 640, 280
MAX_POINTS = 300        # points per curve after thinning
MAX_CELLS = 640         # heatmap rectangles per chart
MAX_COLUMNS = 120       # heatmap columns (merged detail records)
MAX_MARKERS = 24        # knob-change labels drawn (the latest ones)
EMPTY = "No data yet — press Train"

BLUE, VERMILLION, GREEN, ORANGE = "#0072B2", "#D55E00", "#009E73", "#E69F00"
PURPLE, SKY, YELLOW, BLACK, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999"
PALETTE = [BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY, BLACK, YELLOW, GREY]
LOSS_TITLE = "loss (nats/token)"


# --------------------------------------------------------------------------- snapshot -> arrays
def _column(records: list[dict], key: str) -> np.ndarray:
    """One field of every record as floats; missing or None becomes NaN."""
    return np.array([r.get(key) for r in records], dtype=float)


def _steps(snap: Snapshot) -> dict[str, np.ndarray]:
    recs = snap.steps
    return {key: _column(recs, key) for key in ("step", "train_loss", "grad_norm", "clipped", "clip")}


def _evals(snap: Snapshot) -> dict[str, np.ndarray]:
    recs = snap.evals
    return {key: _column(recs, key) for key in ("step", "train_eval_loss", "val_loss")}


def _groups(snap: Snapshot, key: str) -> list[str]:
    """Parameter-group names in model order (embedding, layer1.input, ..., decoder)."""
    names = list((snap.start or {}).get("groups", []))
    for rec in snap.details[-1:]:
        names += [g for g in rec.get(key, {}) if g not in names]
    return names


def _details(snap: Snapshot, key: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {group: values}) for a per-group detail field such as grad_norms or weight_l2."""
    recs = [r for r in snap.details if key in r]
    steps = _column(recs, "step")
    return steps, {g: np.array([r[key].get(g) for r in recs], dtype=float) for g in _groups(snap, key)}


def _bucket_starts(x: np.ndarray, n: int) -> np.ndarray:
    """Start indices of ≤ n buckets of equal width in STEPS (not in records: history keeps recent
    steps denser than old ones, and the x axis is steps)."""
    if len(x) <= n:
        return np.arange(len(x))
    edges = np.linspace(x[0], x[-1], n + 1)[1:-1]
    return np.unique(np.concatenate([[0], np.searchsorted(x, edges, side="right")]))


def _thin(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS, how: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Reduce (x, y) to ≤ n bucket means (or maxima, to keep spikes), ignoring NaN/inf. `y` may have
    several columns (one per series, thinned on the same steps). Each bucket sits at its last step,
    so the newest point is always the latest value. Rows with no finite value are dropped."""
    y = np.asarray(y, dtype=float)
    columns = y.reshape(len(y), -1)
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
    return x, (columns.reshape(len(x), *y.shape[1:]))


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values), np.nan)


def _fmt(value) -> str:
    """A knob value as a student would write it: on/off, 0.5, 0.0001, 3."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------- markers (knobs, ends)
def _knob_labels(snap: Snapshot, span: float) -> list[tuple[int, str]]:
    """(step, "dropout 0 → 0.5") for each knob change. Changes within 1% of the run of each other (a
    slider being dragged) merge into one label with the first old and the last new value."""
    merged: list[tuple[int, dict]] = []
    for event in sorted(snap.knob_changes(), key=lambda e: e["step"]):
        if merged and event["step"] - merged[-1][0] <= span / 100:
            changes = merged[-1][1]
        else:
            changes = {}
            merged.append((event["step"], changes))
        old = changes[event["knob"]][0] if event["knob"] in changes else event["old"]
        changes[event["knob"]] = (old, event["new"])
    labels = []
    for step, changes in merged:
        text = ", ".join(f"{k} {_fmt(a)} → {_fmt(b)}" for k, (a, b) in changes.items() if a != b)
        if text:
            labels.append((step, text))
    return labels[-MAX_MARKERS:]


def _end_label(snap: Snapshot) -> tuple[int, str] | None:
    """Divergence or early stop (a normal finish needs no mark)."""
    event = snap.final_event()
    if event is None or event["event"] == "finished":
        return None
    if event["event"] == "diverged":
        return event["step"], f"diverged: {event.get('cause', '')}".rstrip(": ")
    return event["step"], f"early stop (best step {event.get('best_step', '?')})"


def _markers(snap: Snapshot, span: float) -> pd.DataFrame:
    """Vertical rules with labels, staggered over three rows so neighbours do not overlap."""
    rows = [(s, t, "knob change") for s, t in _knob_labels(snap, span)]
    end = _end_label(snap)
    if end:
        rows.append((*end, "diverged" if end[1].startswith("diverged") else "early stop"))
    frame = pd.DataFrame(rows, columns=["step", "label", "kind"])
    frame["label_y"] = 6 + 13 * (np.arange(len(frame)) % 3)
    return frame


MARKER_COLOURS = alt.Scale(domain=["knob change", "early stop", "diverged"], range=[GREY, GREEN, VERMILLION])


def _marker_layers(markers: pd.DataFrame, lo: float, hi: float) -> list[alt.Chart]:
    """Rule + label per marker. A label's y is in pixels from the top (scale=None), so it sits above
    the curves whatever the y scale is; labels right of the middle end at their rule, the others
    start there, so none runs off the plot."""
    if markers.empty:
        return []
    colour = alt.Color("kind:N", scale=MARKER_COLOURS, legend=None)
    layers = [alt.Chart(markers).mark_rule(strokeDash=[4, 3], strokeWidth=1.5).encode(x=alt.X("step:Q"), color=colour)]
    right = markers["step"] > lo + 0.6 * (hi - lo)
    for part, align, dx in ((markers[~right], "left", 4), (markers[right], "right", -4)):
        if not part.empty:
            layers.append(alt.Chart(part).mark_text(align=align, dx=dx, fontSize=11, baseline="top").encode(
                x=alt.X("step:Q"), y=alt.Y("label_y:Q", scale=None, axis=None), text=alt.Text("label:N"), color=colour))
    return layers


# --------------------------------------------------------------------------- shared chart bits
def _title(text: str, *subtitle: str) -> alt.Title:
    return alt.Title(text, subtitle=[s for s in subtitle if s], anchor="start")


def _placeholder(title: str, message: str = EMPTY, width: int = WIDTH, height: int = HEIGHT) -> alt.Chart:
    """A valid, empty-looking chart that says why it is empty."""
    return alt.Chart(pd.DataFrame({"message": [message]})).mark_text(fontSize=14, color=GREY).encode(
        text=alt.Text("message:N"), x=alt.XValue(width / 2), y=alt.YValue(height / 2),
    ).properties(title=_title(title), width=width, height=height)


def _y_scale(values, log: bool = False, room: bool = False, zero: bool = False) -> alt.Scale:
    """A y scale fitted to the data, with the top fifth left free when knob labels will sit there."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not room or not len(values):
        return alt.Scale(type="log") if log else alt.Scale(zero=zero)
    lo, hi = float(values.min()), float(values.max())
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    lo = min(lo, 0.0) if zero and not log else lo
    span = (hi - lo) or (abs(hi) or 1.0) * 0.1
    lo, hi = lo - 0.03 * span, hi + 0.25 * span
    if log:
        return alt.Scale(type="log", domain=[10 ** lo, 10 ** hi], nice=False)
    return alt.Scale(domain=[lo, hi], nice=False, zero=zero)


def _step_axis(title: str = "step") -> alt.X:
    return alt.X("step:Q", title=title, scale=alt.Scale(nice=False, zero=False),
                 axis=alt.Axis(format="~s", tickMinStep=1))


def _series_colour(domain: list[str], colours: list[str], title: str | None = None) -> alt.Color:
    return alt.Color("series:N", title=title, scale=alt.Scale(domain=domain, range=colours),
                     legend=alt.Legend(orient="bottom", labelLimit=400, symbolStrokeWidth=3))


# --------------------------------------------------------------------------- 1. generalisation gap
def _loss_cap(snap: Snapshot) -> float:
    """Losses above twice a uniform guess (ln V) mean the run blew up; drawing them would flatten every
    other curve, so they are drawn at this cap instead (and the subtitle says so)."""
    vocab = (snap.start or {}).get("vocab_size") or 1000
    return 2 * math.log(max(vocab, 2))


def gap_chart(snap: Snapshot, metric: str = "loss", width: int = WIDTH, height: int = HEIGHT) -> alt.LayerChart:
    """Training loss (eval mode, same fixed subset every time) and validation loss vs step with the gap
    between them shaded, knob changes and the best validation step marked. metric="ppl": perplexity."""
    if metric not in ("loss", "ppl"):
        raise ValueError(f"metric must be 'loss' or 'ppl', got {metric!r}")
    metric_name = "perplexity" if metric == "ppl" else "loss"
    title = f"Generalisation gap: training vs validation {metric_name}"
    steps, evals = _steps(snap), _evals(snap)
    cap = _loss_cap(snap)
    have_evals = np.isfinite(evals["val_loss"]).sum() >= 2  # a curve needs two points
    if have_evals:
        series = ["training (eval mode)", "validation"]
        x, y = _thin(evals["step"], np.column_stack([evals["train_eval_loss"], evals["val_loss"]]))
        frame = pd.DataFrame({"step": x, series[0]: y[:, 0], series[1]: y[:, 1]})
        colours = [BLUE, VERMILLION]
    else:
        x, train = _thin(steps["step"], steps["train_loss"])
        frame = pd.DataFrame({"step": x, "training batch (train mode)": train})
        series, colours = ["training batch (train mode)"], [BLUE]
    if frame.empty:
        return _placeholder(title, width=width, height=height)

    capped = bool((frame[series] > cap).any().any())
    frame[series] = frame[series].clip(upper=cap)
    if metric == "ppl":
        frame[series] = np.exp(frame[series])
    frame = frame.sort_values("step")
    lo, hi = float(frame["step"].min()), float(frame["step"].max())
    span = hi - lo or 1.0

    y_title = "perplexity (log scale)" if metric == "ppl" else LOSS_TITLE
    markers = _markers(snap, span)
    y_scale = _y_scale(frame[series].to_numpy(), log=metric == "ppl", room=not markers.empty)
    base = alt.Chart(frame).encode(x=_step_axis())
    layers = []
    if have_evals:
        layers.append(base.mark_area(color=VERMILLION, opacity=0.15).encode(
            y=alt.Y("training (eval mode):Q", scale=y_scale), y2=alt.Y2("validation:Q")))
    layers.append(base.transform_fold(series, as_=["series", "value"]).mark_line(
        strokeWidth=2.5, point=len(frame) < 40).encode(
        y=alt.Y("value:Q", title=y_title, scale=y_scale), color=_series_colour(series, colours)))

    notes = []
    if have_evals:
        best = _best(snap, evals)
        if best is not None and best[1] <= cap:
            bstep, bloss = best
            shown = math.exp(min(bloss, cap)) if metric == "ppl" else min(bloss, cap)
            notes.append(f"Best validation {metric_name}: {shown:.3f} at step {bstep}." if metric == "loss" else
                         f"Best validation {metric_name}: {shown:.1f} at step {bstep}.")
            point = pd.DataFrame({"step": [bstep], "value": [shown], "label": ["best"]})
            pbase = alt.Chart(point).encode(x=alt.X("step:Q"), y=alt.Y("value:Q", scale=y_scale))
            layers += [pbase.mark_point(shape="diamond", size=140, filled=True, color=BLACK, opacity=1),
                       pbase.mark_text(dy=-14, fontSize=11, fontWeight="bold", color=BLACK).encode(text=alt.Text("label:N"))]
        both = frame.dropna()
        if not both.empty:
            last = both.iloc[-1]
            train_now, val_now, at = last["training (eval mode)"], last["validation"], int(last["step"])
            notes.insert(0, f"Shaded: the gap, validation − training = {val_now - train_now:.3f} nats/token at step {at}."
                         if metric == "loss" else
                         f"Shaded: the gap; validation perplexity is {val_now / train_now:.2f}× training at step {at}.")
    else:
        notes.append("Too few evaluations yet: showing the training-batch loss (train mode) until there are two.")
    if capped:
        notes.append(f"Losses above {cap:.1f} nats/token (twice a uniform guess: the model blew up) are drawn at that level.")
    layers += _marker_layers(markers, lo, hi)
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        title=_title(title, *notes), width=width, height=height)


def _best(snap: Snapshot, evals: dict[str, np.ndarray]) -> tuple[int, float] | None:
    """(step, loss) of the best validation loss: the trainer's own running best if the latest eval
    carries it (thinned history may have dropped that eval), else the best eval kept."""
    for rec in reversed(snap.evals):
        if "best_step" in rec and math.isfinite(rec.get("best_val_loss", math.nan)):
            return int(rec["best_step"]), float(rec["best_val_loss"])
    val = np.where(np.isfinite(evals["val_loss"]), evals["val_loss"], np.inf)
    if not np.isfinite(val).any():
        return None
    i = int(np.argmin(val))
    return int(evals["step"][i]), float(val[i])


# --------------------------------------------------------------------------- 2. gradient histogram
def _heatmap(snap: Snapshot) -> pd.DataFrame:
    """Cells (step, step2, lo, hi, share) of the log10|g| histogram over time. Adjacent detail records
    merge into one column and pairs of bins into half decades until ≤ MAX_CELLS non-empty cells."""
    recs = [r for r in snap.details if r.get("grad_hist")]
    if not recs:
        return pd.DataFrame(columns=["step", "step2", "lo", "hi", "share"])
    edges = np.asarray((snap.start or {}).get("grad_hist_edges") or _default_edges(), dtype=float)
    counts = np.array([r["grad_hist"] for r in recs], dtype=float)
    steps = _column(recs, "step")
    counts = counts[:, 0::2] + counts[:, 1::2] if counts.shape[1] % 2 == 0 else counts
    edges = edges[::2] if len(edges) == counts.shape[1] * 2 + 1 else edges
    occupied = max(1, int((counts.sum(0) > 0).sum()))
    starts = _bucket_starts(steps, max(8, min(MAX_COLUMNS, MAX_CELLS // occupied)))
    ends = np.append(starts[1:], len(steps))
    merged = np.add.reduceat(counts, starts, axis=0)
    totals = merged.sum(1, keepdims=True)
    share = np.divide(merged, totals, out=np.zeros_like(merged), where=totals > 0)
    right = steps[ends - 1]
    gap = np.median(np.diff(steps)) if len(steps) > 1 else 1.0
    left = np.concatenate([[right[0] - gap * (ends[0] - starts[0])], right[:-1]])
    col, row = np.nonzero(share > 0)
    return pd.DataFrame({"step": left[col], "step2": right[col], "lo": edges[row], "hi": edges[row + 1],
                         "share": share[col, row]})


def _default_edges() -> list[float]:
    from .metrics import GRAD_HIST_EDGES  # torch import only when the start record is missing
    return GRAD_HIST_EDGES.tolist()


def gradient_histogram_chart(snap: Snapshot, width: int = WIDTH, height: int = HEIGHT) -> alt.LayerChart:
    """Where the gradient mass sits (log10 |g| per entry) at each step, with the total norm before
    clipping on the same log axis, the clip threshold, and the steps where clipping fired."""
    title = "Gradient magnitudes over time"
    cells, steps = _heatmap(snap), _steps(snap)
    log_norm = _log10(steps["grad_norm"])
    x, norm = _thin(steps["step"], log_norm, n=200, how="max")
    if cells.empty and not len(x):
        return _placeholder(title, width=width, height=height)

    series, colours = ["total gradient norm before clipping"], [BLACK]
    lines = pd.DataFrame({"step": x, "value": norm, "series": series[0], "segment": -1})
    clip = _clip_segments(steps)
    if not clip.empty:
        series.append("clip threshold")
        colours.append(VERMILLION)
        lines = pd.concat([lines, clip], ignore_index=True)
    xc, yc = _thin(steps["step"], np.where(steps["clipped"] > 0, log_norm, np.nan), n=200, how="max")
    points = pd.DataFrame({"step": xc, "value": yc, "series": "clipped step"})

    lo, hi = _step_range(cells, lines)
    markers = _markers(snap, hi - lo or 1.0)
    values = np.concatenate([cells["lo"], cells["hi"], lines["value"]]).astype(float)
    bottom, top = float(values.min()), float(values.max())
    top += 0.2 * (top - bottom) if not markers.empty else 0.3  # room for the knob labels
    y_title, y_scale = "log10 |gradient|", alt.Scale(domain=[math.floor(bottom), top], nice=False)
    y = alt.Y("value:Q", title=y_title, scale=y_scale)
    x_axis = _step_axis()
    colour = _series_colour(series, colours)
    layers = []
    if not cells.empty:
        layers.append(alt.Chart(cells).mark_rect().encode(
            x=x_axis, x2=alt.X2("step2:Q"), y=alt.Y("lo:Q", title=y_title, scale=y_scale), y2=alt.Y2("hi:Q"),
            color=alt.Color("share:Q", title="share of entries", scale=alt.Scale(scheme="blues", type="sqrt"),
                            legend=alt.Legend(format="%", orient="right", gradientLength=120))))
    if len(xc):  # under the lines; a shape legend of its own (colour legends would repeat per mark type)
        layers.append(alt.Chart(points).mark_point(filled=True, size=22, opacity=1, color=VERMILLION).encode(
            x=x_axis, y=y, shape=alt.Shape("series:N", title=None, scale=alt.Scale(range=["circle"]),
                                           legend=alt.Legend(orient="bottom", symbolFillColor=VERMILLION,
                                                             symbolStrokeColor=VERMILLION))))
    dash = alt.StrokeDash("series:N", scale=alt.Scale(domain=series, range=[[1, 0], [6, 3]][:len(series)]),
                          legend=None)
    layers.append(alt.Chart(lines).mark_line(strokeWidth=2).encode(
        x=x_axis, y=y, color=colour, strokeDash=dash, detail=alt.Detail("segment:N")))
    layers += _marker_layers(markers, lo, hi)

    notes = ["Colour: share of all gradient entries in each half-decade of |g| (bottom row: exact zeros too; top row: everything ≥ 100)."]
    if not clip.empty:
        notes.append("clip_mode=norm: when the black line is above the dashed red one, the whole gradient is scaled down (red dots)."
                     if _last_knob(snap, "clip_mode", "norm") == "norm" else
                     "clip_mode=value: each entry above the dashed red line is cut to it (red dots: steps where that happened).")
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        title=_title(title, *notes), width=width, height=height)


def _step_range(*frames: pd.DataFrame) -> tuple[float, float]:
    steps = np.concatenate([f[c].to_numpy(float) for f in frames for c in ("step", "step2") if c in f])
    return (float(steps.min()), float(steps.max())) if len(steps) else (0.0, 1.0)


def _clip_segments(steps: dict[str, np.ndarray]) -> pd.DataFrame:
    """The clip threshold as flat segments (log10 clip) over the steps where it was on."""
    step, clip = steps["step"], steps["clip"]
    if not len(step):
        return pd.DataFrame(columns=["step", "value", "series", "segment"])
    change = np.flatnonzero(np.diff(clip) != 0) + 1
    starts, ends = np.concatenate([[0], change]), np.concatenate([change, [len(step)]]) - 1
    rows = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        if clip[a] > 0 and np.isfinite(clip[a]):
            rows += [(step[a], math.log10(clip[a]), i), (step[b], math.log10(clip[a]), i)]
    frame = pd.DataFrame(rows, columns=["step", "value", "segment"])
    return frame.assign(series="clip threshold")


def _last_knob(snap: Snapshot, name: str, default):
    return snap.steps[-1].get(name, default) if snap.steps else default


# --------------------------------------------------------------------------- 3. per-layer gradients
def _group_frame(snap: Snapshot, keys: list[str], how: str = "mean", log: bool = False) -> pd.DataFrame:
    """Frame (step, group, *keys) of per-group detail fields, thinned so all groups together stay
    under ~900 rows. Non-finite values (and non-positive ones, for log axes) become NaN = not drawn."""
    groups = [g for g in _groups(snap, keys[0])]
    steps = _column(snap.details, "step")
    n = min(MAX_POINTS, 900 // max(1, len(groups)))
    parts = []
    for group in groups:
        values = np.column_stack([[r.get(k, {}).get(group) for r in snap.details] for k in keys]).astype(float)
        if log:
            values[values <= 0] = np.nan
        x, y = _thin(steps, values, n=n, how=how)
        parts.append(pd.DataFrame({"step": x, "group": group, **{k: y[:, i] for i, k in enumerate(keys)}}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["step", "group", *keys])


def _group_colour(snap: Snapshot, shown: set[str]) -> alt.Color:
    """One colour per group, fixed by its place in the model (the same in every chart and every run)."""
    every = _groups(snap, "grad_norms")
    groups = [g for g in every if g in shown]
    colours = [PALETTE[every.index(g) % len(PALETTE)] for g in groups]
    return alt.Color("group:N", title="parameter group", sort=groups, scale=alt.Scale(domain=groups, range=colours),
                     legend=alt.Legend(orient="bottom", columns=5, labelLimit=200, symbolStrokeWidth=3))


def layer_gradient_chart(snap: Snapshot, width: int = WIDTH, height: int = HEIGHT) -> alt.LayerChart:
    """Gradient norm of each parameter group (log scale, bucket maxima): vanishing shows as early
    layers / the recurrent weights sinking decades below the decoder; exploding as a jump in all."""
    title = "Gradient norm per layer"
    frame = _group_frame(snap, ["grad_norms"], how="max", log=True).dropna()
    if frame.empty:
        return _placeholder(title, width=width, height=height)
    lo, hi = float(frame["step"].min()), float(frame["step"].max())
    markers = _markers(snap, hi - lo or 1.0)
    lines = alt.Chart(frame).mark_line(strokeWidth=2).encode(
        x=_step_axis(), y=alt.Y("grad_norms:Q", title="gradient L2 norm (log scale)",
                                scale=_y_scale(frame["grad_norms"], log=True, room=not markers.empty)),
        color=_group_colour(snap, set(frame["group"])))
    return alt.layer(lines, *_marker_layers(markers, lo, hi)).resolve_scale(color="independent").properties(
        title=_title(title, "Measured before clipping. Early layers decades below the decoder: vanishing gradients;",
                    "every layer spiking together: exploding. Groups with no gradient (norm while off) are hidden."),
        width=width, height=height)


# --------------------------------------------------------------------------- 4. weight norms
WEIGHT_PANELS = {"weight_l2": "L2 norm √Σw² (log scale)",
                 "weight_l1": "L1 norm Σ|w| (log scale)",
                 "near_zero": "share of weights with |w| < 0.001"}


def weight_norm_chart(snap: Snapshot, width: int = WIDTH, height: int = 200) -> alt.HConcatChart | alt.Chart:
    """Three panels per group: L2 norm, L1 norm and the share of near-zero weights. L2 shrinks every
    weight a little (both norms fall together); L1 drives many weights to ~0 (the share rises).
    The norm group is left out: the penalties never act on normalisation parameters."""
    title = "Weight norms per layer"
    frame = _group_frame(snap, list(WEIGHT_PANELS))
    frame = frame[frame["group"] != "norm"]
    if frame.empty:
        return _placeholder(title, width=width, height=height)
    frame[["weight_l2", "weight_l1"]] = frame[["weight_l2", "weight_l1"]].where(frame[["weight_l2", "weight_l1"]] > 0)
    colour = _group_colour(snap, set(frame["group"]))
    base = alt.Chart(frame).mark_line(strokeWidth=2).encode(x=_step_axis(), color=colour).properties(
        width=max(120, (width - 140) // 3), height=height)
    panels = [base.encode(y=alt.Y(f"{key}:Q", title=y_title, scale=alt.Scale(type="log"), axis=alt.Axis(format="~g")))
              for key, y_title in list(WEIGHT_PANELS.items())[:2]]
    top = min(1.0, max(0.05, 1.1 * float(np.nan_to_num(frame["near_zero"].max()))))  # noise of 0.1% stays flat
    panels.append(base.encode(y=alt.Y("near_zero:Q", title=WEIGHT_PANELS["near_zero"],
                                      scale=alt.Scale(domain=[0, top]), axis=alt.Axis(format="%"))))
    return alt.hconcat(*panels, spacing=28).properties(title=_title(
        title, "L2 / weight decay: both norms shrink smoothly. L1: weights are pushed to zero, so the share on the "
               "right grows.", "Biases and normalisation parameters are not penalised and not shown."))


# --------------------------------------------------------------------------- 5. run comparison
IGNORED_IN_DIFFERENCES = ("device", "detail_every", "eval_batches")


def _settings(snap: Snapshot) -> dict:
    """Fixed config from the start record, overridden by the knob values in force at the end."""
    settings = dict((snap.start or {}).get("config", {}))
    last = snap.steps[-1] if snap.steps else (snap.evals[-1] if snap.evals else {})
    settings.update({k: v for k, v in last.items() if k in settings})
    return settings


def _unique_names(snaps: list[Snapshot]) -> list[str]:
    names, seen = [], {}
    for snap in snaps:
        seen[snap.name] = seen.get(snap.name, 0) + 1
        names.append(snap.name if seen[snap.name] == 1 else f"{snap.name} ({seen[snap.name]})")
    return names


def describe_differences(snaps: list[Snapshot]) -> dict[str, str]:
    """{run name: "dropout 0.5, l2 0.0001"}: the settings in which each run differs from the others
    (final knob values; "(from step N)" when the run changed it mid-way)."""
    settings = [_settings(s) for s in snaps]
    keys = [k for k in dict.fromkeys(k for s in settings for k in s) if k not in IGNORED_IN_DIFFERENCES]
    differing = [k for k in keys if len({_fmt(s.get(k)) for s in settings}) > 1]
    out = {}
    for name, snap, values in zip(_unique_names(snaps), snaps, settings):
        changed = {e["knob"]: e["step"] for e in snap.knob_changes()}
        parts = [f"{k} {_fmt(values.get(k, '?'))}" + (f" (from step {changed[k]})" if k in changed else "")
                 for k in differing]
        out[name] = ", ".join(parts) if parts else ("same settings" if len(snaps) > 1 else "")
    return out


def comparison_chart(snaps: list[Snapshot], width: int = WIDTH, height: int = HEIGHT) -> alt.Chart:
    """Validation loss of saved runs and the current one (the last, drawn thickest) on one axis, each
    labelled with what differs, so "dropout on" vs "off" reads straight off the legend."""
    title = "Run comparison: validation loss"
    names = _unique_names(snaps)
    differences = describe_differences(snaps)
    n = min(MAX_POINTS, 900 // max(1, len(snaps)))
    parts, labels = [], []
    for i, (name, snap) in enumerate(zip(names, snaps)):
        evals = _evals(snap)
        x, y = _thin(evals["step"], np.minimum(evals["val_loss"], _loss_cap(snap)), n=n)
        if not len(x):
            continue
        label = f"{name}: {differences[name]}" if differences[name] else name
        labels.append((label, BLACK if i == len(snaps) - 1 and len(snaps) > 1 else PALETTE[i % 7]))
        parts.append(pd.DataFrame({"step": x, "value": y, "series": label, "current": i == len(snaps) - 1}))
    if not parts:
        return _placeholder(title, "No validation loss yet — press Train, then save runs to compare",
                            width=width, height=height)
    frame = pd.concat(parts, ignore_index=True)
    hint = "" if len(snaps) > 1 else "Save this run, change a knob, train again: both curves appear here."
    return alt.Chart(frame).mark_line().encode(
        x=_step_axis(), y=alt.Y("value:Q", title="validation " + LOSS_TITLE, scale=alt.Scale(zero=False)),
        color=_series_colour([l for l, _ in labels], [c for _, c in labels]),
        strokeWidth=alt.StrokeWidth("current:N", scale=alt.Scale(domain=[False, True], range=[1.8, 3.2]),
                                    legend=None),
    ).properties(title=_title(title, "Same seed → same data order and initialisation: curves differ only by "
                                     "the settings in the legend.", hint), width=width, height=height)


# --------------------------------------------------------------------------- all of them
CHARTS = ("gap", "gradient_histogram", "layer_gradients", "weight_norms", "comparison")


def all_charts(snap: Snapshot, saved: list[Snapshot] = (), width: int = WIDTH, metric: str = "loss") -> dict[str, alt.TopLevelMixin]:
    """Every chart for one redraw, keyed as in CHARTS (both front ends and the benchmark use this)."""
    return {
        "gap": gap_chart(snap, metric=metric, width=width),
        "gradient_histogram": gradient_histogram_chart(snap, width=width),
        "layer_gradients": layer_gradient_chart(snap, width=width),
        "weight_norms": weight_norm_chart(snap, width=width),
        "comparison": comparison_chart([*saved, snap], width=width),
    }
