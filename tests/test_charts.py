"""Charts and exports on real runs: every chart is a valid Vega-Lite spec that renders offline, marks what
the teacher did (knob changes, divergence), stays small however long the history grows, and the CSV
export has one row per kept step."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from explorer import charts
from explorer.export import chart_to_png, chart_to_svg, history_csv
from explorer.history import History, Snapshot
from explorer.metrics import GRAD_HIST_EDGES
from explorer.train import Trainer
from tests.conftest import tiny

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPIKE = 99_800  # a gradient spike among the newest records (which the history keeps whole)


def record_run(config, schedule=None, name="current") -> Snapshot:
    history = History(name)
    for record in Trainer(config).run(schedule=schedule):
        history.add(record)
    return history.snapshot()


@pytest.fixture(scope="module")
def runs() -> dict[str, Snapshot]:
    start_only = History()
    start_only.add(Trainer(tiny()).start_record())
    return {
        "empty": Snapshot(),
        "start only": start_only.snapshot(),
        "tiny run": record_run(tiny(steps=60), name="baseline"),
        "knob change": record_run(tiny(steps=60), schedule={30: {"dropout": 0.5}}, name="dropout"),
        # lr 10 with an L2 of 1 multiplies every weight by -19 per step: the run must blow up
        "diverged": record_run(tiny(cell="rnn", optimizer="sgd", lr=10.0, l2=1.0, steps=200), name="diverged"),
    }


def synthetic_history(steps: int = 100_000) -> History:
    """A long run (details every 10 steps, evals every 25, a few knob changes, one gradient spike)."""
    history = History()
    groups = ["embedding", "layer1.input", "layer1.recurrent", "layer2.input", "layer2.recurrent", "norm", "decoder"]
    config = tiny(layers=2, steps=steps)
    history.add({"kind": "start", "config": config.to_dict(), "vocab_size": 65, "groups": groups,
                 "grad_hist_edges": GRAD_HIST_EDGES.tolist()})
    knobs = config.live()
    changes = {20_000: ("dropout", 0.5), 40_000: ("clip", 1.0), 60_000: ("l2", 1e-4), 80_000: ("l1", 1e-5)}
    hist = [0] * 10 + [50, 400, 2000, 900, 100, 5] + [0] * (len(GRAD_HIST_EDGES) - 17)
    for step in range(1, steps + 1):
        if step in changes:
            knob, value = changes[step]
            history.add({"kind": "event", "event": "knob", "step": step, "knob": knob, "old": knobs[knob], "new": value})
            knobs[knob] = value
        norm = 1e4 if step == SPIKE else 0.5 + (step % 7) / 7
        record = {"kind": "step", "step": step, "epoch": step / 500, "train_loss": 1.5 + 2.5 * math.exp(-step / 9000),
                  "grad_norm": norm, "grad_norm_after": min(norm, knobs["clip"] or norm),
                  "clipped": bool(knobs["clip"] and norm > knobs["clip"]), "tokens_per_s": 1e5, **knobs}
        if step % 10 == 0:
            record.update(grad_norms={g: norm / (i + 1) for i, g in enumerate(groups)},
                          weight_l2={g: 10.0 + i for i, g in enumerate(groups)},
                          weight_l1={g: 900.0 + i for i, g in enumerate(groups)},
                          near_zero={g: 0.01 * i for i, g in enumerate(groups)}, grad_hist=hist)
        history.add(record)
        if step % 25 == 0:
            val = 1.6 + 2.5 * math.exp(-step / 9000) + step / 300_000
            history.add({"kind": "eval", "step": step, "val_loss": val, "val_ppl": math.exp(val),
                         "train_eval_loss": val - 0.1, "train_eval_ppl": math.exp(val - 0.1), "gap": 0.1,
                         "best_val_loss": 1.9, "best_step": 30_000, **knobs})
    return history


@pytest.fixture(scope="module")
def long_snap() -> Snapshot:
    return synthetic_history().snapshot()


def data_rows(spec: dict) -> list[dict]:
    """Every data row a spec carries: its top-level datasets and any inline values."""
    rows = [row for values in spec.get("datasets", {}).values() for row in values]

    def inline(node):
        if isinstance(node, dict):
            if isinstance(node.get("values"), list):
                rows.extend(node["values"])
            for value in node.values():
                inline(value)
        elif isinstance(node, list):
            for value in node:
                inline(value)
    inline({k: v for k, v in spec.items() if k != "datasets"})
    return rows


def every_chart(snap: Snapshot, saved=()) -> dict:
    built = charts.all_charts(snap, list(saved))
    built["gap (perplexity)"] = charts.gap_chart(snap, metric="ppl")
    return built


@pytest.mark.parametrize("name", ["empty", "start only", "tiny run", "knob change", "diverged"])
def test_every_chart_is_valid_vega_lite_and_renders_offline(runs, name):
    snap = runs[name]
    for title, chart in every_chart(snap, saved=[runs["tiny run"]]).items():
        spec = chart.to_dict(validate=True)
        json.dumps(spec, allow_nan=False)  # NaN/inf would make invalid JSON for the browser
        assert 0 < len(data_rows(spec)) <= 1000, title
        assert chart_to_png(chart, scale=1).startswith(PNG_MAGIC), title


def test_an_empty_snapshot_says_how_to_start(runs):
    for chart in charts.all_charts(runs["empty"]).values():
        assert any("press Train" in str(row.get("message")) for row in data_rows(chart.to_dict()))


def test_knob_changes_are_marked_in_every_chart_over_time(runs):
    for title in ("gap", "gradient_histogram", "layer_gradients"):
        spec = charts.all_charts(runs["knob change"])[title].to_dict()
        labels = [row for row in data_rows(spec) if row.get("label") == "dropout 0 → 0.5"]
        assert [row["step"] for row in labels] == [30], title


def test_a_diverged_run_is_marked_and_its_huge_losses_do_not_flatten_the_chart(runs):
    snap = runs["diverged"]
    assert snap.final_event()["event"] == "diverged"
    spec = charts.gap_chart(snap).to_dict()
    assert any(str(row.get("label", "")).startswith("diverged") for row in data_rows(spec))
    cap = charts._loss_cap(snap)
    drawn = [v for row in data_rows(spec) for k, v in row.items() if k != "step" and isinstance(v, float)]
    assert max(drawn) <= cap + 1e-9
    assert any("drawn at that level" in line for line in spec["title"]["subtitle"])


def test_the_gap_chart_shows_training_and_validation_and_the_best_step(runs):
    snap = runs["knob change"]
    spec = charts.gap_chart(snap).to_dict()
    curves = [row for row in data_rows(spec) if charts.VALIDATION in row]
    assert len(curves) == len(snap.evals)
    assert all(charts.TRAIN_EVAL in row for row in curves)
    best = snap.best_eval()
    assert {"step": best["step"], "value": pytest.approx(best["val_loss"])} in data_rows(spec)
    ppl = charts.gap_chart(snap, metric="ppl").to_dict()
    assert "log" in json.dumps([layer["encoding"]["y"].get("scale") for layer in ppl["layer"][:2]])


def test_before_two_evaluations_the_gap_chart_plots_the_training_loss(runs):
    snap = runs["tiny run"]
    early = Snapshot(snap.name, snap.start, snap.steps[:4], snap.details[:2], [], [])
    spec = charts.gap_chart(early).to_dict()
    assert [row["step"] for row in data_rows(spec)] == [1, 2, 3, 4]
    assert "training-batch loss" in " ".join(spec["title"]["subtitle"])


def test_a_100k_step_history_gives_small_charts(long_snap):
    assert long_snap.last_step == 100_000
    for title, chart in every_chart(long_snap, saved=[long_snap]).items():
        spec = chart.to_dict()  # would raise MaxRowsError beyond 5000 rows
        assert len(data_rows(spec)) <= 1000, title


def test_thinning_keeps_gradient_spikes(long_snap):
    """One step with a norm of 1e4 among 100k steps of ~1 must still show: it shares its bucket with
    hundreds of steps, so a bucket mean would hide it (log10 ≈ 1.5); the bucket maximum keeps it."""
    spec = charts.gradient_histogram_chart(long_snap).to_dict()
    norms = [row["value"] for row in data_rows(spec) if row.get("series") == "total gradient norm before clipping"]
    assert max(norms) == pytest.approx(4.0)
    assert len(norms) <= 150


def test_describe_differences_names_what_differs(runs):
    baseline, dropout = runs["tiny run"], runs["knob change"]
    assert charts.describe_differences([baseline, dropout]) == {
        "baseline": "dropout 0", "dropout": "dropout 0.5 (from step 30)"}
    assert charts.describe_differences([baseline, baseline]) == {
        "baseline": "same settings", "baseline (2)": "same settings"}
    spec = charts.comparison_chart([baseline, dropout]).to_dict()
    assert {row["series"] for row in data_rows(spec)} == {"baseline: dropout 0", "dropout: dropout 0.5 (from step 30)"}


def test_history_csv_has_one_row_per_kept_step_with_evals_merged(runs):
    snap = runs["knob change"]
    table = list(csv.DictReader(io.StringIO(history_csv(snap))))
    assert len(table) == len(snap.steps)
    assert {"step", "train_loss", "val_loss", "dropout", "clip", "grad_norms.layer1.recurrent"} <= set(table[0])
    by_step = {int(row["step"]): row for row in table}
    for record in snap.evals:
        assert float(by_step[record["step"]]["val_loss"]) == pytest.approx(record["val_loss"])
    assert by_step[1]["val_loss"] == ""
    assert {by_step[29]["dropout"], by_step[30]["dropout"]} == {"0.0", "0.5"}
    before_any_eval = Snapshot(snap.name, snap.start, snap.steps[:4], snap.details[:2], [], [])
    assert len(list(csv.DictReader(io.StringIO(history_csv(before_any_eval))))) == 4
    assert history_csv(Snapshot()).splitlines()[0].startswith("step,train_loss,val_loss")


def test_svg_export(runs):
    assert chart_to_svg(charts.gap_chart(runs["tiny run"])).lstrip().startswith("<svg")
