"""Charts and exports on real runs: every chart of the views registry is a valid Vega-Lite spec that renders
offline, marks what the teacher did (knob changes, divergence) with labels that never overlap, is readable on a
projector (type sizes, legends inside the plot), stays small however long the history grows, and the CSV
export has one row per kept step."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import altair as alt
import pytest

from explorer.core.train import Trainer
from explorer.page import status
from explorer.runs.history import History, Snapshot
from explorer.spec.records import GRAD_HIST_EDGES
from explorer.views import kit, run_charts
from explorer.views import registry as views
from explorer.views.export import chart_to_png, chart_to_svg, history_csv
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
    history.add(
        {
            "kind": "start",
            "config": config.to_dict(),
            "vocab_size": 65,
            "groups": groups,
            "grad_hist_edges": GRAD_HIST_EDGES.tolist(),
        }
    )
    knobs = config.live()
    changes = {20_000: ("dropout", 0.5), 40_000: ("clip", 1.0), 60_000: ("l2", 1e-4), 80_000: ("l1", 1e-5)}
    hist = [0] * 10 + [50, 400, 2000, 900, 100, 5] + [0] * (len(GRAD_HIST_EDGES) - 17)
    for step in range(1, steps + 1):
        if step in changes:
            knob, value = changes[step]
            history.add(
                {"kind": "event", "event": "knob", "step": step, "knob": knob, "old": knobs[knob], "new": value}
            )
            knobs[knob] = value
        norm = 1e4 if step == SPIKE else 0.5 + (step % 7) / 7
        record = {
            "kind": "step",
            "step": step,
            "epoch": step / 500,
            "train_loss": 1.5 + 2.5 * math.exp(-step / 9000),
            "grad_norm": norm,
            "grad_norm_after": min(norm, knobs["clip"] or norm),
            "clipped": bool(knobs["clip"] and norm > knobs["clip"]),
            "tokens_per_s": 1e5,
            **knobs,
        }
        if step % 10 == 0:
            record.update(
                grad_norms={g: norm / (i + 1) for i, g in enumerate(groups)},
                weight_l2={g: 10.0 + i for i, g in enumerate(groups)},
                weight_l1={g: 900.0 + i for i, g in enumerate(groups)},
                near_zero={g: 0.01 * i for i, g in enumerate(groups)},
                grad_hist=hist,
            )
        history.add(record)
        if step % 25 == 0:
            val = 1.6 + 2.5 * math.exp(-step / 9000) + step / 300_000
            history.add(
                {
                    "kind": "eval",
                    "step": step,
                    "val_loss": val,
                    "val_ppl": math.exp(val),
                    "train_eval_loss": val - 0.1,
                    "train_eval_ppl": math.exp(val - 0.1),
                    "gap": 0.1,
                    "best_val_loss": 1.9,
                    "best_step": 30_000,
                    **knobs,
                }
            )
    return history


@pytest.fixture(scope="module")
def long_snap() -> Snapshot:
    return synthetic_history().snapshot()


def data_rows(spec: dict) -> list[dict]:
    """Every data row a spec carries: its top-level datasets and any inline values."""
    rows = [row for values in spec.get("datasets", {}).values() for row in values]

    def inline(node):
        if isinstance(node, dict):
            if isinstance(node.get("values"), list):  # data rows (an axis's tick "values" are numbers)
                rows.extend(row for row in node["values"] if isinstance(row, dict))
            for value in node.values():
                inline(value)
        elif isinstance(node, list):
            for value in node:
                inline(value)

    inline({k: v for k, v in spec.items() if k != "datasets"})
    return rows


def every_chart(snap: Snapshot, saved=(), **opts) -> dict:
    built = views.all_charts(snap, list(saved), **opts)
    built["gap (perplexity)"] = views.build_chart("gap", snap, saved, metric="ppl", **opts)
    return built


@pytest.mark.parametrize("name", ["empty", "start only", "tiny run", "knob change", "diverged"])
def test_every_chart_is_valid_vega_lite_and_renders_offline(runs, name):
    snap = runs[name]
    for title, chart in every_chart(snap, saved=[runs["tiny run"]]).items():
        spec = chart.to_dict(validate=True)
        json.dumps(spec, allow_nan=False)  # NaN/inf would make invalid JSON for the browser
        assert 0 < len(data_rows(spec)) <= 1000, title
        assert chart_to_png(chart, scale=1).startswith(PNG_MAGIC), title


@pytest.mark.parametrize("name", ["empty", "knob change"])
def test_every_chart_in_the_registry_builds_through_one_signature_and_exports(runs, name):
    """A front end loops over VIEWS[tab].charts and calls build(snap, saved, **opts) without knowing which
    chart needs the saved runs or the metric; all_charts is the registry, in the same order."""
    assert list(views.VIEWS) == ["gap", "gradients", "weights", "compare", "reach", "masks", "memorisation"]
    names = [chart.name for view in views.VIEWS.values() for chart in view.charts]
    assert list(views.all_charts(Snapshot())) == names == list(views.CHARTS)
    assert len({chart.file_name for chart in views.CHARTS.values()}) == len(names)
    for view in views.VIEWS.values():
        assert view.title and view.charts
        for chart in view.charts:
            assert chart.file_name.endswith(".png") and chart.title
            built = chart.build(runs[name], (runs["tiny run"],), width=500, height=300, metric="ppl", projector=True)
            spec = built.to_dict(validate=True)
            assert spec["config"]["axis"]["labelFontSize"] >= 19, chart.name
            assert chart_to_png(built, scale=1).startswith(PNG_MAGIC), chart.name
            same = views.build_chart(
                chart.name, runs[name], [runs["tiny run"]], width=500, height=300, metric="ppl", projector=True
            ).to_dict(validate=False)
            assert json.dumps(same, sort_keys=True) == json.dumps(built.to_dict(validate=False), sort_keys=True)
    with pytest.raises(KeyError, match="no chart 'nope'"):
        views.build_chart("nope", runs[name])


def test_charts_use_the_height_they_are_given(runs):
    assert kit.HEIGHT >= 360
    for name in views.CHARTS:
        spec = views.build_chart(name, runs["knob change"], [runs["tiny run"]], width=900, height=620).to_dict()
        if "vconcat" in spec:  # panels stacked: together within the height given, and using most of it
            used = sum(max(p["height"] for p in row.get("hconcat", [row])) for row in spec["vconcat"])
            assert 0.6 * 620 <= used <= 620, name
            continue
        heights = [spec["height"]] if "height" in spec else [panel["height"] for panel in spec["hconcat"]]
        assert heights and all(h == 620 for h in heights), name


def test_an_empty_snapshot_says_how_to_start(runs):
    for chart in views.all_charts(runs["empty"]).values():
        assert any("press Train" in str(row.get("message")) for row in data_rows(chart.to_dict()))


def test_knob_changes_are_marked_in_every_chart_over_time(runs):
    for title in ("gap", "gradient_histogram", "layer_gradients"):
        spec = views.all_charts(runs["knob change"])[title].to_dict()
        labels = [row for row in data_rows(spec) if row.get("label") == "dropout 0 → 0.5"]
        assert [row["step"] for row in labels] == [30], title


def test_a_diverged_run_is_marked_and_its_huge_losses_do_not_flatten_the_chart(runs):
    snap = runs["diverged"]
    assert snap.final_event()["event"] == "diverged"
    spec = run_charts.gap_chart(snap).to_dict()
    assert any(str(row.get("label", "")).startswith("diverged") for row in data_rows(spec))
    cap = run_charts.loss_cap(snap)
    drawn = [v for row in data_rows(spec) for k, v in row.items() if k != "step" and isinstance(v, float)]
    assert max(drawn) <= cap + 1e-9
    assert "drawn at that level" in " ".join(spec["title"]["subtitle"])


def test_the_gap_chart_shows_training_and_validation_and_the_best_step(runs):
    snap = runs["knob change"]
    spec = run_charts.gap_chart(snap).to_dict()
    curves = [row for row in data_rows(spec) if kit.VALIDATION in row]
    assert len(curves) == len(snap.evals)
    assert all(kit.TRAIN_EVAL in row for row in curves)
    best = snap.best_eval()
    assert {"step": best["step"], "value": pytest.approx(best["val_loss"])} in data_rows(spec)
    ppl = run_charts.gap_chart(snap, metric="ppl").to_dict()
    assert "log" in json.dumps([layer["encoding"]["y"].get("scale") for layer in ppl["layer"][:2]])


def test_a_character_run_reads_out_bits_per_character_and_a_word_run_does_not(runs):
    snap = runs["knob change"]
    last = snap.evals[-1]
    for metric in ("loss", "ppl"):
        subtitle = " ".join(run_charts.gap_chart(snap, metric=metric).to_dict()["title"]["subtitle"])
        assert (
            f"Bits per character (loss / ln 2): validation {last['val_bpc']:.3f} bpc, "
            f"training {last['train_eval_bpc']:.3f} bpc." in subtitle
        )
        assert f"({snap.best_eval()['val_bpc']:.3f} bpc)" in status.status_line("running", snap)
    word = {**snap.start, "config": {**snap.start["config"], "level": "word"}}
    words = Snapshot(snap.name, word, snap.steps, snap.details, snap.evals, snap.events)
    assert "bpc" not in json.dumps(run_charts.gap_chart(words).to_dict()["title"])
    line = status.status_line("running", words)
    assert "bpc" not in line and f"(perplexity {snap.best_eval()['val_ppl']:.1f})" in line


def test_before_two_evaluations_the_gap_chart_plots_the_training_loss(runs):
    snap = runs["tiny run"]
    early = Snapshot(snap.name, snap.start, snap.steps[:4], snap.details[:2], [], [])
    spec = run_charts.gap_chart(early).to_dict()
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
    spec = run_charts.gradient_histogram_chart(long_snap).to_dict()
    norms = [row["value"] for row in data_rows(spec) if row.get("series") == "total gradient norm before clipping"]
    assert max(norms) == pytest.approx(4.0)
    assert len(norms) <= 150


def test_describe_differences_names_what_differs(runs):
    baseline, dropout = runs["tiny run"], runs["knob change"]
    assert run_charts.describe_differences([baseline, dropout]) == {
        "baseline": "dropout 0",
        "dropout": "dropout 0.5 (from step 30)",
    }
    assert run_charts.describe_differences([baseline, baseline]) == {
        "baseline": "same settings",
        "baseline (2)": "same settings",
    }
    spec = run_charts.comparison_chart([baseline, dropout]).to_dict()
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
    assert chart_to_svg(run_charts.gap_chart(runs["tiny run"])).lstrip().startswith("<svg")


# ------------------------------------------------------------------------------------ readable on a projector
def walk(node, path=()):
    """(path, key, value) for every key of every dict in a spec."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, path + (i,))


