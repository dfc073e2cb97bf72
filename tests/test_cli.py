"""printctl against a toy daemon on a real socket: help, tables, JSON, exit codes, batches."""

from __future__ import annotations

import io
import os
import pwd
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from printd.cli import EXIT_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Output, _submit_batch, main
from printd.control.auth import Caller, PeerCredentials, Role
from printd.control.client import DaemonUnreachableError
from printd.errors import PrintdError
from tests.method_roles import ROLE_TABLE
from tests.test_control_server import ServerThread

HOLDER = "Siti Rahayu"  # personal data the daemon might send that printctl's tables must not show

PRINTER = {
    "name": "evo1",
    "state": "warning",
    "reasons": ["media-low-warning"],
    "paused": True,
    "pause_reason": "paused by rina",
    "current_job": None,
    "counters": {"cards_fed": 1234, "cards_rejected": 3, "panels_printed": None, "ribbon_remaining": 181},
}
STOCK = {
    "received": 6000,
    "adjusted": -2,
    "issued": 1000,
    "spoiled": 17,
    "in_doubt": 1,
    "on_hand": 4980,
    "low_threshold": 5000,
    "low": True,
    "printers": {"evo1": {"issued": 1000, "spoiled": 17, "in_doubt": 1}},
}
JOB = {
    "id": 12,
    "ref": "REG-0012",
    "priority": "walk_in",
    "state": "held",
    "attempts": 1,
    "printer": "evo1",
    "created_at": "2026-11-30T08:00:00+07:00",
    "updated_at": "2026-11-30T08:05:00+07:00",
    "holder": HOLDER,
    "history": [
        {"at": "2026-11-30T08:00:00+07:00", "event": "submitted", "actor": "rina", "printer": None, "detail": ""},
        {"at": "2026-11-30T08:05:00+07:00", "event": "hold", "actor": "rina", "printer": None, "detail": "x"},
    ],
}


