"""JSON access logs (one object a line) read through a field map, since JSON logs have no fixed
schema: nginx ``log_format ... escape=json`` and Caddy's ``http.log.access`` both fit.

A field map names, for each of castmeter's fields, where the value is: a dotted path into the
object (``request.client_ip``), alternatives separated by ``|`` (the first present wins). A list
value (Caddy's header values) gives its first element.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from collectors.hls.records import BadLine, Request, parse_timestamp

# castmeter's fields: the ones a map must name, and the optional ones.
REQUIRED_FIELDS = ("time", "client", "status")
OPTIONAL_FIELDS = ("path", "request", "method", "bytes", "user_agent")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS

# nginx with the log_format of the issue 17 research notes, 1.1 (escape=json).
NGINX_JSON_FIELDS: Mapping[str, str] = {
    "time": "msec|time_iso8601|time",
    "client": "remote_addr",
    "path": "uri",
    "request": "request",
    "status": "status",
    "bytes": "body_bytes_sent",
    "user_agent": "http_user_agent",
}
# Caddy's access log (logger http.log.access): ts, request.{client_ip,uri,method,headers}, size.
CADDY_JSON_FIELDS: Mapping[str, str] = {
    "time": "ts",
    "client": "request.client_ip|request.remote_ip",
    "path": "request.uri",
    "method": "request.method",
    "status": "status",
    "bytes": "size",
    "user_agent": "request.headers.User-Agent",
}


def check_field_map(fields: Mapping[str, str]) -> None:
    """Raise ValueError when ``fields`` misses a required field or names an unknown one."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    if not (fields.get("path") or fields.get("request")):
        raise ValueError("needs 'path' or 'request' (a request line such as nginx $request)")


def _lookup(record: Mapping[str, Any], spec: str | None) -> Any:
    if not spec:
        return None
    for alternative in spec.split("|"):
        value: Any = record
        for part in alternative.split("."):
            if not isinstance(value, Mapping) or part not in value:
                value = None
                break
            value = value[part]
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None and value != "":
            return value
    return None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise BadLine(f"{name} is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            return int(float(value))
        except ValueError:
            pass
    raise BadLine(f"bad {name}")


def parse_json_line(line: str, fields: Mapping[str, str]) -> Request:
    """One JSON log line through ``fields``; :class:`BadLine` when it cannot be read."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadLine("not JSON") from exc
    if not isinstance(record, dict):
        raise BadLine("not a JSON object")
    return request_from_record(record, fields)


def request_from_record(record: Mapping[str, Any], fields: Mapping[str, str]) -> Request:
    """A decoded JSON record through ``fields``."""
    time_value = _lookup(record, fields.get("time"))
    client = _lookup(record, fields.get("client"))
    status = _lookup(record, fields.get("status"))
    if time_value is None or client is None or status is None:
        raise BadLine("missing time, client or status")
    method = _lookup(record, fields.get("method"))
    path = _lookup(record, fields.get("path"))
    request_line = _lookup(record, fields.get("request"))
    if isinstance(request_line, str):
        parts = request_line.split(" ")
        if len(parts) == 3:
            method = method or parts[0]
            path = path or parts[1]
    if not isinstance(path, str) or not path:
        raise BadLine("no request path")
    size = _lookup(record, fields.get("bytes"))
    agent = _lookup(record, fields.get("user_agent"))
    return Request(
        ts=parse_timestamp(time_value),
        client=str(client),
        user_agent=str(agent) if agent is not None else "",
        method=str(method) if method else "GET",
        path=path.split("?", 1)[0],
        status=_int(status, "status"),
        body_bytes=0 if size is None else _int(size, "bytes"),
    )
