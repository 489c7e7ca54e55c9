"""The dashboard's tabs: one per view of `explorer.views.registry.VIEWS` asked for (each a column of chart
widgets), plus the Sweep and Text sample tabs, whose panels are made elsewhere and placed here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import altair as alt
import ipywidgets as W

from explorer.faces.notebook.chart import chart_widget
from explorer.page.panels import TAB_TITLES, chart_height
from explorer.runs.history import Snapshot
from explorer.views import registry as chart_views

VIEWS = tuple(TAB_TITLES)  # every tab, in order: the chart views, the Sweep tab, the text sample


class ChartTabs:
    """`tabs` (the Tab widget), `metric` (loss or perplexity, above the gap chart) and `charts` {chart name:
    JupyterChart}. `panels` {view: widget} places a panel: a chart view's below its charts, another view's as
    its whole tab."""

    def __init__(self, views: Sequence[str], panels: Mapping[str, W.Widget], width: int, poke: Callable[[], None]):
        self.views, self._width = list(views), width
        self.metric = W.ToggleButtons(
            options=[("loss", "loss"), ("perplexity", "ppl")],
            value="loss",
            style={"button_width": "90px"},
            tooltip="Loss in nats/token, or perplexity = e^loss",
        )
        self.metric.observe(lambda _: poke(), names="value")
        # Chart widgets are made when their tab is first drawn: each loads its own copy of the offline Vega
        # bundle, and anywidget gives a widget 2 s to load before it stops taking updates, which a slow
        # laptop misses when a dozen load at once.
        self.charts: dict[str, alt.JupyterChart] = {}
        self._boxes: dict[str, W.VBox] = {}
        pages = []
        for name in self.views:
            if name not in chart_views.VIEWS:
                pages.append(panels[name])
                continue
            self._boxes[name] = W.VBox()
            widgets = [self.metric] if name == "gap" else []
            widgets.append(self._boxes[name])
            if name in panels:
                widgets.append(panels[name])
            pages.append(W.VBox(widgets))
        self.tabs = W.Tab(children=pages, titles=[TAB_TITLES[v] for v in self.views])
        self.tabs.observe(lambda _: poke(), names="selected_index")

    @property
    def view(self) -> str | None:
        """The view whose tab is open."""
        tab = self.tabs.selected_index
        return self.views[tab] if tab is not None and tab < len(self.views) else None

    def draw(self, view: str | None, snap: Snapshot, saved: list[Snapshot], projector: bool) -> int:
        """The charts of `view` (a chart view) drawn anew; returns how many were drawn."""
        if view not in chart_views.VIEWS:
            return 0
        specs = chart_views.VIEWS[view].charts
        box = self._boxes.get(view)
        if box is not None and not box.children:  # the tab's first draw: its widgets are made now
            for spec in specs:
                self.charts[spec.name] = chart_widget(width=self._width)
            box.children = [self.charts[spec.name] for spec in specs]
        for spec in specs:
            self.charts[spec.name].chart = spec.build(
                snap,
                saved,
                width=self._width,
                metric=self.metric.value,
                projector=projector,
                height=chart_height(projector),
            )
        return len(specs)
