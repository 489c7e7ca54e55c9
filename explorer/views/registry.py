"""The one registry of chart views both front ends draw from: a new view is added here, and each front end
loops over `VIEWS` (a tab per view, a chart widget per `ChartSpec`) and `SWEEP_VIEWS` without knowing any
one chart. Builders live in `charts` (the run's curves) and `mechanism_charts` (what a regulariser does
inside the network)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import altair as alt

from explorer.runs.history import Snapshot
from explorer.views.kit import WIDTH
from explorer.views.mechanism_charts import (
    dropout_mask_chart,
    gradient_reach_chart,
    reach_heatmap_chart,
)
from explorer.views.memorisation_charts import memorisation_chart, sample_chart
from explorer.views.run_charts import (
    comparison_chart,
    gap_chart,
    gradient_histogram_chart,
    layer_gradient_chart,
    weight_norm_chart,
)
from explorer.views.sweep_charts import landscape_chart, paired_difference_chart, variance_band_chart


@dataclass(frozen=True)
class ChartSpec:
    """One chart a front end can draw: `build(snap, saved, **opts)` with opts width, height (plot area, px),
    metric ("loss" | "ppl") and projector; every chart takes them all and uses what applies to it, so a
    front end needs to know nothing about any one chart."""

    name: str  # key in all_charts and in widget/app state: "gap"
    title: str  # a short human name: "Generalisation gap"
    build: Callable[..., alt.TopLevelMixin]
    file_name: str  # for downloads: "explorer-gap.png"


@dataclass(frozen=True)
class View:
    """A tab of charts. VIEWS lists the CHART views only: a front end adds its own non-chart tabs
    (the text sample) after them."""

    name: str  # "gap", "gradients", "weights", "compare"
    title: str  # the tab's label
    charts: tuple[ChartSpec, ...]


def _of_snap(builder: Callable[..., alt.TopLevelMixin]) -> Callable[..., alt.TopLevelMixin]:
    """A builder of one snapshot (no metric) under the uniform signature."""

    def build(snap: Snapshot, saved: Sequence[Snapshot] = (), metric: str = "loss", **opts) -> alt.TopLevelMixin:
        return builder(snap, **opts)

    build.__doc__, build.__name__ = builder.__doc__, builder.__name__
    return build


def _gap(snap: Snapshot, saved: Sequence[Snapshot] = (), metric: str = "loss", **opts) -> alt.TopLevelMixin:
    return gap_chart(snap, metric=metric, **opts)


def _comparison(snap: Snapshot, saved: Sequence[Snapshot] = (), metric: str = "loss", **opts) -> alt.TopLevelMixin:
    return comparison_chart([*saved, snap], **opts)  # the saved runs, then the current one (drawn thickest)


def _chart(name: str, title: str, build: Callable[..., alt.TopLevelMixin]) -> ChartSpec:
    return ChartSpec(name, title, build, f"explorer-{name.replace('_', '-')}.png")


# The one place a new view is added; both front ends loop over it. Order = tab order.
VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        View("gap", "Generalisation gap", (_chart("gap", "Generalisation gap", _gap),)),
        View(
            "gradients",
            "Gradients",
            (
                _chart("gradient_histogram", "Gradient magnitudes", _of_snap(gradient_histogram_chart)),
                _chart("layer_gradients", "Gradient norm per layer", _of_snap(layer_gradient_chart)),
            ),
        ),
        View("weights", "Weights", (_chart("weight_norms", "Weight norms", _of_snap(weight_norm_chart)),)),
        View("compare", "Compare runs", (_chart("comparison", "Run comparison", _comparison),)),
        View(
            "reach",
            "Reach",
            (
                _chart("gradient_reach", "Gradient reach", _of_snap(gradient_reach_chart)),
                _chart("reach_heatmap", "Gradient reach over training", _of_snap(reach_heatmap_chart)),
            ),
        ),
        View("masks", "Masks", (_chart("dropout_masks", "Dropout masks", _of_snap(dropout_mask_chart)),)),
        View(
            "memorisation",
            "Memorisation",
            (
                _chart("memorisation", "Memorisation meter", _of_snap(memorisation_chart)),
                _chart("sample", "Latest sample", _of_snap(sample_chart)),
            ),
        ),
    )
}
CHARTS: dict[str, ChartSpec] = {chart.name: chart for view in VIEWS.values() for chart in view.charts}

# Views of a sweep (a `SweepSummary` in: `build(summary, **opts)`), for the "over seeds" and Sweep tabs.
SWEEP_VIEWS: dict[str, View] = {
    view.name: view
    for view in (
        View(
            "seeds",
            "Over seeds",
            (
                _chart("variance_bands", "Variance bands", variance_band_chart),
                _chart("paired_differences", "Paired differences", paired_difference_chart),
            ),
        ),
        View("landscape", "Landscape", (_chart("landscape", "Landscape", landscape_chart),)),
    )
}
SWEEP_CHARTS: dict[str, ChartSpec] = {chart.name: chart for view in SWEEP_VIEWS.values() for chart in view.charts}


def build_chart(name: str, snap: Snapshot, saved: Sequence[Snapshot] = (), **opts) -> alt.TopLevelMixin:
    """The chart called `name` (a key of CHARTS) for this snapshot and the saved runs; opts: width, height,
    metric ("loss" | "ppl"), projector."""
    if name not in CHARTS:
        raise KeyError(f"no chart {name!r}; charts: {', '.join(CHARTS)}")
    return CHARTS[name].build(snap, saved, **opts)


def all_charts(
    snap: Snapshot, saved: Sequence[Snapshot] = (), width: int = WIDTH, metric: str = "loss", **opts
) -> dict[str, alt.TopLevelMixin]:
    """Every chart of every view for one redraw (PNG downloads, the benchmark), keyed by chart name:
    gap, gradient_histogram, layer_gradients, weight_norms, comparison (saved runs + this one).
    opts: height, projector."""
    return {name: chart.build(snap, saved, width=width, metric=metric, **opts) for name, chart in CHARTS.items()}