def text_marks(spec: dict) -> list[dict]:
    return [
        value
        for _, key, value in walk(spec)
        if key == "mark" and isinstance(value, dict) and value.get("type") == "text"
    ]


@pytest.mark.parametrize("projector", [False, True])
def test_type_is_big_enough_for_the_back_of_a_classroom(runs, projector):
    """Ticks ≥ 14 px, axis titles ≥ 15, titles ≥ 18, legends ≥ 14, annotations (knob labels, "best") ≥ 16;
    all 1.4× bigger with projector=True; no text anywhere in a spec smaller than a tick label."""
    scale = kit.PROJECTOR_SCALE if projector else 1.0
    for name, chart in every_chart(runs["knob change"], saved=[runs["tiny run"]], projector=projector).items():
        spec = chart.to_dict()
        config = spec["config"]
        assert config["axis"]["labelFontSize"] >= 14 * scale, name
        assert config["axis"]["titleFontSize"] >= 15 * scale, name
        assert config["title"]["fontSize"] >= 18 * scale, name
        assert config["legend"]["labelFontSize"] >= 14 * scale, name
        assert config["text"]["fontSize"] >= 16 * scale, name
        sizes = [value for _, key, value in walk(spec) if key.lower().endswith("fontsize")]
        assert sizes and min(sizes) >= 14 * scale, name
        assert all(mark["fontSize"] >= 16 * scale for mark in text_marks(spec)), name
    gap = run_charts.gap_chart(runs["knob change"], projector=projector).to_dict()
    texts = {mark.get("text") for mark in text_marks(gap)}
    assert "best" in texts and len(text_marks(gap)) >= 3  # "best", and the knob labels (with their halo)


