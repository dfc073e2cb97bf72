"""The sans-I/O JSON-RPC codec: framing, every malformed request with its exact code, and the reply bytes."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printd.control.protocol import (
    MAX_PARAMS_DEPTH,
    Connection,
    LineBuffer,
    MalformedResponseError,
    ProtocolViolation,
    Request,
    Response,
    encode_error,
    encode_request,
    encode_result,
    error_from_reply,
    parse_request,
    parse_response,
)
from printd.errors import PrintdError


def one(line: bytes) -> Request | ProtocolViolation:
    events = Connection().feed(line + b"\n")
    assert len(events) == 1
    return events[0]


def violation(line: bytes) -> ProtocolViolation:
    event = one(line)
    assert isinstance(event, ProtocolViolation), event
    return event


# ---- well-formed requests ---------------------------------------------------------------------------


def test_request_with_params_and_id() -> None:
    event = one(b'{"jsonrpc":"2.0","id":7,"method":"jobs.get","params":{"job":"A-1"}}')
    assert event == Request("jobs.get", {"job": "A-1"}, 7, notification=False)


@pytest.mark.parametrize("rid", ['"abc"', "0", "-3", "null"])
def test_request_ids(rid: str) -> None:
    event = one(b'{"jsonrpc":"2.0","id":%s,"method":"status"}' % rid.encode())
    assert isinstance(event, Request)
    assert event.id == msgspec.json.decode(rid)
    assert event.params == {}
    assert not event.notification


def test_notification_has_no_id() -> None:
    event = one(b'{"jsonrpc":"2.0","method":"status"}')
    assert event == Request("status", {}, None, notification=True)


def test_byte_by_byte_and_many_per_chunk() -> None:
    line = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
    conn = Connection()
    events: list[Request | ProtocolViolation] = []
    for b in line:
        events += conn.feed(bytes([b]))
    assert events == [Request("status", {}, 1)]
    assert len(Connection().feed(line * 3)) == 3


def test_crlf_and_blank_lines() -> None:
    conn = Connection()
    events = conn.feed(b'\n  \r\n{"jsonrpc":"2.0","id":1,"method":"status"}\r\n\n')
    assert events == [Request("status", {}, 1)]


def test_pending_counts_the_unfinished_request() -> None:
    conn = Connection()
    assert conn.pending == 0
    conn.feed(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n{"jsonrpc"')
    assert conn.pending == len(b'{"jsonrpc"')
    conn.feed(b':"2.0","id":2,"method":"status"}\n')
    assert conn.pending == 0


def test_unterminated_last_line_at_end_of_input() -> None:
    conn = Connection()
    assert conn.feed(b'{"jsonrpc":"2.0","id":1,"method":"status"}') == []
    assert conn.end_of_input() == [Request("status", {}, 1)]
    assert conn.end_of_input() == []


# ---- malformed requests, each with its exact code --------------------------------------------------


@pytest.mark.parametrize("line", [b"{", b'{"jsonrpc":"2.0",}', b"nope", b'{"a":1} trailing', b"1e999"])
def test_invalid_json_is_a_parse_error(line: bytes) -> None:
    v = violation(line)
    assert (v.error.code, v.error.rpc_number, v.id, v.fatal) == ("request.parse_error", -32700, None, False)


@pytest.mark.parametrize("line", [b'{"jsonrpc":"2.0","id":1,"method":"st\xffatus"}', b"\xc3\x28", b'"\xed\xa0\x80"'])
def test_invalid_utf8_is_a_parse_error(line: bytes) -> None:
    v = violation(line)
    assert (v.error.code, v.error.rpc_number) == ("request.parse_error", -32700)
    assert "UTF-8" in v.error.message


@pytest.mark.parametrize("line", [b"42", b'"status"', b"null", b"true"])
def test_non_object(line: bytes) -> None:
    v = violation(line)
    assert (v.error.code, v.error.rpc_number, v.id) == ("request.invalid", -32600, None)


@pytest.mark.parametrize("line", [b"[]", b'[{"jsonrpc":"2.0","id":1,"method":"status"}]'])
def test_batch_is_not_supported(line: bytes) -> None:
    v = violation(line)
    assert (v.error.code, v.error.rpc_number, v.id) == ("request.invalid", -32600, None)
    assert "Batch" in v.error.message


@pytest.mark.parametrize(
    ("line", "rid"),
    [
        (b'{"id":1,"method":"status"}', 1),  # no jsonrpc
        (b'{"jsonrpc":"1.0","id":1,"method":"status"}', 1),
        (b'{"jsonrpc":2.0,"id":"x","method":"status"}', "x"),
        (b'{"jsonrpc":"2.0","id":2}', 2),  # no method
        (b'{"jsonrpc":"2.0","id":2,"method":5}', 2),
        (b'{"jsonrpc":"2.0","id":3,"method":"jobs.get","params":["A-1"]}', 3),
        (b'{"jsonrpc":"2.0","id":3,"method":"jobs.get","params":"A-1"}', 3),
        (b'{"jsonrpc":"2.0","id":3,"method":"jobs.get","params":null}', 3),
        (b'{"jsonrpc":"2.0","id":4,"method":"status","param":{}}', 4),  # unknown member
        (b'{"jsonrpc":"2.0","method":1}', None),  # a bad notification is still answered
    ],
)
def test_invalid_request_echoes_a_readable_id(line: bytes, rid: object) -> None:
    v = violation(line)
    assert (v.error.code, v.error.rpc_number, v.id, v.fatal) == ("request.invalid", -32600, rid, False)


@pytest.mark.parametrize("rid", [b"1.5", b"true", b"{}", b"[1]"])
def test_invalid_id(rid: bytes) -> None:
    v = violation(b'{"jsonrpc":"2.0","id":%s,"method":"status"}' % rid)
    assert (v.error.code, v.id) == ("request.invalid", None)


def test_100000_nested_arrays_do_not_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for line in (deep, b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":' + deep + b"}}"):
        v = violation(line)
        assert (v.error.code, v.error.rpc_number) == ("request.invalid", -32600)


def nested(depth: int) -> bytes:
    """params nesting ``depth`` levels: params itself is level 1."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":' + inner + b"}}"


