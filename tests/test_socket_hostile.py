"""Hostile input on the control socket of a live daemon: at least 10,000 generated malformed messages, each answered
with a JSON-RPC error (or its connection closed cleanly), the daemon still up and not one job or ledger row changed."""

from __future__ import annotations

import base64
import contextlib
import itertools
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import assert_ledger_consistent, card_png
from tests.daemon_harness import DaemonProcess, SimSpec

PRINTER = "counter-7f3a"  # a name no generated text is likely to hit
MESSAGES_WANTED = 10_000
EXAMPLES = 700
MAX_MESSAGE_BYTES = 1 << 20  # the daemon's default limit

# What a hostile request may be told. "internal" is not among them: it would mean an unhandled exception.
EXPECTED_CODES = {
    "request.parse_error",
    "request.invalid",
    "request.too_large",
    "method.not_found",
    "params.invalid",
    "job.not_found",
    "job.invalid",
    "job.image_missing",
    "job.image_unreadable",
    "job.state_conflict",
    "printer.not_found",
    "stock.invalid_count",
}
READ_ONLY = {"status", "stock.summary", "jobs.list", "jobs.get", "spoiled.list"}
METHODS = [
    *sorted(READ_ONLY),
    "stock.receive",
    "jobs.submit",
    "jobs.submit_batch",
    "jobs.cancel",
    "jobs.hold",
    "jobs.release",
    "jobs.reprint",
    "jobs.spoil",
    "jobs.resolve",
    "printers.pause",
    "printers.resume",
    "printers.reconcile",
]
TABLES = ("jobs", "job_events", "ledger", "attempts", "printer_events", "job_content")
SENTINEL = b'{"jsonrpc":"2.0","id":"sentinel","method":"status"}\n'  # ends each conversation: framing intact?


# ---- generated messages -----------------------------------------------------------------------------