class FakeDaemon:
    """Answers every printctl method with canned data and records what it was sent."""

    roles = ROLE_TABLE

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def required_role(self, method: str) -> Role | None:
        return self.roles.get(method)

    async def dispatch(self, method: str, params: dict[str, object], caller: Caller) -> object:
        self.sent.append((method, params))
        if params.get("job") == "NOPE":
            raise PrintdError("job.not_found", "No job NOPE; list jobs with printctl jobs.", {"job": "NOPE"})
        if params.get("job") == "HOSTILE":
            raise PrintdError("job.not_found", f"No job {HOSTILE}.")
        if method == "jobs.get" and params.get("job") == "E1":
            return JOB | {"history": [JOB["history"][0] | {"detail": HOSTILE}]}  # type: ignore[index]
        if method == "status":
            return {
                "station": "dukcapil-1",
                "printers": [PRINTER],
                "queue": {"queued": 7, "printing": 1, "held": 2, "in_doubt": 0, "done": 88, "failed": 1, "canceled": 0},
                "stock": STOCK,
                "alerts": [{"event": "stock.low", "message": "Only 4980 blanks left; request more."}],
            }
        if method == "stock.summary":
            return STOCK
        if method in ("stock.receive", "stock.adjust"):
            return {"event_id": 41, "on_hand": 5980}
        if method == "jobs.list":
            return [{k: v for k, v in JOB.items() if k != "history"}]
        if method == "jobs.submit":
            job = params["job"]
            assert isinstance(job, dict)
            return {"id": 13, "ref": job["ref"], "state": "queued", "duplicate": job["ref"] == "OLD"}
        if method == "jobs.submit_batch":
            jobs = params["jobs"]
            assert isinstance(jobs, list)
            accepted, rejected = [], []
            for index, job in enumerate(jobs):
                if str(job["ref"]).startswith("BAD"):
                    rejected.append(
                        {"index": index, "ref": job["ref"], "error": {"code": "job.invalid", "message": "bad job"}}
                    )
                else:
                    accepted.append({"id": index, "ref": job["ref"], "duplicate": False})
            return {"accepted": accepted, "rejected": rejected}
        if method.startswith("printers."):
            return PRINTER
        if method == "spoiled.list" and params.get("category") == "damaged":
            return [{"at": "2026-11-30T09:00:00+07:00", "category": "damaged", "detail": HOSTILE}]
        if method == "spoiled.list":
            return [
                {
                    "at": "2026-11-30T09:00:00+07:00",
                    "printer": "evo1",
                    "job": 12,
                    "ref": "REG-0012",
                    "category": "print_failed",
                    "detail": "[bold]streaks[/bold]",
                    "chip_uid": "04A1B2C3",
                }
            ]
        return JOB


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def sock(tmp_path: Path, daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PRINTD_SOCKET", raising=False)
    path = tmp_path / "p.sock"
    with ServerThread(daemon, path):
        yield path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def printctl(capsys: pytest.CaptureFixture[str], sock: Path, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "--socket", str(sock), *argv)


# ---- help and usage --------------------------------------------------------------------------------

COMMAND_PATHS = [
    [],
    ["status"],
    ["stock"],
    ["stock", "receive"],
    ["stock", "adjust"],
    ["reconcile"],
    ["jobs"],
    ["job"],
    ["submit"],
    ["cancel"],
    ["hold"],
    ["release"],
    ["reprint"],
    ["printers"],
    ["printers", "pause"],
    ["printers", "resume"],
    ["spoiled"],
    ["spoil"],
    ["resolve"],
]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "printctl")
def test_help_everywhere(capsys: pytest.CaptureFixture[str], path: list[str]) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == EXIT_OK
    assert "usage: printctl" in out and "exit status" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["stock", "receive", "0", "--ref", "D-1"],
        ["stock", "receive", "-5", "--ref", "D-1"],
        ["stock", "receive", "ten", "--ref", "D-1"],
        ["stock", "receive", "10"],
        ["stock", "receive", "10", "--ref", "D-1", "--serials", "A100"],
        ["stock", "adjust", "0", "--reason", "miscount"],
        ["stock", "adjust", "-2"],
        ["stock", "adjust", "-2", "--reason", " "],
        ["jobs", "--state", "lost"],
        ["jobs", "--limit", "0"],
        ["spoiled", "--since", "30-11-2026"],
        ["spoiled", "--since", "2026-02-30"],
        ["spoiled", "--category", "smudged"],
        ["spoil", "12", "--category", "damaged"],
        ["spoil", "12", "--category", "lost", "--detail", "x"],
        ["spoil", "12", "--category", "damaged", "--detail", "x"],  # which card?
        ["spoil", "12", "--attempt", "3", "--chip", "04A1", "--category", "damaged", "--detail", "x"],
        ["cancel"],
        ["cancel", "12", "--id", "12"],
        ["cancel", "#twelve"],
        ["cancel", "--id", "0"],
        ["resolve", "--printed"],
        ["report"],
        ["report", "daily", "--date", "7-12-2026"],
        ["report", "monthly", "--month", "2026-13"],
        ["report", "daily", "--format", "xlsx"],
        ["stock", "request"],  # the letter needs --output
        ["spoiled", "handover", "--nip", "1980"],  # whose NIP?
        ["spoiled", "handover", "--kind", "burned", "--number", "1"],
        ["spoiled", "handover", "--list", "--show", "BA-1"],
        ["printers"],
        ["printers", "pause"],
        ["submit"],
        ["submit", "a.json", "--batch", "b.jsonl"],
    ],
)
def test_usage_errors_exit_2_without_contacting_printd(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, "--socket", "/nonexistent/printd.sock", *argv)
    assert code == EXIT_USAGE, err
    assert "printctl" in err


# ---- reaching the daemon ---------------------------------------------------------------------------


def test_unreachable_exits_3_and_says_how_to_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "gone.sock"
    code, out, err = run(capsys, "--socket", str(missing), "status")
    assert code == EXIT_UNREACHABLE
    assert str(missing) in err and "PRINTD_SOCKET" in err and "printd running" in err
    assert out == ""
    code, out, _ = run(capsys, "--socket", str(missing), "--json", "status")
    assert code == EXIT_UNREACHABLE
    assert msgspec.json.decode(out)["error"]["code"] == "client.unreachable"


