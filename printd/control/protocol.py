"""Sans-I/O JSON-RPC 2.0 over newline-delimited JSON: bytes in → requests out, results in → bytes out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from printd.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PrintdError,
)

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
MAX_PARAMS_DEPTH = 32

RequestId = str | int | None

MAX_ACCOUNT_NAME = 64
"""The longest ``on_behalf_of``: a dashboard account's name."""

_MEMBERS = frozenset({"jsonrpc", "id", "method", "params", "on_behalf_of"})
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Request:
    """A well-formed request. ``notification`` is true when it had no ``id``: it must not be answered.
    ``on_behalf_of``: the dashboard account printd-web makes the request for (the server decides if it may)."""

    method: str
    params: dict[str, object] = field(default_factory=dict)
    id: RequestId = None
    notification: bool = False
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """A line that is not a request; answer with ``encode_error(id, error)`` and close after if ``fatal``."""

    error: PrintdError
    id: RequestId = None
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Response:
    """A reply as a client reads it: ``error`` is set for an error reply, ``result`` otherwise."""

    id: RequestId
    result: object = None
    error: PrintdError | None = None


Event = Request | ProtocolViolation


class MalformedResponseError(ValueError):
    """The peer's reply is not a JSON-RPC 2.0 response."""


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


class LineBuffer:
    """Splits a byte stream into lines of at most ``max_line_bytes`` (the terminator not counted).

    Once a line grows past the limit, ``overflowed`` is set, the pending data is dropped and every later
    ``feed`` returns nothing: the stream cannot be resynchronised safely.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.overflowed = False
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already known to hold no newline

    def feed(self, data: bytes) -> list[bytes]:
        if self.overflowed:
            return []
        self._buf += data
        lines: list[bytes] = []
        start = 0
        pos = self._scanned
        while (end := self._buf.find(b"\n", pos)) >= 0:
            if end - start > self.max_line_bytes:
                self._overflow()
                return lines
            lines.append(bytes(self._buf[start:end]))
            start = pos = end + 1
        del self._buf[:start]
        self._scanned = len(self._buf)
        if len(self._buf) > self.max_line_bytes:
            self._overflow()
        return lines

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the end of a line."""
        return len(self._buf)

    def flush(self) -> bytes | None:
        """At end of input: the unterminated last line, if any."""
        if self.overflowed or not self._buf:
            return None
        tail = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        return tail

    def _overflow(self) -> None:
        self.overflowed = True
        self._buf = bytearray()
        self._scanned = 0


class Connection:
    """The server side of one client connection: bytes in, requests and protocol violations out.

    Framing: one UTF-8 JSON object per line, each ended by ``\\n`` (a trailing ``\\r`` is tolerated, blank
    lines are skipped; at end of input an unterminated last line still counts). A line longer than
    ``max_message_bytes`` yields a fatal ``request.too_large``: answer it, then close the connection.
    What counts as a request is ``parse_request``'s business.
    """

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._lines = LineBuffer(max_message_bytes)
        self._reported_overflow = False

    @property
    def closed(self) -> bool:
        """True once a fatal violation was returned: read nothing more, answer it and close."""
        return self._reported_overflow

    @property
    def pending(self) -> int:
        """Bytes of a request begun but not yet ended by a newline."""
        return self._lines.pending

    def feed(self, data: bytes) -> list[Request | ProtocolViolation]:
        return self._events(self._lines.feed(data))

    def end_of_input(self) -> list[Request | ProtocolViolation]:
        """The peer closed its sending side: the unterminated last line is still a request."""
        tail = self._lines.flush()
        return self._events([] if tail is None else [tail])

    def _events(self, lines: list[bytes]) -> list[Request | ProtocolViolation]:
        events: list[Request | ProtocolViolation] = []
        for line in lines:
            if line and not line.isspace():
                events.append(parse_request(line))
        if self._lines.overflowed and not self._reported_overflow:
            self._reported_overflow = True
            limit = _size(self._lines.max_line_bytes)
            events.append(
                ProtocolViolation(
                    PrintdError(
                        "request.too_large",
                        f"The request is larger than the {limit} limit; split it into smaller requests "
                        "(fewer jobs per batch, images by file path rather than data: URI).",
                        {"limit_bytes": self._lines.max_line_bytes},
                    ),
                    fatal=True,
                )
            )
        return events


def _invalid(message: str, rid: RequestId = None) -> ProtocolViolation:
    return ProtocolViolation(PrintdError("request.invalid", message), rid)


def _valid_id(value: object) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _deeper_than(value: object, limit: int) -> bool:
    # A level at a time, keeping only the containers: a 5,000-job batch is checked in ~2 ms rather than ~8 ms
    # of the event loop's time (every client waits while a request is read).
    level = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        depth += 1
    return False