huge_ints = st.integers(min_value=2**63 - 2, max_value=10**40) | st.integers(min_value=-(10**40), max_value=-(2**63))
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "\x00", "\u202e", "\ufeff", "😀" * 20, "a" * 1000, "١٢", "²", "9" * 40, "0001-01-01"])
)
json_values = st.recursive(
    leaves,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
job_keys = (
    st.integers()
    | huge_ints
    | st.text(max_size=20)
    | st.sampled_from(["١٢", "²", "9" * 30, "-1", "0", " 1", "1.0", "HOSTILE-1 ", "hostile-1"])
    | json_values
)
dates = st.dates().map(str) | st.text(max_size=12)
job_objects = st.fixed_dictionaries(
    {},
    optional={
        "ref": st.text(max_size=20) | json_values,
        "front": st.sampled_from(["data:image/png;base64,AAAA", "data:,", "/etc/passwd", "/dev/zero", "", "x.png"])
        | json_values,
        "priority": st.sampled_from(["walk_in", "urgent", ""]) | json_values,
        "holder": st.text(max_size=30) | json_values,
        "chip": json_values,
        "extra": json_values,
    },
)


def method_params(method: str) -> st.SearchStrategy[object]:
    """Parameters for ``method`` that are wrong in some way (type, range, target), or random altogether."""
    specific: dict[str, st.SearchStrategy[dict[str, object]]] = {
        "jobs.get": st.fixed_dictionaries({"job": job_keys}),
        "jobs.list": st.fixed_dictionaries({}, optional={"state": json_values, "limit": json_values | huge_ints}),
        "spoiled.list": st.fixed_dictionaries({}, optional={"since": dates | json_values, "category": json_values}),
        "stock.receive": st.fixed_dictionaries(
            {"count": st.integers(max_value=0) | huge_ints | json_values.filter(lambda v: not isinstance(v, int))},
            optional={"ref": st.text(max_size=200) | json_values, "serials": json_values},
        ),
        "jobs.submit": st.fixed_dictionaries({"job": job_objects | json_values}),
        "jobs.submit_batch": st.fixed_dictionaries({"jobs": st.lists(job_objects | json_values, max_size=4)}),
        "jobs.spoil": st.fixed_dictionaries(
            {"job": job_keys, "category": st.sampled_from(["damaged", "print_failed", "x"]) | json_values},
            optional={"detail": json_values},
        ),
        "jobs.resolve": st.fixed_dictionaries(
            {"job": job_keys, "resolution": st.sampled_from(["printed", "spoiled", "not_fed"]) | json_values},
            optional={"category": json_values, "note": json_values},
        ),
        "printers.pause": st.fixed_dictionaries({"printer": st.text(max_size=80) | json_values}),
        "printers.resume": st.fixed_dictionaries({"printer": st.text(max_size=80) | json_values}),
    }
    for name in ("jobs.cancel", "jobs.hold", "jobs.release", "jobs.reprint"):
        specific[name] = st.fixed_dictionaries({"job": job_keys})
    random_params = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
    if method == "printers.reconcile":  # every parameter optional: only a wrong one makes it harmless
        return (
            st.fixed_dictionaries({"printer": st.text(max_size=80) | json_values}) | random_params | json_values
        ).filter(lambda p: not _reconciles(p))
    return specific.get(method, st.just({})) | random_params | json_values


def _reconciles(params: object) -> bool:
    return isinstance(params, dict) and set(params) <= {"printer"} and params.get("printer") in (None, PRINTER)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A request-shaped object with something wrong, or right enough to be answered, encoded as one line."""
    method = draw(st.sampled_from(METHODS) | st.text(max_size=30) | json_values)
    msg: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        msg["jsonrpc"] = "2.0"
    else:
        msg["jsonrpc"] = draw(st.sampled_from(["1.0", "2", 2.0, None]) | json_values)
    msg["method"] = method
    if method == "printers.reconcile" or draw(st.booleans()):  # without params it would reconcile every printer
        msg["params"] = draw(method_params(method) if isinstance(method, str) else json_values)
    if draw(st.integers(0, 4)):  # the rest are notifications
        msg["id"] = draw(st.integers() | huge_ints | st.text(max_size=20) | json_values)
    if not draw(st.integers(0, 9)):
        msg[draw(st.text(max_size=6))] = draw(json_values)
    return msgspec.json.encode(msg)


def nested(depth: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b"[" * depth + b"]" * depth if opener == b"[" else b'{"a":' * depth + b"1" + closer * depth
    return b'{"jsonrpc":"2.0","id":1,"method":"jobs.get","params":{"job":' + inner + b"}}"


raw_lines = st.one_of(
    requests(),
    requests(),
    requests(),
    st.lists(requests().map(msgspec.json.decode), max_size=4).map(msgspec.json.encode),  # batches
    json_values.map(msgspec.json.encode),
    st.binary(max_size=200),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.sampled_from(
            [b'{"jsonrpc":"2.0","id":1,"method":"', b'{"jsonrpc":"2.0","method":"status","params":{"', b""]
        ),
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80"]),
        st.sampled_from([b'"}', b'":1}}', b""]),
    ),  # invalid UTF-8
    st.sampled_from(
        [
            b'{"jsonrpc":"2.0","id":"\\ud800","method":"status"}',  # a lone surrogate
            b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"a":1e999}}',
            b'{"jsonrpc":"2.0","id":1e999,"method":"status"}',
            b'{"jsonrpc":"2.0","id":NaN,"method":"status"}',
            b'{"jsonrpc":"2.0","id":1,"method":"status"',
            b'{"jsonrpc":"2.0","id":1,"method":"status"}}',
            b'{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"status"}',
            b"\x00" * 64,
            b"\r\r\r",
            b" " * 100,
        ]
    ),
    st.builds(nested, st.sampled_from([31, 33, 64, 1000, 20_000, 100_000]), st.sampled_from([b"[", b"{"])),
)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[bytes], bytes, list[int]]:
    """Hostile lines, a final partial line or oversize one (or nothing), and where to cut the byte stream."""
    lines = draw(st.lists(raw_lines, min_size=14, max_size=22))
    trailer = draw(
        st.sampled_from([b"", b"", b"", b"", b'{"jsonrpc":"2.0","id":"tail","meth', b"x" * (MAX_MESSAGE_BYTES + 1)])
    )
    size = sum(len(line) + 1 for line in lines) + len(SENTINEL) + len(trailer)
    cuts = draw(st.lists(st.integers(1, 64), max_size=6))  # a few small pieces first, then cuts anywhere
    cuts += draw(st.lists(st.integers(0, size), max_size=6))
    return lines, trailer, cuts


# ---- the daemon ---------------------------------------------------------------------------------------


def snapshot(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, [SimSpec(PRINTER)])
    d.start()
    try:
        with d.client() as root:
            root.call("stock.receive", {"count": 10, "ref": "DO-HOSTILE"})
            root.call("printers.pause", {"printer": PRINTER})
            face = "data:image/png;base64," + base64.b64encode(card_png("HOSTILE")).decode()
            for n in (1, 2, 3):  # canceled jobs: no job method can change them any more
                root.call("jobs.submit", {"job": {"ref": f"HOSTILE-{n}", "front": face, "holder": "X"}})
                root.call("jobs.cancel", {"job": f"HOSTILE-{n}"})
        yield d
    finally:
        d.kill()


def converse(path: str, lines: list[bytes], trailer: bytes, cuts: list[int]) -> list[dict[str, Any]]:
    """Send the lines, the sentinel and the trailer in pieces cut at ``cuts``; return the replies to the end."""
    data = b"".join(line + b"\n" for line in lines) + SENTINEL + trailer
    oversize = len(trailer) > MAX_MESSAGE_BYTES
    replies = b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(path)
        bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
        try:
            for start, end in itertools.pairwise(bounds):
                s.sendall(data[start:end])
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            assert oversize, "the daemon dropped a connection that sent nothing too large"
        while chunk := s.recv(1 << 16):
            replies += chunk
    assert replies.endswith(b"\n"), "a reply was cut off"
    answers = [msgspec.json.decode(line) for line in replies.splitlines()]
    assert any(a.get("id") == "sentinel" and "result" in a for a in answers), "the connection lost its framing"
    if oversize:
        assert answers[-1]["error"]["data"]["code"] == "request.too_large"
    return answers


def check_reply(answer: dict[str, Any]) -> None:
    assert answer.get("jsonrpc") == "2.0" and "id" in answer, answer
    assert ("result" in answer) != ("error" in answer), answer
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"], answer
        assert error["data"]["code"] in EXPECTED_CODES, answer


@pytest.mark.slow
def test_ten_thousand_hostile_messages(daemon: DaemonProcess) -> None:
    before = snapshot(daemon.database)
    sent = {"messages": 0, "replies": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(conversations())
    def hostile(conversation: tuple[list[bytes], bytes, list[int]]) -> None:
        lines, trailer, chunks = conversation
        answers = converse(daemon.socket, lines, trailer, chunks)
        for answer in answers:
            check_reply(answer)
        sent["messages"] += len(lines) + (1 if trailer else 0)
        sent["replies"] += len(answers)

    hostile()
    print(f"hostile messages sent: {sent['messages']}, replies: {sent['replies']}")
    assert sent["messages"] >= MESSAGES_WANTED, sent
    assert daemon.process is not None and daemon.process.poll() is None, "printd died"
    with daemon.client() as client:
        status = client.call("status", {})
    assert status["queue"]["canceled"] == 3  # type: ignore[index]
    assert snapshot(daemon.database) == before
    log = daemon.log_path.read_text()
    assert "control.internal_error" not in log and "control.connection_failed" not in log
    store = daemon.open_store()
    try:
        assert_ledger_consistent(store)
    finally:
        store.close()