def test_params_depth_limit() -> None:
    assert isinstance(one(nested(MAX_PARAMS_DEPTH)), Request)
    v = violation(nested(MAX_PARAMS_DEPTH + 1))
    assert (v.error.code, v.id) == ("request.invalid", 9)


# ---- size limit ------------------------------------------------------------------------------------


def test_line_at_the_limit_is_accepted() -> None:
    line = b'{"jsonrpc":"2.0","id":1,"method":"status"}'
    padded = line[:-1] + b" " * (1024 - len(line)) + b"}"
    assert len(padded) == 1024
    assert Connection(1024).feed(padded + b"\n") == [Request("status", {}, 1)]


def test_oversize_line_is_fatal_and_nothing_more_is_read() -> None:
    ok = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
    conn = Connection(1024)
    events = conn.feed(ok + b"x" * 1025 + b"\n" + ok)
    assert events[0] == Request("status", {}, 1)
    v = events[1]
    assert isinstance(v, ProtocolViolation)
    assert (v.error.code, v.error.rpc_number, v.id, v.fatal) == ("request.too_large", -32600, None, True)
    assert "1 KiB" in v.error.message
    assert len(events) == 2
    assert conn.closed
    assert conn.feed(ok) == []
    assert conn.end_of_input() == []


def test_oversize_without_newline_is_not_buffered() -> None:
    conn = Connection(1 << 20)
    chunk = b"y" * 65536
    events: list[Request | ProtocolViolation] = []
    for _ in range(160):  # 10 MiB, never a newline
        events += conn.feed(chunk)
        assert conn._lines.pending <= (1 << 20) + len(chunk)
    assert [e.error.code for e in events if isinstance(e, ProtocolViolation)] == ["request.too_large"]
    assert conn._lines.pending == 0


def test_line_buffer_rejects_a_silly_limit() -> None:
    with pytest.raises(ValueError):
        LineBuffer(0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    conn = Connection(256)
    for chunk in chunks:
        for event in conn.feed(chunk):
            assert isinstance(event, Request | ProtocolViolation)
    conn.end_of_input()


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
            max_leaves=20,
        ),
        max_size=5,
    ),
    st.one_of(st.none(), st.integers(), st.text()),
)
def test_request_round_trip(params: dict[str, object], rid: str | int | None) -> None:
    line = encode_request(rid, "m.x", params)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    event = parse_request(line[:-1])
    assert event == Request("m.x", params, rid, notification=rid is None)


# ---- replies ---------------------------------------------------------------------------------------


def test_encode_result_golden() -> None:
    assert encode_result(1, {"on_hand": 5}) == b'{"jsonrpc":"2.0","id":1,"result":{"on_hand":5}}\n'
    assert encode_result("a", None) == b'{"jsonrpc":"2.0","id":"a","result":null}\n'


def test_encode_result_rejects_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        encode_result(1, {"x": object()})
    with pytest.raises(ValueError):
        encode_result(1, "\ud800")


def test_encode_error_golden() -> None:
    err = PrintdError("job.not_found", "No job A-1; list jobs with printctl jobs.", {"job": "A-1", "code": "x"})
    assert encode_error(3, err) == (
        b'{"jsonrpc":"2.0","id":3,"error":{"code":-32010,"message":"No job A-1; list jobs with printctl jobs.",'
        b'"data":{"code":"job.not_found","job":"A-1"}}}\n'
    )


def test_encode_error_drops_unencodable_details() -> None:
    err = PrintdError("internal", "Broken.", {"thing": object()})
    assert encode_error(None, err) == (
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Broken.","data":{"code":"internal"}}}\n'
    )


def test_unknown_code_is_an_application_error() -> None:
    assert PrintdError("printer.jammed", "Clear the jam.").rpc_number == -32000


def test_parse_response() -> None:
    assert parse_response(encode_result(1, [1, 2])[:-1]) == Response(1, [1, 2])
    err = PrintdError("stock.insufficient", "Only 3 blanks left; receive stock first.", {"on_hand": 3})
    reply = parse_response(encode_error(2, err)[:-1])
    assert reply.id == 2 and reply.error is not None
    assert (reply.error.code, reply.error.message, reply.error.details) == (err.code, err.message, {"on_hand": 3})


@pytest.mark.parametrize(
    "line", [b"", b"[]", b'{"jsonrpc":"2.0","id":1}', b'{"id":1,"result":1}', b'{"jsonrpc":"2.0","id":1,"error":5}']
)
def test_malformed_responses(line: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse_response(line)


def test_error_from_reply_without_machine_code() -> None:
    assert error_from_reply({"code": -32601, "message": "no"}).code == "method.not_found"
    assert error_from_reply({"code": -32099, "message": "no"}).code == "internal"