def test_projector_mode_makes_every_size_about_1_4_times_bigger():
    normal, big = kit.fonts(), kit.fonts(projector=True)
    assert normal.keys() == big.keys()
    assert all(1.35 <= big[k] / normal[k] <= 1.5 for k in normal)
    assert kit.vega_config(True)["axis"]["labelFontSize"] == big["tick"]


def nominal_legends(spec: dict) -> list[dict]:
    """The legends that name series (colour or shape of a nominal field)."""
    return [
        value["legend"]
        for path, key, value in walk(spec)
        if key in ("color", "shape")
        and isinstance(value, dict)
        and value.get("type") == "nominal"
        and value.get("legend") is not None
    ]


SERIES_FREE = ("reach_heatmap", "dropout_masks", "sample")  # a grid or a text: no series to name


def test_series_are_named_inside_the_plot_above_the_data(runs, long_snap):
    """No legend below or beside the plot (below the fold on a 1024×768 projector): each sits inside the plot
    on a semi-opaque card, in a band the y scale keeps free of data; weight norms (three narrow panels) put
    theirs right under the title."""
    for snap in (runs["knob change"], long_snap):
        for name, chart in every_chart(snap, saved=[runs["tiny run"]], width=700, height=400).items():
            spec = chart.to_dict()
            if any("message" in row for row in data_rows(spec)):
                continue  # nothing to draw for this run (no reach or samples in the synthetic history)
            legends = nominal_legends(spec)
            assert legends or name in SERIES_FREE, name
            for legend in legends:
                if name == "weight_norms":
                    assert legend["orient"] == "top"
                    continue
                assert legend["orient"] == "none", name
                assert 0 <= legend["legendX"] < 700 and 0 <= legend["legendY"] < 400 * 0.5, name
                assert "0.85" in legend["fillColor"], name
            assert "bottom" not in {
                legend.get("orient") for _, key, legend in walk(spec) if key == "legend" and isinstance(legend, dict)
            }, name
    spec = run_charts.gap_chart(runs["knob change"], width=700, height=400).to_dict()
    legend = nominal_legends(spec)[0]
    lo, hi = spec["layer"][1]["encoding"]["y"]["scale"]["domain"]
    highest = max(v for row in data_rows(spec) for k, v in row.items() if k in (kit.TRAIN_EVAL, kit.VALIDATION))
    assert (hi - highest) / (hi - lo) * 400 >= legend["legendY"] + 1.2 * legend.get("labelFontSize", 14)


