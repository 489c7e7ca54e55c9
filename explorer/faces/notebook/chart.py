"""The chart widget: an Altair chart drawn by `alt.JupyterChart`, offline, redrawn by assigning `.chart`.
Both the dashboard and the lessons draw with it."""

from __future__ import annotations

import os
from pathlib import Path

import altair as alt

from explorer.runs.history import Snapshot
from explorer.views import run_charts

CHART_WIDTH = 520  # plot width in pixels (axes and legends come on top): knobs and chart side by side at 1024 px
EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


def enable_offline_charts() -> None:
    """`alt.JupyterChart` loads vega-embed from a CDN unless told otherwise, and then silently draws nothing
    offline. Altair bundles it with vl-convert (3-8 s per kernel), so the bundle is cached on disk by version."""
    chart = alt.JupyterChart
    if getattr(chart, "_is_offline", False):
        return
    try:
        import vl_convert

        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "explorer"
        path = cache / f"jupyterchart-altair{alt.__version__}-vlc{vl_convert.__version__}.js"
        if hasattr(chart, "_is_offline") and path.is_file():
            chart._esm, chart._is_offline = path.read_text(encoding="utf-8"), True
            return
        chart.enable_offline()
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(chart._esm, encoding="utf-8")
        partial.replace(path)  # atomic: another kernel reading the cache never sees half a file
    except OSError:
        chart.enable_offline()


def chart_widget(chart: alt.TopLevelMixin | None = None, width: int = CHART_WIDTH) -> alt.JupyterChart:
    """A chart as a widget that renders offline (SVG, so it is sharp on a projector; the … menu saves
    PNG/SVG). Assign `.chart = new_chart` to redraw it."""
    enable_offline_charts()
    return alt.JupyterChart(
        chart if chart is not None else run_charts.gap_chart(Snapshot(), width=width), embed_options=EMBED_OPTIONS
    )
