"""A Streamlit client that speaks the browser's protocol: protobuf BackMsg / ForwardMsg over the
``/_stcore/stream`` websocket. The benchmarks use it to time a *server-side* rerun the way a
browser triggers one (a rerun request carrying the widget states, optionally scoped to a
fragment) against a real ``streamlit run`` server (harness/realparts.py ``streamlit_run``): from
sending the request to receiving ``script_finished``, on loopback. The security tests use it as
an attacker would: many first sessions at once, a resumed session id, raw BackMsgs
(``clear_cache``), a password form submitted over and over.

Not a product module: bench/ and tests/ only. Protocol: streamlit/proto/BackMsg.proto,
ForwardMsg.proto; the websocket handshake: streamlit/web/server/starlette/starlette_websocket.py
(``Sec-WebSocket-Protocol: streamlit, <xsrf token>, <session id to resume>``).
"""

from __future__ import annotations

import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

# ForwardMsg.ScriptFinishedStatus: a run that ended to make way for another is not the end.
FINISHED_EARLY_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
FINISHED_WITH_COMPILE_ERROR = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_WITH_COMPILE_ERROR")


@dataclass
class Run:
    """One script run as the browser sees it."""

    elapsed_s: float
    elements: list[Any] = field(default_factory=list)  # Element protos, in delta order
    fragment_ids: dict[str, str] = field(default_factory=dict)  # widget id -> fragment id
    texts: list[str] = field(default_factory=list)  # markdown / heading / metric / alert text
    query_string: str | None = None  # the address's query string, when the run changed it
    page: str = ""  # the page the server ran (its url path; "(default)" for the default page)
    exception: str | None = None


class Session:
    """One browser tab: a websocket session on a Streamlit server.

    ``resume`` asks to reconnect to an existing session by its id (what a browser does after a
    dropped connection); ``headers`` are extra handshake headers (``Cookie``, ``X-Forwarded-For``);
    ``ssl_context`` is for an ``https://`` base URL (the proxy); ``source_address`` is the local
    address to connect from (any of 127.0.0.0/8 on Linux: distinct "clients" on loopback)."""

    def __init__(
        self,
        base_url: str,
        page_name: str = "",
        timeout_s: float = 60.0,
        *,
        resume: str = "",
        headers: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        source_address: str | None = None,
        query_string: str = "",
    ) -> None:
        self.page_name = page_name
        self.query_string = query_string  # the address's query string, as the browser sends it
        self.page_script_hash = ""
        self.timeout_s = timeout_s
        self.session_id = ""  # from the server's new_session message (after the first run)
        ws_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/_stcore/stream"
        # The second entry is the XSRF token (a browser without one sends this placeholder).
        protocols = [Subprotocol("streamlit")]
        if resume:
            protocols += [Subprotocol("PLACEHOLDER_AUTH_TOKEN"), Subprotocol(resume)]
        extra: dict[str, Any] = {"source_address": (source_address, 0)} if source_address else {}
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(
            connect(
                ws_url,
                subprotocols=protocols,
                origin=Origin(base_url),
                max_size=None,
                open_timeout=timeout_s,
                additional_headers=headers,
                ssl=ssl_context,
                **extra,
            )
        )

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, message: BackMsg) -> None:
        """Send any BackMsg as it is (``clear_cache``, ``file_urls_request``…)."""
        self._ws.send(message.SerializeToString())

    def run(self, widgets: WidgetStates | None = None, fragment_id: str = "") -> Run:
        """Ask for a rerun (as a widget change or a page load does) and read until it is over."""
        message = BackMsg()
        state = message.rerun_script
        # As the browser does: the page's name from the address until a navigation message has
        # told it the page's hash, then the hash alone.
        state.page_name = "" if self.page_script_hash else self.page_name
        state.page_script_hash = self.page_script_hash
        state.query_string = self.query_string
        if widgets is not None:
            state.widget_states.CopyFrom(widgets)
        if fragment_id:
            state.fragment_id = fragment_id
        started = time.perf_counter()
        self._ws.send(message.SerializeToString())
        run = Run(elapsed_s=0.0)
        while True:
            forward = ForwardMsg()
            payload = self._ws.recv(timeout=self.timeout_s)
            if isinstance(payload, str):
                raise ValueError("the server sent a text frame; Streamlit speaks binary protobuf")
            forward.ParseFromString(payload)
            kind = forward.WhichOneof("type")
            if kind == "new_session":
                self.session_id = forward.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":
                self.page_script_hash = forward.navigation.page_script_hash
                for page in forward.navigation.app_pages:
                    if page.page_script_hash == self.page_script_hash:
                        run.page = page.url_pathname or "(default)"
            elif kind == "delta":
                _collect(forward.delta, run)
            elif kind == "page_info_changed":
                run.query_string = self.query_string = forward.page_info_changed.query_string
            elif kind == "script_finished":
                if forward.script_finished == FINISHED_EARLY_FOR_RERUN:
                    continue
                run.elapsed_s = time.perf_counter() - started
                if forward.script_finished == FINISHED_WITH_COMPILE_ERROR:
                    run.exception = "compile error"
                return run


def _collect(delta: Any, run: Run) -> None:
    if delta.WhichOneof("type") != "new_element":
        return
    element = delta.new_element
    run.elements.append(element)
    kind = element.WhichOneof("type")
    inner = getattr(element, kind)
    widget_id = getattr(inner, "id", "")
    if widget_id and delta.fragment_id:
        run.fragment_ids[widget_id] = delta.fragment_id
    if kind == "exception":
        run.exception = f"{inner.type}: {inner.message}"
    elif kind in ("markdown", "heading", "alert", "text"):
        run.texts.append(inner.body)
    elif kind == "metric":
        run.texts.append(f"{inner.label}: {inner.body}")


def slider(run: Run, label: str) -> tuple[str, str]:
    """(widget id, fragment id or "") of the slider labelled ``label`` in ``run``."""
    for element in run.elements:
        if element.WhichOneof("type") == "slider" and element.slider.label == label:
            return element.slider.id, run.fragment_ids.get(element.slider.id, "")
    raise LookupError(f"no slider {label!r} on the page")


def slider_move(widget_id: str, value: float) -> WidgetStates:
    """The widget states a browser sends when a one-handle slider is released at ``value``."""
    states = WidgetStates()
    widget = states.widgets.add()
    widget.id = widget_id
    widget.double_array_value.data.append(value)
    return states


def widget(run: Run, kind: str, label: str) -> Any:
    """The first ``kind`` element (``text_input``, ``button``…) labelled ``label`` in ``run``."""
    for element in run.elements:
        if element.WhichOneof("type") == kind and getattr(element, kind).label == label:
            return getattr(element, kind)
    raise LookupError(f"no {kind} {label!r} on the page")


def form_submit(text_inputs: dict[str, str], button_id: str) -> WidgetStates:
    """The widget states a browser sends when a form's submit button is pressed: the text
    inputs' values (by widget id) and the button's trigger."""
    states = WidgetStates()
    for widget_id, value in text_inputs.items():
        entry = states.widgets.add()
        entry.id = widget_id
        entry.string_value = value
    trigger = states.widgets.add()
    trigger.id = button_id
    trigger.trigger_value = True
    return states


def sign_in_states(run: Run, password: str) -> WidgetStates:
    """Submitting ``password`` in castmeter's sign-in form shown by ``run``."""
    field = widget(run, "text_input", "Password")
    button = widget(run, "button", "Sign in")
    return form_submit({field.id: password}, button.id)


def element_kinds(run: Run) -> set[str]:
    return {element.WhichOneof("type") for element in run.elements}