def label_boxes(spec: dict, width: int, size: int) -> list[tuple[int, float, float, str]]:
    """(y, left, right, text) of each knob/end label in pixels, from the spec alone. Widths use the builders'
    own estimate, which is wider than the real glyphs (0.55 em against ~0.5), so boxes that do not overlap
    here do not overlap on screen."""
    rows = data_rows(spec)
    steps = [row["step"] for row in rows if isinstance(row.get("step"), (int, float))]
    lo, hi = min(steps), max(steps)
    boxes = []
    for row in {json.dumps(r, sort_keys=True): r for r in rows if "label" in r}.values():
        x = (row["step"] - lo) / ((hi - lo) or 1) * width
        w = kit.text_width(row["label"], size)
        w = min(w, row["limit"]) if row["limit"] else w
        left, right = (x + 4, x + 4 + w) if row["align"] == "left" else (x - 4 - w, x - 4)
        boxes.append((row["y"], left, right, row["label"]))
    return boxes


def assert_no_overlap(boxes, width):
    for _y, left, right, text in boxes:
        assert -1 <= left and right <= width + 1, text
    for i, (y, left, right, text) in enumerate(boxes):
        for y2, left2, right2, text2 in boxes[i + 1 :]:
            assert y != y2 or right <= left2 or right2 <= left, (text, text2)