def test_stale_socket_is_unreachable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    code, _, err = run(capsys, "--socket", str(stale), "status")
    assert code == EXIT_UNREACHABLE and "nothing is listening" in err


def test_printd_socket_env_and_override(
    capsys: pytest.CaptureFixture[str], sock: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRINTD_SOCKET", str(sock))
    assert run(capsys, "stock")[0] == EXIT_OK
    code, _, err = run(capsys, "--socket", str(sock.with_name("other.sock")), "stock")
    assert code == EXIT_UNREACHABLE and "other.sock" in err


# ---- tables and JSON -------------------------------------------------------------------------------


def test_status_table(capsys: pytest.CaptureFixture[str], sock: Path) -> None:
    code, out, _ = printctl(capsys, sock, "status")
    assert code == EXIT_OK
    for text in ("dukcapil-1", "evo1", "warning", "paused by rina", "1234", "media-low-warning", "4980", "LOW"):
        assert text in out
    assert "Only 4980 blanks left" in out


def test_json_output_is_the_reply(capsys: pytest.CaptureFixture[str], sock: Path, daemon: FakeDaemon) -> None:
    code, out, _ = printctl(capsys, sock, "--json", "stock")
    assert code == EXIT_OK and msgspec.json.decode(out) == STOCK
    code, out, _ = printctl(capsys, sock, "status", "--json")  # also after the command
    assert code == EXIT_OK and msgspec.json.decode(out)["station"] == "dukcapil-1"
    assert [m for m, _ in daemon.sent] == ["stock.summary", "status"]


@pytest.mark.parametrize(
    ("argv", "method", "params"),
    [
        (
            ["stock", "receive", "1000", "--ref", "BA-77"],
            "stock.receive",
            {"count": 1000, "ref": "BA-77", "serials": None},
        ),
        (
            ["stock", "receive", "5", "--ref", "BA-78", "--serials", "K0001-K0005"],
            "stock.receive",
            {"count": 5, "ref": "BA-78", "serials": "K0001-K0005"},
        ),
        (
            ["stock", "adjust", "-2", "--reason", "test cards from the menu", "--printer", "evo1"],
            "stock.adjust",
            {"count": -2, "reason": "test cards from the menu", "printer": "evo1"},
        ),
        (["jobs"], "jobs.list", {"state": None, "limit": 50}),
        (["jobs", "--state", "in_doubt", "--limit", "5"], "jobs.list", {"state": "in_doubt", "limit": 5}),
        (["job", "REG-0012"], "jobs.get", {"job": "REG-0012"}),
        (["cancel", "12"], "jobs.cancel", {"job": "12"}),  # a reference made of digits stays a reference
        (["cancel", "#12"], "jobs.cancel", {"job": 12}),
        (["cancel", "--id", "12"], "jobs.cancel", {"job": 12}),
        (["job", "--id", "#7"], "jobs.get", {"job": 7}),
        (["hold", "12"], "jobs.hold", {"job": "12"}),
        (["release", "#12"], "jobs.release", {"job": 12}),
        (["reprint", "12"], "jobs.reprint", {"job": "12"}),
        (["printers", "pause", "evo1"], "printers.pause", {"printer": "evo1"}),
        (
            ["printers", "pause", "evo1", "--reason", "ribbon change"],
            "printers.pause",
            {"printer": "evo1", "reason": "ribbon change"},
        ),
        (["printers", "resume", "evo1"], "printers.resume", {"printer": "evo1"}),
        (["spoiled"], "spoiled.list", {"since": None, "category": None}),
        (
            ["spoiled", "--since", "2026-11-01", "--category", "encode_failed"],
            "spoiled.list",
            {"since": "2026-11-01", "category": "encode_failed"},
        ),
        (
            ["spoil", "12", "--attempt", "31", "--category", "damaged", "--detail", "laminate peeled"],
            "jobs.spoil",
            {"job": "12", "category": "damaged", "detail": "laminate peeled", "attempt": 31, "chip_uid": None},
        ),
        (
            ["spoil", "--id", "12", "--chip", "04A1", "--category", "damaged", "--detail", "scratched"],
            "jobs.spoil",
            {"job": 12, "category": "damaged", "detail": "scratched", "attempt": None, "chip_uid": "04A1"},
        ),
        (
            ["resolve", "12", "--spoiled", "print_failed"],
            "jobs.resolve",
            {"job": "12", "resolution": "spoiled", "category": "print_failed", "note": ""},
        ),
        (
            ["resolve", "12", "--not-fed", "--note", "feeder count unchanged"],
            "jobs.resolve",
            {"job": "12", "resolution": "not_fed", "category": None, "note": "feeder count unchanged"},
        ),
        (
            ["resolve", "12", "--printed"],
            "jobs.resolve",
            {"job": "12", "resolution": "printed", "category": None, "note": ""},
        ),
    ],
)
def test_commands_send_exactly_these_requests(
    capsys: pytest.CaptureFixture[str],
    sock: Path,
    daemon: FakeDaemon,
    argv: list[str],
    method: str,
    params: dict[str, object],
) -> None:
    code, out, err = printctl(capsys, sock, *argv)
    assert code == EXIT_OK, err
    assert daemon.sent == [(method, params)]
    assert out.strip() and HOLDER not in out
    code, out, _ = printctl(capsys, sock, "--json", *argv)
    assert code == EXIT_OK
    msgspec.json.decode(out)


def test_job_table_shows_history_but_no_personal_data(capsys: pytest.CaptureFixture[str], sock: Path) -> None:
    code, out, _ = printctl(capsys, sock, "job", "REG-0012")
    assert code == EXIT_OK
    assert "REG-0012" in out and "walk_in" in out and "History" in out and "submitted" in out
    assert HOLDER not in out


def test_daemon_text_is_not_rich_markup(capsys: pytest.CaptureFixture[str], sock: Path) -> None:
    _, out, _ = printctl(capsys, sock, "spoiled")
    assert "[bold]streaks[/bold]" in out and "04A1B2C3" in out


# A cursor-up and erase-line pair would hide the row above; an OSC sets the title; U+202E reverses what follows.
HOSTILE = "ok\x1b[1A\x1b[2K\x1b]0;title\x07\u202edesrever\r\nfake row"


@pytest.mark.parametrize(
    "argv", [["spoiled", "--category", "damaged"], ["job", "E1"], ["job", "HOSTILE"], ["--json", "job", "E1"]]
)
def test_text_from_the_daemon_cannot_steer_the_terminal(
    capsys: pytest.CaptureFixture[str], sock: Path, argv: list[str]
) -> None:
    _, out, err = printctl(capsys, sock, *argv)
    for shown in (out, err):
        assert not any(ch in shown for ch in "\x1b\x07\u202e\r")
    assert "\\u001b[1A" in out + err and "\\u202e" in out + err
    if "--json" in argv:  # still the same text for a program
        assert msgspec.json.decode(out)["history"][0]["detail"] == HOSTILE


def test_error_reply_exits_1(capsys: pytest.CaptureFixture[str], sock: Path) -> None:
    code, out, err = printctl(capsys, sock, "job", "NOPE")
    assert code == EXIT_ERROR
    assert out == "" and "No job NOPE" in err and "[job.not_found]" in err
    code, out, err = printctl(capsys, sock, "--json", "cancel", "NOPE")
    assert code == EXIT_ERROR
    assert msgspec.json.decode(out) == {
        "error": {
            "code": "job.not_found",
            "message": "No job NOPE; list jobs with printctl jobs.",
            "details": {"job": "NOPE"},
        }
    }
    assert "No job NOPE" in err


def test_forbidden_says_which_group(capsys: pytest.CaptureFixture[str], tmp_path: Path, daemon: FakeDaemon) -> None:
    def viewer(_: PeerCredentials) -> Role:
        return Role.VIEWER

    path = tmp_path / "v.sock"
    with ServerThread(daemon, path, role_resolver=viewer):
        code, _, err = run(capsys, "--socket", str(path), "stock", "receive", "10", "--ref", "D-1")
        assert code == EXIT_ERROR
        me = pwd.getpwuid(os.getuid()).pw_name
        assert f"this needs the supervisor role and you ({me}) have the viewer role" in err
        assert "group 'printd-admin'" in err and f"usermod -aG printd-admin {me}" in err
        code, out, _ = run(capsys, "--socket", str(path), "--json", "hold", "12")
        assert code == EXIT_ERROR
        assert msgspec.json.decode(out)["error"]["code"] == "auth.forbidden"
    assert daemon.sent == []


def test_forbidden_text_without_a_role_or_a_granting_group() -> None:
    from printd.cli import forbidden_text

    nobody = {"required_role": "viewer", "role": None, "user": "dewi", "groups": ["printd-view", "printd"]}
    assert forbidden_text(nobody) == (
        "permission denied: this needs the viewer role and you (dewi) have no printd role. Membership of group "
        "'printd-view' grants it: ask an administrator to run 'usermod -aG printd-view dewi', then log in again."
    )
    closed = {"required_role": "supervisor", "role": "operator", "user": "budi", "groups": []}
    assert "you (budi) have the operator role" in forbidden_text(closed)
    assert "only root can do this" in forbidden_text(closed)


# ---- submitting ------------------------------------------------------------------------------------


def test_submit_resolves_image_paths_against_the_job_file(
    capsys: pytest.CaptureFixture[str], sock: Path, daemon: FakeDaemon, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    job = {
        "ref": "REG-0013",
        "priority": "normal",
        "front": "img/../img/front.png",
        "back": "data:image/png;base64,iVBORw0KGgo=",
        "holder": HOLDER,
    }
    (folder / "job.json").write_bytes(msgspec.json.encode(job))
    code, out, _ = printctl(capsys, sock, "submit", str(folder / "job.json"))
    assert code == EXIT_OK and "Submitted job 13" in out
    sent = daemon.sent[0][1]["job"]
    assert sent == {**job, "front": str(folder / "img" / "front.png")}
    (folder / "abs.json").write_bytes(msgspec.json.encode({"ref": "OLD", "front": "/srv/cards/f.png"}))
    code, out, _ = printctl(capsys, sock, "submit", str(folder / "abs.json"))
    assert "Already submitted" in out
    assert daemon.sent[1][1]["job"] == {"ref": "OLD", "front": "/srv/cards/f.png"}


@pytest.mark.parametrize(
    ("content", "problem"), [(None, "cannot read"), (b"{", "not valid JSON"), (b"[1]", "one JSON object")]
)
def test_unusable_job_file_exits_2(
    capsys: pytest.CaptureFixture[str],
    sock: Path,
    daemon: FakeDaemon,
    tmp_path: Path,
    content: bytes | None,
    problem: str,
) -> None:
    path = tmp_path / "job.json"
    if content is not None:
        path.write_bytes(content)
    code, _, err = printctl(capsys, sock, "submit", str(path))
    assert code == EXIT_USAGE and problem in err
    assert daemon.sent == []


def write_batch(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def batch_lines(n: int) -> list[str]:
    return [
        msgspec.json.encode({"ref": f"R{i:05}", "priority": "backlog", "front": f"{i}.png"}).decode() for i in range(n)
    ]


def test_batch_in_chunks_with_line_numbers(
    capsys: pytest.CaptureFixture[str], sock: Path, daemon: FakeDaemon, tmp_path: Path
) -> None:
    lines = batch_lines(1203)
    lines[4] = '{"ref": "R-BROKEN", ' + HOLDER  # not JSON
    lines[6] = '["not", "an", "object"]'
    lines[9] = ""  # blank lines are skipped
    lines[700] = msgspec.json.encode({"ref": "BAD-1", "front": "x.png"}).decode()
    path = tmp_path / "jobs.jsonl"
    write_batch(path, lines)
    code, out, _ = printctl(capsys, sock, "submit", "--batch", str(path))
    assert code == EXIT_ERROR
    sizes = [len(p["jobs"]) for _, p in daemon.sent]  # type: ignore[arg-type]
    assert sizes == [500, 500, 200]
    sent_refs = [j["ref"] for _, p in daemon.sent for j in p["jobs"]]  # type: ignore[attr-defined]
    assert "R-BROKEN" not in sent_refs and HOLDER not in repr(daemon.sent)
    assert daemon.sent[0][1]["jobs"][0]["front"] == str(tmp_path / "0.png")  # type: ignore[index]
    assert "Accepted 1199 job(s); rejected 3." in out
    assert HOLDER not in out

    code, out, _ = printctl(capsys, sock, "--json", "submit", "--batch", str(path))
    assert code == EXIT_ERROR
    body = msgspec.json.decode(out)
    assert len(body["accepted"]) == 1199
    assert [(r["line"], r["ref"], r["error"]["code"]) for r in body["rejected"]] == [
        (5, None, "job.invalid"),
        (7, None, "job.invalid"),
        (701, "BAD-1", "job.invalid"),
    ]
    assert body["accepted"][0] == {"id": 0, "ref": "R00000", "duplicate": False, "line": 1}


def test_clean_batch_exits_0(capsys: pytest.CaptureFixture[str], sock: Path, tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    write_batch(path, batch_lines(3))
    code, out, _ = printctl(capsys, sock, "submit", "--batch", str(path))
    assert code == EXIT_OK and "Accepted 3 job(s); rejected 0." in out


def test_batch_chunks_stay_under_the_request_limit(
    capsys: pytest.CaptureFixture[str], sock: Path, daemon: FakeDaemon, tmp_path: Path
) -> None:
    big = "data:image/png;base64," + "A" * 300_000
    lines = [msgspec.json.encode({"ref": f"B{i}", "front": big}).decode() for i in range(5)]
    lines.append(msgspec.json.encode({"ref": "HUGE", "front": "data:image/png;base64," + "A" * 1_100_000}).decode())
    path = tmp_path / "big.jsonl"
    write_batch(path, lines)
    code, out, _ = printctl(capsys, sock, "--json", "submit", "--batch", str(path))
    assert code == EXIT_ERROR
    assert [len(p["jobs"]) for _, p in daemon.sent] == [3, 2]  # type: ignore[arg-type]
    rejected = msgspec.json.decode(out)["rejected"]
    assert [(r["line"], r["ref"]) for r in rejected] == [(6, "HUGE")]
    assert "request limit" in rejected[0]["error"]["message"]


class FlakyClient:
    """Answers the first chunk, then the daemon goes away."""

    def __init__(self) -> None:
        self.calls = 0

    def call(self, method: str, params: Mapping[str, Any]) -> object:
        self.calls += 1
        if self.calls > 1:
            raise DaemonUnreachableError("/run/printd/printd.sock", "connection lost")
        return {
            "accepted": [{"id": i, "ref": j["ref"], "duplicate": False} for i, j in enumerate(params["jobs"])],
            "rejected": [],
        }


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interrupted_batch_exits_3_and_says_how_to_resume(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    write_batch(path, batch_lines(700))
    out, err = FakeTerminal(), io.StringIO()
    code = _submit_batch(str(path), FlakyClient(), Output(json=False, out=out, err=err))  # type: ignore[arg-type]
    assert code == EXIT_UNREACHABLE
    assert "Accepted 500 job(s)" in out.getvalue() and "Not sent: 200 job(s), from line 501 on." in out.getvalue()
    assert "run the same command again" in err.getvalue()


def test_socket_path_default(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from printd.cli import socket_path

    assert socket_path(None, {}) == "/run/printd/printd.sock"
    assert socket_path(None, {"PRINTD_SOCKET": "/tmp/x.sock"}) == "/tmp/x.sock"
    assert socket_path("/a.sock", {"PRINTD_SOCKET": "/tmp/x.sock"}) == "/a.sock"
    assert os.environ.get("PRINTD_SOCKET") is None or True


def test_log_lines_on_a_terminal_show_control_characters_escaped() -> None:
    import io

    import structlog

    from printd.logging import configure, get_logger

    stream, before = io.StringIO(), structlog.get_config()
    configure(json=False, stream=stream)
    try:
        get_logger("t").warning("printer.offline", printer="p1", detail="answer\x1b]0;owned\x07")
    finally:
        structlog.configure(**before)
    assert "\x1b" not in stream.getvalue() and "\\u001b]0;owned\\u0007" in stream.getvalue()
