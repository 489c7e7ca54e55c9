"""Charts of what a regulariser does INSIDE the network, where the other charts show only that the loss
changed: how far back the gradient reaches, the dropout masks a step really drew, and how much of what the
model writes is copied from its training text (that one in memorisation_charts). Same contract as the kit: a
Snapshot in, an Altair chart out, pure functions, Okabe–Ito and viridis colours, type sizes from `kit.fonts`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import altair as alt
import numpy as np

from explorer.runs.history import Snapshot
from explorer.spec.wording import format_value, plural
from explorer.views.kit import (
    BLACK,
    BLUE,
    EMPTY,
    GREY,
    HEIGHT,
    INK,
    VERMILLION,
    WIDTH,
    arm_colours,
    band_room,
    chart_title,
    data_rows,
    fonts,
    inside_legend,
    one_layer_chart,
    placeholder_chart,
    step_axis,
    unit_chart,
    vega_config,
)

FLOOR = -38  # log10 of the smallest gradient drawn: float32 underflows to 0 a little below this
SNAPSHOTS = 4  # earlier reach curves drawn faded behind the latest
MAX_REACH_COLUMNS, MAX_REACH_ROWS = 48, 32  # heatmap cells: training steps × distances
FALL = 1e-3  # "the gradient has vanished" in the subtitle: a thousandth of its value at distance 0
MIN_PANEL = 120  # px: the narrowest mask grid worth drawing; fewer grids per row below it
MARGIN_EMS = 4.6  # beside each mask grid, in axis-title ems: its axis title and the space between grids


def _log_domain(parts: list[np.ndarray], legend_bottom: float, height: int) -> list[float]:
    """A y domain (log10 values) around every finite value, with room above for the legend inside the plot."""
    finite = np.concatenate([v[np.isfinite(v)] for v in parts])
    low, high = (math.floor(finite.min()), math.ceil(finite.max())) if len(finite) else (FLOOR, 0)
    room = min(0.5, band_room(legend_bottom, height))
    return [low, high + max(high - low, 1) * room / (1 - room)]


# --------------------------------------------------------------------------- gradient reach
def _reach_records(snap: Snapshot) -> list[dict]:
    return [r for r in snap.details if r.get("grad_reach")]


def _log_reach(norms: list) -> np.ndarray:
    """log10 of one layer's norms by DISTANCE (index 0 = the last position), zeros drawn at the floor."""
    values = np.array([np.nan if v is None else v for v in norms], dtype=float)[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.where(values == 0, FLOOR, np.nan))


def _reach_sentence(log_norms: np.ndarray) -> str:
    """How far back the gradient stays within FALL of its value at distance 0, in words."""
    start = log_norms[0]
    if not np.isfinite(start):
        return ""
    if (log_norms <= FLOOR).all():
        return (
            "Latest: zero at every distance — the units are saturated (a tanh at ±1 passes no gradient), "
            "as after an explosion threw the weights far away."
        )
    if log_norms[-1] > start:
        return (
            f"Latest: {10 ** (log_norms[-1] - start):.3g}× LARGER {plural(len(log_norms) - 1, 'step')} back: exploding."
        )
    fallen = np.flatnonzero(log_norms < start + math.log10(FALL))
    last = len(log_norms) - 1
    if not len(fallen):
        return f"Latest: still within 1000× of its size at distance 0 after {plural(last, 'step')}."
    return f"Latest: falls 1000× below its size at distance 0 within {plural(int(fallen[0]), 'step')}."


def _clipping_note(snap: Snapshot) -> str:
    recent = snap.steps[-200:]
    clip = recent[-1].get("clip", 0) if recent else 0
    if not clip:
        return ""
    fired = sum(1 for r in recent if r.get("clipped"))
    return (
        f"Clipping at norm {format_value(clip)} fired on {fired} of the last {plural(len(recent), 'step')}: it "
        "rescales the whole gradient, so it tames an explosion but cannot bring back a reach that vanished."
    )


