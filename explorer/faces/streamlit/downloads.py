"""The download row under the charts: the run's history as CSV and each chart as PNG, built when clicked,
from the run as it is then."""

from __future__ import annotations

import streamlit as st

from explorer.page.panels import JOB_CHARTS
from explorer.page.session import Session
from explorer.views.export import chart_to_png, history_csv
from explorer.views.registry import CHARTS, ChartSpec


def run_chart_png(session: Session, spec: ChartSpec) -> bytes:
    *others, snap = session.comparison()  # the saved runs, the live branches, then this run
    return chart_to_png(spec.build(snap, others))


def job_chart_png(session: Session, kind: str, spec: ChartSpec) -> bytes:
    return chart_to_png(spec.build(session.job_summary(kind)))


def download(label: str, make, file_name: str, mime: str, key: str) -> None:
    st.download_button(
        label, make, file_name, mime, key=key, on_click="ignore", icon=":material/download:", type="tertiary"
    )


def downloads(session: Session) -> None:
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption("Download")
        download(
            "history.csv", lambda: history_csv(session.snapshot()), "explorer-history.csv", "text/csv", "download_csv"
        )
        for spec in CHARTS.values():
            name = spec.file_name.removeprefix("explorer-")
            download(
                name,
                lambda spec=spec: run_chart_png(session, spec),
                spec.file_name,
                "image/png",
                f"download_{spec.name}",
            )
        for kind, specs in JOB_CHARTS.items():
            if session.job_line(kind) is None:
                continue
            for spec in specs:
                name = f"{kind}-{spec.file_name.removeprefix('explorer-')}"
                make = lambda kind=kind, spec=spec: job_chart_png(session, kind, spec)  # noqa: E731
                download(name, make, f"explorer-{name}", "image/png", f"download_{kind}_{spec.name}")
