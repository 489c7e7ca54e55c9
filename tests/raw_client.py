"""A Streamlit client without a browser, for the security tests: it speaks the app's websocket protocol with
Streamlit's own protobuf messages (`websocket-client` carries them), so a test can send what no widget would
send (a value outside a select's options, a `clear_cache`) and read every byte the server sends back."""

from __future__ import annotations

import http.cookiejar
import urllib.request
from urllib.parse import urlencode

import websocket
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

TEXT_ELEMENTS = ("markdown", "alert", "code", "text", "exception", "heading")


class RawClient:
    """One browser session. `cookies` are sent with the websocket's handshake (a browser sends its own)."""

    def __init__(self, url: str, query: dict | None = None, cookies: dict | None = None, timeout: float = 60.0):
        self.url, self.query, self.timeout = url, urlencode(query or {}), timeout
        jar = http.cookiejar.CookieJar()
        urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)).open(
            url + "_stcore/health"
        ).read()  # sets XSRF
        self.cookies = {cookie.name: cookie.value for cookie in jar} | (cookies or {})
        self.xsrf = self.cookies.get("_streamlit_xsrf", "")
        self.ws = websocket.create_connection(
            url.replace("http", "ws", 1) + "_stcore/stream",
            subprotocols=["streamlit", self.xsrf] if self.xsrf else ["streamlit"],
            cookie="; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            origin=url.rstrip("/"),
            timeout=timeout,
        )
        self.session_id = ""
        self.received = b""  # every byte the server sent this client
        self.elements: list[tuple[str, object]] = []  # the last run's elements: (type, message)
        self.widgets: dict[str, str] = {}  # user key -> widget id, from every run so far

    # ------------------------------------------------------------------------------------ sending
    def rerun(self, **states: WidgetState) -> list[tuple[str, object]]:
        """One run of the script with these widget states (by user key), as a browser would send it; returns
        the elements it drew."""
        message = BackMsg()
        message.rerun_script.query_string = self.query
        for key, state in states.items():
            state.id = self.widgets[key]
            message.rerun_script.widget_states.widgets.append(state)
        self.ws.send_binary(message.SerializeToString())
        return self._read_run()

    def click(self, key: str, **states: WidgetState) -> list[tuple[str, object]]:
        return self.rerun(**states, **{key: WidgetState(trigger_value=True)})

    def clear_cache(self) -> None:
        message = BackMsg()
        message.clear_cache = True
        self.ws.send_binary(message.SerializeToString())

    def close(self) -> None:
        self.ws.close()

    # ------------------------------------------------------------------------------------ reading
    def _read_run(self) -> list[tuple[str, object]]:
        self.elements = []
        while True:
            raw = self.ws.recv()
            if isinstance(raw, str):
                continue
            self.received += raw
            forward = ForwardMsg()
            forward.ParseFromString(raw)
            kind = forward.WhichOneof("type")
            if kind == "new_session":
                self.session_id = forward.new_session.initialize.session_id
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                which = element.WhichOneof("type")
                part = getattr(element, which)
                self.elements.append((which, part))
                if widget_id := getattr(part, "id", ""):
                    self.widgets[widget_id.rsplit("-", 1)[-1] if widget_id.startswith("$$ID") else widget_id] = (
                        widget_id
                    )
            elif kind == "script_finished":
                return self.elements

    def texts(self) -> str:
        """The last run's text, as written (alerts, markdown, code, exceptions)."""
        lines = []
        for which, part in self.elements:
            if which in TEXT_ELEMENTS:
                lines.append(getattr(part, "body", "") or getattr(part, "message", "") or getattr(part, "text", ""))
        return "\n".join(lines)

    def widget(self, key: str):
        """The last run's widget with this user key, as drawn (its value, whether disabled)."""
        return next(part for _, part in self.elements if getattr(part, "id", "") == self.widgets[key])

    def has(self, which: str) -> bool:
        return any(kind == which for kind, _ in self.elements)


def text(value: str) -> WidgetState:
    return WidgetState(string_value=value)
