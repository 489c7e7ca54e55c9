"""Take a run home: charts as PNG/SVG (rendered offline by vl-convert, no browser, no network) and the
kept history as one CSV a spreadsheet opens."""

from __future__ import annotations

import io

import altair as alt
import pandas as pd

from explorer.runs.history import Snapshot

EVAL_COLUMNS = ["val_loss", "val_ppl", "train_eval_loss", "train_eval_ppl", "gap", "best_val_loss", "best_step"]


def chart_to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """PNG bytes; `scale` 2 is sharp on a projector."""
    buffer = io.BytesIO()
    chart.save(buffer, format="png", scale_factor=scale)
    return buffer.getvalue()


def chart_to_svg(chart: alt.TopLevelMixin) -> str:
    buffer = io.StringIO()
    chart.save(buffer, format="svg")
    return buffer.getvalue()


def history_csv(snap: Snapshot) -> str:
    """One row per kept step record, with the evaluation taken at that step (if any) in the same row.
    Knob values are columns; per-group details are flattened (grad_norms.layer1.recurrent, ...) and
    the gradient histogram is one cell of space-separated counts."""
    if not snap.steps:
        return pd.DataFrame(columns=["step", "train_loss", *EVAL_COLUMNS]).to_csv(index=False)
    steps = pd.json_normalize([_flat(r) for r in snap.steps], sep=".").drop(columns="kind", errors="ignore")
    evals = pd.DataFrame(snap.evals, columns=["step", *EVAL_COLUMNS]).drop_duplicates("step", keep="last")
    table = steps.merge(evals, on="step", how="left")
    table["best_step"] = table["best_step"].astype("Int64")  # stays whole next to the empty cells
    first = ["step", "epoch", "train_loss", *EVAL_COLUMNS, "grad_norm", "grad_norm_after", "clipped"]
    ordered = [c for c in first if c in table] + [c for c in table if c not in first]
    return table[ordered].to_csv(index=False)


def _flat(record: dict) -> dict:
    hist = record.get("grad_hist")
    return record if hist is None else {**record, "grad_hist": " ".join(str(int(c)) for c in hist)}
