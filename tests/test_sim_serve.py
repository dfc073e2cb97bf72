"""python -m drivers.sim: serve --pty as a real subprocess, status, operator actions, --help."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from drivers.base import Card, Outcome
from drivers.evolis import protocol
from drivers.evolis.driver import EvolisDriver
from drivers.sim.__main__ import main
from drivers.transport import TransportError
from tests.conftest import card_png
from tests.daemon_harness import wait_for
from tests.sim_serial import served_sim

FAST = {"reply_timeout": 0.5, "motion_timeout": 2.0, "quiet_timeout": 0.02, "confirm_delay": 0}
CARD = Card(front=card_png(), back=card_png("BACK", (648, 1016)))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what came before (a driver's log lines, by structlog's default to stdout) is not main's
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status(capsys: pytest.CaptureFixture[str], state_file: Path) -> dict[str, object]:
    code, out, _ = run(capsys, "status", "--state-file", str(state_file))
    assert code == 0
    report: dict[str, object] = json.loads(out)
    return report


def test_serve_prints_its_pty_and_keeps_state_across_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "printer.tty"
    with served_sim(tmp_path, cards=3, link=link) as served:
        assert served.path.startswith("/dev/pts/")
        assert link.resolve() == Path(served.path)
        driver = EvolisDriver(served.transport(), **FAST)
        driver.open()
        assert driver.print_card(CARD).outcome is Outcome.PRINTED
        driver.close()
        assert served.stop() == 0
        assert not link.exists()
    report = status(capsys, served.state_file)
    assert report["counters"] == {"cards_fed": 1, "cards_rejected": 0, "panels_printed": 10}
    assert (report["feeder"], report["hopper"], report["balanced"], report["server_running"]) == (2, 1, True, False)

    with served_sim(tmp_path, cards=1000) as again:  # the saved feeder wins over --cards
        driver = EvolisDriver(again.transport(), **FAST)
        assert driver.open().serial_number == report["serial"]
        assert driver.status().counters.cards_fed == 1
        assert driver.print_card(CARD).outcome is Outcome.PRINTED
        driver.close()
        assert again.state()["feeder"] == {"first": 3, "count": 1}


def test_death_mid_card_is_unknown_and_the_state_file_has_the_card(tmp_path: Path) -> None:
    with served_sim(tmp_path, seconds_per_card=2) as served:
        driver = EvolisDriver(served.transport(), **FAST)
        driver.open()

        def kill_once_fed() -> None:
            wait_for(lambda: served.state()["cards_fed"] == 1, 10, "the card to be fed", 0.01)
            served.kill()

        killer = threading.Thread(target=kill_once_fed)
        killer.start()
        result = driver.print_card(CARD)
        killer.join()
        driver.close()
    assert result.outcome is Outcome.UNKNOWN
    state = served.state()
    assert state["cards_fed"] == 1 and state["card"] is not None and state["hopper"] == []


def test_death_before_the_card_is_not_fed(tmp_path: Path) -> None:
    with served_sim(tmp_path) as served:
        driver = EvolisDriver(served.transport(), **FAST)
        driver.open()
        served.kill()
        result = driver.print_card(CARD)
        driver.close()
    assert result.outcome is Outcome.NOT_FED
    assert served.state()["cards_fed"] == 0


def test_a_second_server_on_the_same_state_is_refused(tmp_path: Path) -> None:
    with served_sim(tmp_path), pytest.raises(RuntimeError, match="is serving"), served_sim(tmp_path):
        pass


def test_operator_actions_on_a_stopped_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with served_sim(tmp_path, cards=0) as served:
        code, _, err = run(capsys, "load", "4", "--state-file", str(served.state_file))
        assert code == 1 and "stop it first" in err
        assert status(capsys, served.state_file)["server_running"] is True
        served.stop()
    state = str(served.state_file)
    assert run(capsys, "load", "4", "--state-file", state)[0] == 0
    assert run(capsys, "open-cover", "--state-file", state)[0] == 0
    report = status(capsys, served.state_file)
    assert (report["feeder"], report["cover_open"]) == (4, True)
    assert report["conditions"] == ["cover_open", "feeder_near_empty"]
    assert run(capsys, "close-cover", "--state-file", state)[0] == 0
    assert run(capsys, "clear-jam", "--state-file", state)[0] == 0
    assert status(capsys, served.state_file)["cover_open"] is False

    with served_sim(tmp_path) as again:
        driver = EvolisDriver(again.transport(), **FAST)
        driver.open()
        assert driver.print_card(CARD).outcome is Outcome.PRINTED
        driver.close()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["status", "--state-file", "{tmp}/none.json"], "no simulator state file"),
        (["load", "0", "--state-file", "{tmp}/none.json"], "give a number above 0"),
        (["close-cover", "--state-file", "{tmp}/none.json"], "no simulator state file"),
    ],
)
def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, _, err = run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 1
    assert says in err


def test_a_bad_fault_script_stops_serve(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="unknown fault"), served_sim(tmp_path, faults="card 1: explodes"):
        pass


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["status", "--help"], ["load", "--help"]])
def test_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m drivers.sim")
    if argv[0] == "serve":
        assert "--state-file" in out and "encoder is not served" in out and "SIGTERM" in out


def test_serve_needs_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--name", "x"])
    assert exited.value.code == 2
    assert "--pty" in capsys.readouterr().err


def test_stop_is_quick_while_idle(tmp_path: Path) -> None:
    with served_sim(tmp_path) as served:
        started = time.monotonic()
        assert served.stop() == 0
        assert time.monotonic() - started < 2


def test_a_hung_printer_reads_nothing_more_until_it_is_restarted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def panel(name: str, levels: int) -> bytes:
        data = bytes(protocol.panel_data_size(name, levels))
        return protocol.encode_command(protocol.download_panel(name, levels, data))

    with served_sim(tmp_path, faults="card 1: printer hangs") as served:
        host = served.transport("baudrate=4000000&write_timeout=0.5")
        host.write(protocol.encode_command(protocol.start_sequence()))
        assert host.read(2.0) == b"OK\r"
        host.write(panel("k", 2))  # the card is fed at its first panel, and the printer hangs
        wait_for(lambda: served.state()["cards_fed"] == 1, 5, "the card to be fed", 0.02)
        assert host.read(0.5) == b""
        with pytest.raises(TransportError, match="write timeout"):  # the pty's buffer fills and stays full
            host.write(panel("y", 32))
        host.close()
        stopping = time.monotonic()
        assert served.stop() == 0
        assert time.monotonic() - stopping < 3
    report = status(capsys, served.state_file)
    assert (report["in_printer"], report["hopper"], report["reject_box"], report["balanced"]) == (1, 0, 0, True)
    assert report["conditions"] == ["jam"]  # what the printer shows once it is on again

    with served_sim(tmp_path) as again:  # the power cycle
        driver = EvolisDriver(again.transport(), **FAST)
        driver.open()
        assert "media-jam-error" in {str(r) for r in driver.status().reasons}
        assert driver.card_inside() is True and driver.reject_card() and driver.card_inside() is False
        assert driver.status().state.value == "ready" and driver.print_card(CARD).outcome is Outcome.PRINTED
        driver.close()
        assert again.stop() == 0
    report = status(capsys, again.state_file)
    assert (report["in_printer"], report["hopper"], report["reject_box"], report["balanced"]) == (0, 1, 1, True)
