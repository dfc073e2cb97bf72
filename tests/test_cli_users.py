"""printctl users through a real daemon: adding, listing (table and JSON), changing and disabling dashboard accounts,
the password typed twice or read from standard input, and the errors with their exit codes."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from printd.control.client import ControlClient
from printd.errors import PrintdError
from tests.daemon_harness import DaemonProcess, Printctl, SimSpec

PASSWORD = "nasi-goreng-kampung"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path_factory.mktemp("cli-users"), [SimSpec("p1", cards=0)])
    try:
        d.start()
        yield d
    finally:
        d.kill()


@pytest.fixture
def ctl(daemon: DaemonProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Printctl:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LANG", "C.UTF-8")
    return Printctl(daemon.socket, capsys)


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """The terminal: each getpass prompt gets the next answer; the prompts are returned as they were asked."""
    prompts: list[str] = []
    left = list(answers)

    def getpass(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return left.pop(0)

    monkeypatch.setattr("getpass.getpass", getpass)
    return prompts


def stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def login(daemon: DaemonProcess, name: str, password: str) -> object:
    with ControlClient(daemon.socket, timeout=30) as client:
        try:
            return client.call("users.authenticate", {"name": name, "password": password})
        except PrintdError as err:
            return err.code


def test_an_account_is_added_with_the_password_typed_twice_and_listed(
    ctl: Printctl, daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = typed(monkeypatch, PASSWORD, PASSWORD)
    out = ctl("users", "add", "rina", "--role", "operator", "--language", "id")
    assert out == "Added dashboard account rina (operator).\n"
    assert prompts == ["New password for rina: ", "The same password again: "]
    assert login(daemon, "rina", PASSWORD) == {"name": "rina", "role": "operator", "language": "id"}

    listed = ctl.json("users", "list")
    [rina] = [a for a in listed if a["name"] == "rina"]
    assert set(rina) == {"name", "role", "language", "disabled", "created_at", "created_by", "changed_at", "changed_by"}
    assert (rina["role"], rina["language"], rina["disabled"], rina["changed_by"]) == ("operator", "id", False, "root")
    table = ctl("users", "list")
    row = next(line for line in table.splitlines() if " rina " in line)
    # The time in the office's zone (the test station's default, Asia/Jakarta), as every printctl table shows it.
    assert "operator" in row and "Indonesian" in row and "no" in row and "root" in row and "WIB" in row
    assert "Dashboard accounts" in table and "Changed at" in table
    assert PASSWORD not in "".join(ctl.seen)


def test_the_password_from_standard_input_and_every_change(
    ctl: Printctl, daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin(monkeypatch, PASSWORD + "\n")
    added = ctl.json("users", "add", "budi.s", "--role", "viewer", "--password-stdin")
    assert (added["name"], added["role"], added["language"]) == ("budi.s", "viewer", None)
    assert login(daemon, "budi.s", PASSWORD)["role"] == "viewer"  # type: ignore[index]

    stdin(monkeypatch, "mie-aceh-kepiting\r\n")
    assert ctl("users", "passwd", "budi.s", "--password-stdin") == "Changed the password of dashboard account budi.s.\n"
    assert login(daemon, "budi.s", PASSWORD) == "auth.login_failed"
    assert login(daemon, "budi.s", "mie-aceh-kepiting")["name"] == "budi.s"  # type: ignore[index]

    said = ctl("users", "disable", "budi.s")
    assert said == "Disabled dashboard account budi.s: it can no longer log in or act.\n"
    assert login(daemon, "budi.s", "mie-aceh-kepiting") == "auth.login_failed"
    row = next(line for line in ctl("users", "list").splitlines() if " budi.s " in line)
    assert "yes" in row
    assert ctl("users", "enable", "budi.s") == "Enabled dashboard account budi.s.\n"
    said = ctl("users", "language", "budi.s", "en")
    assert said == "Dashboard account budi.s now reads the dashboard in English.\n"
    assert ctl.json("users", "language", "budi.s", "id")["language"] == "id"
    assert login(daemon, "budi.s", "mie-aceh-kepiting") == {"name": "budi.s", "role": "viewer", "language": "id"}


def test_mistakes_are_refused_with_their_exit_codes_and_change_nothing(
    ctl: Printctl, daemon: DaemonProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ctl.json("users", "list")

    typed(monkeypatch, PASSWORD, PASSWORD + "x")
    _, err = ctl.run("users", "add", "citra", "--role", "viewer", expect=2)
    assert "the two passwords differ; nothing was changed" in err

    stdin(monkeypatch, "pendek-9\n")
    _, err = ctl.run("users", "add", "citra", "--role", "viewer", "--password-stdin", expect=1)
    assert "at least 10 characters" in err and "[params.invalid]" in err and "pendek-9" not in err

    stdin(monkeypatch, "")
    _, err = ctl.run("users", "passwd", "rina", "--password-stdin", expect=2)
    assert "no password on standard input" in err

    prompts = typed(monkeypatch)
    _, err = ctl.run("users", "add", "ani budi", "--role", "viewer", expect=2)
    assert "expected an account name" in err and prompts == []  # refused before any password is typed
    ctl.run("users", "add", "dewi", "--role", "admin", expect=2)

    stdin(monkeypatch, PASSWORD + "\n")
    _, err = ctl.run("users", "add", "budi.s", "--role", "supervisor", "--password-stdin", expect=1)
    assert "exists already" in err and "[account.exists]" in err
    _, err = ctl.run("users", "disable", "siapa", expect=1)
    assert "no dashboard account 'siapa'" in err and "[account.not_found]" in err
    error = ctl.json("users", "enable", "siapa", expect=1)["error"]
    assert error["code"] == "account.not_found"

    assert ctl.json("users", "list") == before


def test_every_users_command_has_help(ctl: Printctl) -> None:
    for command in ("add", "passwd", "disable", "enable", "list", "language"):
        out = ctl("users", command, "--help")
        assert out.startswith(f"usage: printctl users {command}"), command
    assert "--password-stdin" in ctl("users", "add", "--help")
    out = ctl("users", "--help")
    assert "passwd" in out and "Dashboard accounts" in out