def parse_request(line: bytes) -> Request | ProtocolViolation:
    """Read one line (without its terminator) as a JSON-RPC 2.0 request.

    Not JSON or not UTF-8: ``request.parse_error`` (-32700). Answered with ``request.invalid`` (-32600):
    anything but an object; batch requests (a JSON array; unsupported, send one request per line instead);
    ``jsonrpc`` other than ``"2.0"``; a non-string ``method``; ``params`` other than an object (positional
    params are unsupported); an ``id`` other than a string, an integer or null; members beyond ``jsonrpc``,
    ``id``, ``method``, ``params`` and ``on_behalf_of``; an ``on_behalf_of`` other than a string of 1 to
    ``MAX_ACCOUNT_NAME`` characters; nesting deeper than ``MAX_PARAMS_DEPTH`` levels. The violation carries
    the request's id when it could be read, so the answer can name it. A request without ``id`` is a
    notification: it is served but never answered.
    """
    try:
        obj = _decoder.decode(line)
    except RecursionError:
        return _invalid(
            f"The request nests objects or arrays too deeply; params may be at most {MAX_PARAMS_DEPTH} levels deep."
        )
    except msgspec.DecodeError:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return ProtocolViolation(
                PrintdError("request.parse_error", "The request is not valid UTF-8; send UTF-8 encoded JSON.")
            )
        return ProtocolViolation(
            PrintdError(
                "request.parse_error",
                "The request is not valid JSON; send one JSON-RPC 2.0 object per line.",
            )
        )
    if isinstance(obj, list):
        return _invalid("Batch requests are not supported; send one JSON-RPC 2.0 object per line.")
    if not isinstance(obj, dict):
        return _invalid("A request must be a JSON object with jsonrpc, method, params and id.")
    has_id = "id" in obj
    rid = obj.get("id")
    if not _valid_id(rid):
        return _invalid("The request id must be a string, an integer or null.")
    if obj.get("jsonrpc") != "2.0":
        return _invalid('The request must say "jsonrpc": "2.0".', rid)
    method = obj.get("method")
    if not isinstance(method, str):
        return _invalid("The request needs a method name as a string.", rid)
    params = obj.get("params", {})
    if not isinstance(params, dict):
        return _invalid("params must be an object of named parameters; positional params are not supported.", rid)
    extra = obj.keys() - _MEMBERS
    if extra:
        names = ", ".join(sorted(repr(k[:40]) for k in extra)[:5])
        return _invalid(
            f"Unknown request members {names}; only jsonrpc, id, method, params and on_behalf_of are allowed.", rid
        )
    on_behalf_of = obj.get("on_behalf_of")
    if "on_behalf_of" in obj and not (isinstance(on_behalf_of, str) and 0 < len(on_behalf_of) <= MAX_ACCOUNT_NAME):
        return _invalid(
            f"on_behalf_of must be a dashboard account's name: a string of 1 to {MAX_ACCOUNT_NAME} characters.", rid
        )
    if _deeper_than(params, MAX_PARAMS_DEPTH):
        return _invalid(f"params nest more than {MAX_PARAMS_DEPTH} levels deep; flatten them.", rid)
    return Request(method, params, rid, notification=not has_id, on_behalf_of=on_behalf_of)


_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, msgspec.EncodeError)


def encode_result(rid: RequestId, result: object) -> bytes:
    """A success reply line. Raises ``ValueError`` if ``result`` cannot be encoded as JSON."""
    try:
        return _encoder.encode({"jsonrpc": "2.0", "id": rid, "result": result}) + b"\n"
    except _ENCODE_ERRORS as exc:
        raise ValueError(f"result cannot be encoded as JSON ({type(exc).__name__})") from None


def encode_error(rid: RequestId, error: PrintdError) -> bytes:
    """An error reply line: ``error.data`` carries the machine code and any details."""
    data: dict[str, object] = {"code": error.code}
    data.update((k, v) for k, v in error.details.items() if k != "code")
    try:
        return _encode_error(rid, error, data)
    except _ENCODE_ERRORS:
        # Details that cannot be encoded are dropped rather than losing the answer.
        return _encode_error(rid, error, {"code": error.code})


def _encode_error(rid: RequestId, error: PrintdError, data: dict[str, object]) -> bytes:
    body = {"code": error.rpc_number, "message": error.message, "data": data}
    return _encoder.encode({"jsonrpc": "2.0", "id": rid, "error": body}) + b"\n"


def encode_request(
    rid: RequestId, method: str, params: Mapping[str, object] | None = None, *, on_behalf_of: str | None = None
) -> bytes:
    """A request line; ``rid`` None makes it a notification (no ``id`` member, no reply). ``on_behalf_of``: the
    dashboard account the request is made for (only printd-web's user may say so)."""
    msg: dict[str, object] = {"jsonrpc": "2.0", "method": method, "params": dict(params or {})}
    if rid is not None:
        msg["id"] = rid
    if on_behalf_of is not None:
        msg["on_behalf_of"] = on_behalf_of
    return _encoder.encode(msg) + b"\n"


_FALLBACK_CODES = {
    PARSE_ERROR: "request.parse_error",
    INVALID_REQUEST: "request.invalid",
    METHOD_NOT_FOUND: "method.not_found",
    INVALID_PARAMS: "params.invalid",
    INTERNAL_ERROR: "internal",
}


def error_from_reply(error: object) -> PrintdError:
    """Rebuild a ``PrintdError`` from a reply's ``error`` member."""
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise MalformedResponseError("error member is not a JSON-RPC error object")
    data = error.get("data")
    details = dict(data) if isinstance(data, dict) else {}
    code = details.pop("code", None)
    if not isinstance(code, str):
        number = error.get("code")
        code = _FALLBACK_CODES.get(number, "internal") if isinstance(number, int) else "internal"
    return PrintdError(code, error["message"], details)


def parse_response(line: bytes) -> Response:
    """Read one reply line (without its terminator). Raises ``MalformedResponseError``."""
    try:
        obj = _decoder.decode(line)
    except (msgspec.DecodeError, RecursionError):
        raise MalformedResponseError("reply is not valid JSON") from None
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0" or not _valid_id(obj.get("id")):
        raise MalformedResponseError("reply is not a JSON-RPC 2.0 response")
    if "error" in obj:
        return Response(obj.get("id"), error=error_from_reply(obj["error"]))
    if "result" not in obj:
        raise MalformedResponseError("reply has neither result nor error")
    return Response(obj.get("id"), obj["result"])