def with_events(snap: Snapshot, events: list[tuple[int, str, object, object]]) -> Snapshot:
    knob_events = [
        {"kind": "event", "event": "knob", "step": step, "knob": knob, "old": old, "new": new}
        for step, knob, old, new in events
    ]
    return Snapshot(snap.name, snap.start, snap.steps, snap.details, snap.evals, knob_events)


CLOSE_CHANGES = [
    (20, "dropout", 0.0, 0.5),
    (21, "l2", 0.0, 1e-5),
    (22, "clip", 0.0, 1.0),
    (40, "lr", 0.002, 0.003),
    (41, "l1", 0.0, 1e-5),
    (44, "dropout", 0.5, 0.2),
    (58, "batchnorm", False, True),
]


@pytest.mark.parametrize("width, projector", [(640, False), (900, False), (640, True), (1000, True)])
def test_knob_change_labels_never_overlap(runs, width, projector):
    """Changes close together (relative to the x span) share one label; the rest are staggered; one rule
    per change; labels say "KNOB OLD → NEW"."""
    snap = with_events(runs["tiny run"], CLOSE_CHANGES)
    size = kit.fonts(projector)["annotation"]
    for name in ("gap", "gradient_histogram", "layer_gradients"):
        spec = views.build_chart(name, snap, width=width, projector=projector).to_dict()
        rules = [row for row in data_rows(spec) if "top" in row and "label" not in row]
        assert sorted(row["step"] for row in rules) == [e[0] for e in CLOSE_CHANGES], name
        boxes = label_boxes(spec, width, size)
        assert_no_overlap(boxes, width)
        text = " · ".join(box[3] for box in boxes)
        assert {part.split(" ")[0] for part in text.split(" · ")} == {e[1] for e in CLOSE_CHANGES}, name
        assert "dropout 0 → 0.5 · l2 0 → 1e-05 · clip 0 → 1" in text, name  # three changes in three steps
        assert "batchnorm off → on" in text, name
        assert all(rule["top"] >= 0 and rule["bottom"] > rule["top"] for rule in rules)


def test_many_random_knob_changes_still_never_overlap(runs):
    import random

    rng = random.Random(1)
    for _trial in range(20):
        events = sorted(
            (rng.randint(1, 60), rng.choice(["dropout", "l2", "clip", "lr"]), rng.random(), rng.random())
            for _ in range(rng.randint(2, 30))
        )
        snap = with_events(runs["tiny run"], events)
        for width, projector in ((500, True), (800, False)):
            spec = run_charts.gap_chart(snap, width=width, projector=projector).to_dict()
            assert_no_overlap(label_boxes(spec, width, kit.fonts(projector)["annotation"]), width)
            rules = [row for row in data_rows(spec) if "top" in row and "label" not in row]
            assert len(rules) == min(len(events), kit.MAX_MARKERS)


def test_a_knob_changed_twice_is_compared_from_its_first_change(runs):
    snap = with_events(runs["knob change"], [(10, "dropout", 0.0, 0.2), (30, "dropout", 0.2, 0.5)])
    assert run_charts.describe_differences([runs["tiny run"], snap])["dropout"] == "dropout 0.5 (from step 10)"


@pytest.mark.parametrize("last", [7, 60, 300, 1_450, 5_000, 12_000, 250_000])
def test_the_step_axis_has_a_few_round_numbers(last):
    """At most 8 labels, each a whole number of steps on a 1-2-5 grid, written in full ('1,400', not '1.4k')."""
    chart = alt.Chart(alt.Data(values=[{"step": 1, "v": 0}, {"step": last, "v": 1}])).mark_line()
    svg = chart_to_svg(chart.encode(x=kit.step_axis(), y="v:Q").properties(width=kit.WIDTH))
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    labels = [int(text.replace(",", "")) for text in texts[: texts.index("step")]]
    assert 3 <= len(labels) <= 8, labels
    spacing = labels[1] - labels[0]
    assert all(b - a == spacing for a, b in zip(labels, labels[1:]))
    assert spacing / 10 ** math.floor(math.log10(spacing)) in (1, 2, 5) and labels[0] % spacing == 0
