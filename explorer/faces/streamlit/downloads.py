"""The download row under the charts: the run's history as CSV and each chart as PNG, built when clicked,
from the run as it is then, and kept until the browser has fetched it.

Streamlit (1.67) registers a download's generator anew on every run of the page and drops the previous run's
at the end of the next one; the file a click made is deleted at the end of the second run after it was made.
This page reruns its live part every second and its whole self at every slider move, so a click landing
in a rerun (the browser still holding the previous run's generator) got an error, and a fetch a busy browser
made two refreshes later got nothing: the download was cancelled. `keep_downloads` gives both a grace period.
"""

from __future__ import annotations

import time

import streamlit as st

from explorer.page.panels import JOB_CHARTS
from explorer.page.session import Session
from explorer.views.export import chart_to_png, history_csv
from explorer.views.registry import CHARTS, ChartSpec

DOWNLOAD_GRACE_S = 30.0  # a generator and a made file outlive the run that dropped them by this long


def keep_downloads(grace_s: float = DOWNLOAD_GRACE_S) -> None:
    """Keep a dropped download generator, and a made download file, for `grace_s` seconds after Streamlit
    would remove them (once per process; every page calls it). Streamlit has no setting for it: this wraps
    MediaFileManager's two removals, each called under its lock; a Streamlit without them is left as it is."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.media_file_storage import MediaFileKind

    remove_callables, delete_file = (
        getattr(MediaFileManager, name, None) for name in ("_remove_orphaned_deferred_callables", "_delete_file")
    )
    if remove_callables is None or delete_file is None or getattr(delete_file, "graced", False):
        return
    dropped_at: dict[str, float] = {}  # file id -> when Streamlit first let it go

    def due(file_id: str) -> bool:
        now = time.monotonic()
        if now - dropped_at.setdefault(file_id, now) < grace_s:
            return False
        del dropped_at[file_id]
        return True

    def remove_orphaned_callables(self) -> None:
        in_use = {file_id for files in self._files_by_session_and_coord.values() for file_id in files.values()}
        for file_id in [file_id for file_id in self._deferred_callables if file_id not in in_use]:
            if due(file_id):
                self._drop_deferred_id(file_id)

    def delete_file_when_due(self, file_id: str) -> None:
        metadata = self._file_metadata.get(file_id)
        if metadata is None or metadata.kind != MediaFileKind.DOWNLOADABLE or due(file_id):
            delete_file(self, file_id)

    delete_file_when_due.graced = True
    MediaFileManager._remove_orphaned_deferred_callables = remove_orphaned_callables
    MediaFileManager._delete_file = delete_file_when_due


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
    keep_downloads()
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