def gradient_reach_chart(
    snap: Snapshot, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """‖∂loss at the last position / ∂input t steps earlier‖ against t (log scale), for the first layer:
    the latest measurement dark, a few earlier ones faded. A line falling by decades is a vanishing
    gradient (nothing that far back can be learned); a rising one is exploding."""
    title = "How far back does the gradient reach?"
    records = _reach_records(snap)
    if not records:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    picks = {round(i) for i in np.linspace(0, len(records) - 1, SNAPSHOTS + 1)}
    far = [_log_reach(r["grad_reach"][0])[-1] for r in records]
    widest = int(np.nanargmax(np.where(np.isfinite(far), far, -np.inf)))
    exploded = far[widest] > _log_reach(records[widest]["grad_reach"][0])[0]  # grew with distance
    shown = [records[i] for i in sorted(picks | ({widest} if exploded else set()))]
    labels = [f"step {r['step']:,}" + (" (exploding)" if exploded and r is records[widest] else "") for r in shown]
    parts = [(label, _log_reach(r["grad_reach"][0])) for label, r in zip(labels, shown)]
    rows = data_rows(
        distance=np.concatenate([np.arange(len(v)) for _, v in parts]),
        log_norm=np.concatenate([v for _, v in parts]),
        snapshot=[label for label, v in parts for _ in range(len(v))],
    )
    f = fonts(projector)
    legend, legend_bottom = inside_legend(labels, f, width, 4)
    domain = _log_domain([v for _, v in parts], legend_bottom, height)
    greys = ["#d0d0d0", "#b0b0b0", "#8c8c8c", "#6a6a6a", "#505050"][-(len(labels) - 1) :] if len(labels) > 1 else []
    greys = [VERMILLION if "exploding" in label else grey for label, grey in zip(labels, greys)]
    line = unit_chart(
        {"type": "line", "strokeWidth": 2.5, "interpolate": "linear"},
        x=alt.X("distance:Q", title="distance back from the last position (time steps)", scale={"nice": False}),
        y=alt.Y(
            "log_norm:Q",
            title="log10 ‖gradient‖ (per input vector)",
            scale={"domain": domain, "nice": False},
        ),
        color=alt.Color(
            "snapshot:N", title=None, sort=labels, scale={"domain": labels, "range": [*greys, BLUE]}, legend=legend
        ),
        order=alt.Order("distance:Q"),
    )
    notes = [
        "The loss at the LAST position of one fixed training sequence, differentiated with respect to what "
        "the first layer received at each earlier position (eval mode, zero starting state).",
        _reach_sentence(parts[-1][1]),
        "Vermillion: the measurement whose reach GREW with distance — an exploding gradient." if exploded else "",
        _clipping_note(snap),
    ]
    if any((v <= FLOOR).any() for _, v in parts):
        notes.append(f"Gradients that underflowed to 0 are drawn at 1e{FLOOR}.")
    return one_layer_chart(
        line, rows, chart_title(title, *notes, width=width, projector=projector), width, height, projector
    )


def reach_heatmap_chart(
    snap: Snapshot, width: int = WIDTH, height: int = 260, projector: bool = False
) -> alt.TopLevelMixin:
    """Training step × distance, coloured by log10 of the reach: whether the reach grows or dies while
    the model trains (an exploding run turns bright, a vanishing one stays dark beyond a few steps)."""
    title = "Gradient reach while training"
    records = _reach_records(snap)
    if not records:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    table = np.array([_log_reach(r["grad_reach"][0]) for r in records if len(r["grad_reach"][0])], dtype=float)
    if table.ndim != 2 or not table.size:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    steps = np.array([r["step"] for r in records], dtype=float)[: len(table)]
    columns = np.array_split(np.arange(len(table)), min(MAX_REACH_COLUMNS, len(table)))
    distance_groups = np.array_split(np.arange(table.shape[1]), min(MAX_REACH_ROWS, table.shape[1]))
    cells = []
    for col in columns:
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(table[col], axis=0) if np.isfinite(table[col]).any() else table[col[0]]
        left = steps[col[0] - 1] if col[0] > 0 else steps[col[0]] - (steps[1] - steps[0] if len(steps) > 1 else 1)
        for group in distance_groups:
            value = mean[group]
            value = value[np.isfinite(value)]
            if len(value):
                cells.append(
                    {
                        "step": float(left),
                        "step2": float(steps[col[-1]]),
                        "d": int(group[0]) - 0.5,
                        "d2": int(group[-1]) + 0.55,  # a hair of overlap: no seams between rows
                        "log_norm": float(value.mean()),
                    }
                )
    rect = unit_chart(
        {"type": "rect"},
        x=step_axis(),
        x2=alt.X2("step2:Q"),
        y=alt.Y("d:Q", title="distance back", scale={"nice": False, "zero": False, "reverse": False}),
        y2=alt.Y2("d2:Q"),
        color=alt.Color(
            "log_norm:Q",
            title="log10 ‖gradient‖",
            scale={"scheme": "viridis"},
            legend={"orient": "top", "direction": "horizontal", "gradientLength": min(width // 2, 240)},
        ),
    )
    return one_layer_chart(
        rect,
        cells,
        chart_title(
            title,
            "Each column: one measurement of the chart above. Bright far up: the gradient still reaches far "
            "back; dark: it has vanished.",
            width=width,
            projector=projector,
        ),
        width,
        height,
        projector,
    )


# --------------------------------------------------------------------------- dropout masks
def _margin(f: dict) -> int:
    return round(MARGIN_EMS * f["axis_title"])


def _site_title(site: str, layers: int) -> str:
    if site == "input":
        return "embeddings → layer 1"
    if site.startswith("weight_drop."):
        return f"weight drop, {site.removeprefix('weight_drop.').replace('layer', 'layer ')}"
    if site.startswith("recurrent."):
        return f"recurrent dropout on h(t−1), {site.removeprefix('recurrent.').replace('layer', 'layer ')}"
    n = int(site.removeprefix("layer"))
    return f"layer {n} → " + ("decoder" if n == layers else f"layer {n + 1}")


def _panel_title(text: str, kept: str, f: dict, width: int) -> dict:
    """A grid's heading, wrapped to the grid and its axis (a title never wraps by itself and would widen
    the chart), then what share of it was kept."""
    chars = max(10, int((width + _margin(f)) / (0.6 * f["subtitle"])))
    lines = textwrap.wrap(text, chars) + textwrap.wrap(kept, chars)
    return {"text": lines, "fontSize": f["subtitle"], "anchor": "start", "fontWeight": "bold"}


def _embedding_panel(entry: dict, width: int, f: dict) -> alt.LayerChart:
    """The sequence's tokens, the ones whose embedding row was dropped on vermillion: every copy of a
    dropped word (or character) is gone at once."""
    tokens, kept = entry["tokens"], [c == "1" for c in entry["rows"][0]]
    longest = max(map(len, tokens), default=1)  # a word needs a wider cell than a character
    cell = 0.75 * f["annotation"] if longest <= 1 else 0.62 * f["annotation"] * longest + 6
    per_line = max(4, int((width - _margin(f)) / cell))
    rows = [
        {"x": i % per_line, "line": i // per_line, "token": token, "state": "kept" if k else "dropped", "ink": k}
        for i, (token, k) in enumerate(zip(tokens, kept))
    ]
    dropped = sorted({t for t, k in zip(tokens, kept) if not k})
    states = {"domain": ["kept", "dropped"]}
    encoding = {"x": alt.X("x:O", axis=None), "y": alt.Y("line:O", axis=None)}
    box = unit_chart(
        {"type": "rect"},
        color=alt.Color("state:N", scale={**states, "range": ["#ffffff", VERMILLION]}, legend=None),
        **encoding,
    )
    text = unit_chart(
        {"type": "text", "font": "monospace", "fontSize": f["annotation"], "fontWeight": "bold"},
        text=alt.Text("token:N"),
        color=alt.Color("ink:N", scale={"domain": [True, False], "range": [INK, "#ffffff"]}, legend=None),
        **encoding,
    )
    heading = "embedding dropout: whole words" + (" (here characters)" if longest <= 1 else "")
    heading += " zeroed, every copy in the batch"
    share = sum(kept) / max(1, len(kept))
    title = _panel_title(
        heading, f"kept {share:.0%} of this sequence; dropped: {' '.join(dropped) or 'none'}", f, width
    )
    return alt.LayerChart(
        {"values": rows},
        layer=[box, text],
        resolve={"scale": {"color": "independent"}},
        title=title,
        width=width - _margin(f),
        height=max(2, math.ceil(len(tokens) / per_line)) * (f["annotation"] + 8),
    )


def _mask_panel(site: str, entry: dict, layers: int, width: int, height: int, f: dict) -> alt.Chart:
    """One mask as a black (dropped) and white (kept) grid: units across, time steps (or, for weight
    drop, the gate rows of the hidden-to-hidden matrix) down."""
    bits = [[int(c) for c in row] for row in entry["rows"]]
    kept = sum(map(sum, bits)) / max(1, sum(map(len, bits)))
    weights = site.startswith("weight_drop.")
    cells = [
        {"unit": u, "t": t, "state": "kept" if b else "dropped"}
        for u, row in enumerate(bits)
        for t, b in enumerate(row)
    ]
    band = {"paddingInner": 0, "paddingOuter": 0}
    return alt.Chart(
        {"values": cells},
        mark={"type": "rect", "strokeWidth": 0.6},  # stroked in its own colour: no seams between cells
        encoding=alt.FacetedEncoding(
            x=alt.X("unit:O", title="input unit" if weights else "unit", axis={"labels": False}, scale=band),
            y=alt.Y("t:O", title="output row" if weights else "time step (down)", axis={"labels": False}, scale=band),
            color=alt.Color("state:N", scale={"domain": ["kept", "dropped"], "range": ["#f2f2f2", BLACK]}, legend=None),
            stroke=alt.Stroke(
                "state:N", scale={"domain": ["kept", "dropped"], "range": ["#f2f2f2", BLACK]}, legend=None
            ),
        ),
        title=_panel_title(_site_title(site, layers), f"kept {kept:.0%}", f, width),
        width=width,
        height=height,
    )


# what a naive (per-step) mask on h(t−1) costs depends on the cell: said per cell, never for all of them
NAIVE_COST = {
    "rnn": " A vanilla RNN's h is its whole memory: each step cuts into a different part of it.",
    "lstm": " It acts where h(t−1) enters the gates; the LSTM's cell c, its memory path, is never masked.",
    "gru": " It acts where h(t−1) enters the gates; the update gate carries the unmasked h(t−1) forward.",
}


def _mask_notes(masks: dict, step: int, dropout: list[str], recurrent: list[str], cell: str | None) -> list[str]:
    """What the grids show, in words: p and the 1/(1−p) rescaling, the kind of mask, and which units are drawn."""
    sites = masks["sites"]
    notes = []
    if dropout:
        p = 1 - sites[dropout[0]]["keep"]
        kind = masks["kind"]
        notes.append(
            f"Dropout p = {format_value(round(p, 4))}: each unit is kept with probability 1−p = "
            f"{format_value(round(1 - p, 4))} and a kept one is multiplied by "
            f"1/(1−p) = {format_value(round(1 / (1 - p), 3))}, "
            "so its expected value is unchanged and evaluation (no masks) needs no rescaling."
        )
        notes.append(
            "standard: a new mask at every time step — speckled."
            if kind == "standard"
            else "locked: one mask per window, the same at every time step — vertical stripes."
        )
    if recurrent:
        entry = sites[recurrent[0]]
        notes.append(
            f"Recurrent dropout p = {format_value(round(1 - entry['keep'], 4))} on h(t−1) inside the cell: "
            + (
                "naive, a new mask at every time step — speckled." + NAIVE_COST.get(cell or "", "")
                if entry["kind"] == "naive"
                else "gal, one mask for the whole sequence — stripes: the same units of h(t−1) are dropped throughout, "
                "the others pass at every step."
            )
        )
    grids = [entry for site, entry in sites.items() if site != "embedding"]  # the embedding's is its tokens
    notes.append(
        f"Black: dropped; light grey: kept. Step {step:,}, the first sequence of the batch"
        + (f", the first {max(len(entry['rows']) for entry in grids)} units of each mask." if grids else ".")
    )
    return notes


def dropout_mask_chart(
    snap: Snapshot, width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """The masks the latest detail step really applied to the first sequence of its batch, black =
    dropped: standard dropout speckled (a new mask at every time step), locked in vertical stripes
    (one mask for the whole window), embedding dropout as the words it dropped (every copy of a word
    at once), weight drop as a corner of the hidden-to-hidden matrix, recurrent dropout on h_{t−1} speckled
    (naive) or in stripes (gal)."""
    title = "Dropout masks"
    latest = next((r for r in reversed(snap.details) if r.get("masks")), None)
    if latest is None:
        return placeholder_chart(
            title,
            "No masks yet: turn on dropout, embedding, recurrent or weight dropout and train" if snap.steps else EMPTY,
            width=width,
            height=height,
            projector=projector,
        )
    f = fonts(projector)
    masks = latest["masks"]
    sites = masks["sites"]
    units = [s for s in sites if s == "input" or s.startswith(("layer", "recurrent."))]
    weights = [s for s in sites if s.startswith("weight_drop.")]
    recurrent = [s for s in units if s.startswith("recurrent.")]
    dropout = [s for s in units if s not in recurrent]
    layers = (snap.start or {}).get("config", {}).get("layers") or max(1, len(dropout) - 1)
    panels: list[alt.TopLevelMixin] = []
    if "embedding" in sites:
        panels.append(_embedding_panel(sites["embedding"], width, f))
    left = height - sum(panel.height for panel in panels)  # the plot height the grids share
    share = {"units": 0.55 if weights else 1.0, "weights": 0.45 if units else 1.0}
    for group, kind in ((units, "units"), (weights, "weights")):
        if group:
            # as many grids side by side as fit at a readable size (fewer with the projector's bigger type)
            columns = max(1, min(len(group), width // (MIN_PANEL + _margin(f))))
            rows = [group[i : i + columns] for i in range(0, len(group), columns)]
            panel_width = (width - _margin(f) * columns) // columns
            size = int(left * share[kind] / len(rows))
            side = min(size, panel_width) if kind == "weights" else panel_width
            for row in rows:
                panels.append(
                    alt.hconcat(
                        *[_mask_panel(s, sites[s], layers, side, size, f) for s in row],
                        resolve={"scale": {"color": "independent"}},
                    )
                )
    cell = (snap.start or {}).get("config", {}).get("cell")
    notes = _mask_notes(masks, latest["step"], dropout, recurrent, cell)
    return alt.vconcat(
        *panels,
        resolve={"scale": {"color": "independent"}},
        title=chart_title(title, *notes, width=width, projector=projector),
        config={**vega_config(projector), "concat": {"spacing": 14}, "view": {"stroke": INK}},
    )


# --------------------------------------------------------------------------- several runs (the lessons)
def reach_comparison_chart(
    snaps: Sequence[Snapshot], width: int = WIDTH, height: int = HEIGHT, projector: bool = False
) -> alt.TopLevelMixin:
    """The latest gradient reach of several runs on one axis: which cell still feels the input 50 steps back."""
    title = "How far back does the gradient reach? (latest measurement of each run)"
    latest = [(s.name, _reach_records(s)[-1]) for s in snaps if _reach_records(s)]
    if not latest:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    names = [name for name, _ in latest]
    parts = [_log_reach(r["grad_reach"][0]) for _, r in latest]
    rows = data_rows(
        distance=np.concatenate([np.arange(len(v)) for v in parts]),
        log_norm=np.concatenate(parts),
        run=[name for name, v in zip(names, parts) for _ in range(len(v))],
    )
    f = fonts(projector)
    legend, legend_bottom = inside_legend(names, f, width, 4)
    domain = _log_domain(parts, legend_bottom, height)
    line = unit_chart(
        {"type": "line", "strokeWidth": 2.5},
        x=alt.X("distance:Q", title="distance back from the last position (time steps)", scale={"nice": False}),
        y=alt.Y("log_norm:Q", title="log10 ‖gradient‖", scale={"domain": domain, "nice": False}),
        color=alt.Color(
            "run:N",
            title=None,
            sort=names,
            scale={"domain": names, "range": arm_colours(len(names))},
            legend=legend,
        ),
        order=alt.Order("distance:Q"),
    )
    return one_layer_chart(
        line,
        rows,
        chart_title(
            title,
            "‖∂(loss at the last position)/∂(first layer's input t steps earlier)‖ on the same fixed sequence.",
            width=width,
            projector=projector,
        ),
        width,
        height,
        projector,
    )


def recall_chart(
    losses: dict[str, dict[int, float]],
    guess: float,
    width: int = WIDTH,
    height: int = HEIGHT,
    projector: bool = False,
) -> alt.TopLevelMixin:
    """Loss on the recalled keys against how far back the key was, one line per setup, with the loss of a
    blind guess among the keys dashed: a line at the guess has forgotten; near zero, it remembers."""
    title = "Can the model recall a key k characters back?"
    names = list(losses)
    rows = [{"k": k, "loss": v, "run": name} for name in names for k, v in losses[name].items() if math.isfinite(v)]
    if not rows:
        return placeholder_chart(title, width=width, height=height, projector=projector)
    f = fonts(projector)
    series = [*names, "a blind guess among the keys"]
    legend, legend_bottom = inside_legend(series, f, width, 4)
    room = min(0.5, band_room(legend_bottom, height))
    top = max(guess, max(r["loss"] for r in rows)) * 1.05 / (1 - room)
    ks = sorted({r["k"] for r in rows})
    rows += [{"k": k, "loss": guess, "run": series[-1]} for k in (ks[0], ks[-1])]
    line = unit_chart(
        {"type": "line", "strokeWidth": 2.5, "point": {"size": 60, "filled": True}},
        x=alt.X("k:Q", title="distance k between the key and its recall (characters)", scale={"nice": False}),
        y=alt.Y("loss:Q", title="loss on the recalled key (nats)", scale={"domain": [0, top], "nice": False}),
        color=alt.Color(
            "run:N",
            title=None,
            sort=series,
            scale={"domain": series, "range": [*arm_colours(len(names)), GREY]},
            legend=legend,
        ),
        strokeDash=alt.StrokeDash(
            "run:N", legend=None, scale={"domain": series, "range": [[1, 0]] * len(names) + [[6, 4]]}
        ),
    )
    return one_layer_chart(
        line,
        rows,
        chart_title(title, "Measured on the validation text after training.", width=width, projector=projector),
        width,
        height,
        projector,
    )
