"""Streamlit helpers shared by the app's pages (the student's page and the teacher's page): how a chart and a
message are handed to Streamlit, how text from a client is shown as itself, what the server refuses to do for
any client, and the cookie that makes a browser's tabs one seat in a class."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import streamlit as st

from explorer.page.status import Message

SEAT_COOKIE = "explorer_seat"
UPLOADS_IN_MEMORY_BYTES = 100 * 2**20  # every session's upload in flight together (each at most 5 MiB)
SEAT_KEY = re.compile(r"[A-Za-z0-9_-]{32}")

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")  # & too: "&#8238;" would be an entity


# GitHub-flavoured Markdown links bare addresses (www.x.y, http://…, a@b.c) even when their dots are escaped:
# a zero-width space after "www", the scheme or the "@" leaves the text as it reads and no longer an address.
AUTOLINK_STARTS = re.compile(r"(?i)(www(?=\\\.)|(?:https?|ftp|mailto|xmpp)(?=\\:)|@)")


def markdown_text(text: str) -> str:
    """Text a client sent (a name, a link's value, a file name), shown as itself in Streamlit markdown: no
    links, images, emphasis or HTML from it."""
    return AUTOLINK_STARTS.sub("\\1\u200b", MARKDOWN_SPECIALS.sub(r"\\\1", text))


def say(message: Message) -> None:
    """A session's Message, as text: it may quote a link, a file name or a value a client sent."""
    {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}[message.level](
        markdown_text(message.text)
    )


def draw(make_vega: Callable[[], dict]) -> None:
    """A chart on the page; one that cannot be drawn is a warning in its place, and the lesson goes on."""
    try:
        st.vega_lite_chart(make_vega(), width="stretch")
    except Exception as err:  # noqa: BLE001 - one odd chart must not take the lesson down
        st.warning(f"This chart could not be drawn: {type(err).__name__}: {err}")


def vega(chart) -> dict:
    """An Altair chart as the page draws it. The charts are valid by construction (tests/test_charts.py):
    Altair's slow schema check is skipped."""
    spec = chart.to_dict(validate=False)
    if (
        not {"hconcat", "vconcat"} & spec.keys()
    ):  # a single view: stretch to the page's width only: Streamlit's default "fit" would squeeze
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}  # title, legend and plot into one height
    return spec


_MAY_UPLOAD: list = [None]  # who may hold an upload in the server's memory: a page's session id -> bool


def harden_server(may_upload: Callable[[str], bool] | None = None) -> None:
    """What Streamlit grants any client, refused for the whole server (once per process; every page calls it):
    - a `clear_cache` message clears `st.cache_resource` and the sender's session state for everyone's
      server: refused (explorer caches nothing there, and a cleared session would orphan its run's worker);
    - the upload endpoint keeps every file a session PUTs until the session ends: a session now holds one
      upload at a time (the file uploader takes one file), at most server.maxUploadSize, and the server
      holds at most UPLOADS_IN_MEMORY_BYTES of them together.
    `may_upload`: which sessions may upload at all (a class: only a seated student's pages; None: any).
    Streamlit has no setting for either (1.67: AppSession.handle_backmsg, MemoryUploadedFileManager)."""
    _MAY_UPLOAD[0] = may_upload
    from streamlit.runtime.app_session import AppSession
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    if getattr(AppSession._handle_clear_cache_request, "refused", False):
        return

    def refuse_clear_cache(self) -> None:
        print(f"explorer: refused a clear_cache message from session {self.id[:8]}", flush=True)

    refuse_clear_cache.refused = True
    AppSession._handle_clear_cache_request = refuse_clear_cache
    add_file = MemoryUploadedFileManager.add_file

    def one_upload_per_session(self, session_id, file) -> None:
        self.remove_session_files(session_id)
        if _MAY_UPLOAD[0] is not None and not _MAY_UPLOAD[0](session_id):
            print(f"explorer: refused an upload from session {session_id[:8]}: not a seated student", flush=True)
            return
        if self._total_bytes + len(file.data) > UPLOADS_IN_MEMORY_BYTES:
            print("explorer: refused an upload: the server holds too many at once", flush=True)
            return
        add_file(self, session_id, file)

    MemoryUploadedFileManager.add_file = one_upload_per_session


def drop_uploads(session_id: str) -> None:
    """Free the uploads a session holds in the server's memory, once explorer has read (or refused) them."""
    from streamlit import runtime

    if runtime.exists():
        runtime.get_instance().uploaded_file_mgr.remove_session_files(session_id)


def seat_key(cookies) -> tuple[str, str | None]:
    """(this browser's seat key, a script that stores a new one in its cookie, or None when it has one).
    Every tab and reload after the first sends the cookie, so they sit at one seat; a key is 32 random
    characters the server made, never shown, so a classmate has nothing to copy. A session cookie: it ends
    with the browser, so the next student at a shared lab computer gets a seat of their own."""
    key = cookies.get(SEAT_COOKIE, "")
    if SEAT_KEY.fullmatch(key):
        return key, None
    key = secrets.token_urlsafe(24)
    return key, f"<script>document.cookie = '{SEAT_COOKIE}={key}; path=/; samesite=strict';</script>"
