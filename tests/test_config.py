"""Configuration: the example files load, and every mistake names its key."""

from pathlib import Path

import pytest

from printd.config import ConfigError, SimPrinterConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_loads() -> None:
    config = load_config(ROOT / "config" / "printd.toml")
    assert len(config.printer) == 2
    assert all(isinstance(p, SimPrinterConfig) for p in config.printer)


def test_defaults() -> None:
    config = parse_config("")
    assert config.station.max_attempts == 3
    assert config.printer == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[station]\nname = 1", "key station.name: Expected `str`, got `int`"),
        ('[[printer]]\nname = "a"\ntype = "laser"', "key printer[0].type"),
        ('[[printer]]\nname = "a"\ntype = "sim"\ncards = -1', "key printer[0].cards: Expected `int` >= 0"),
        ("[station]\nfoo = 1", "unknown key `foo`"),
        ('[[printer]]\ntype = "sim"', "missing required field `name`"),
        ('[[printer]]\nname = "a"\ntype = "sim"\nspoil_rate = 2.0', "key printer[0].spoil_rate"),
        ('[[printer]]\nname = "a b"\ntype = "sim"', "key printer[0].name"),
        ('[[printer]]\nname = "a"\ntype = "sim"\n[[printer]]\nname = "a"\ntype = "sim"', "a is given twice"),
        ("[station\n", "not valid TOML"),
        ("[control]\nmax_clients_per_user = 0", "key control.max_clients_per_user: Expected `int` >= 1"),
        ("[control]\nmax_clients = 8\nmax_clients_per_user = 9", "key control.max_clients_per_user: must be at most"),
        (
            "[control]\nmax_clients = 8\nreserved_for_supervisors = 8",
            "key control.reserved_for_supervisors: must be less",
        ),
    ],
)
def test_errors_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("test.toml: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_evolis_printers_take_a_transport_url() -> None:
    from printd.config import EvolisPrinterConfig

    config = parse_config(
        '[[printer]]\nname = "desk"\ntype = "evolis"\ntransport = "usb://0F49:0001?serial=ABC"\n'
        '[[printer]]\nname = "van"\ntype = "evolis"\ntransport = "serial:///dev/ttyUSB0?baudrate=115200"\n'
        'ribbon = "kb"\n'
        '[[printer]]\nname = "lp"\ntype = "evolis"\ntransport = "usblp:///dev/usb/lp0"\ncolour_levels = 64\n'
    )
    assert [type(p) for p in config.printer] == [EvolisPrinterConfig] * 3


@pytest.mark.parametrize(
    ("printer", "expected"),
    [
        ('transport = "usb://0F49"', "key printer[0].transport:"),
        ('transport = "ftp://x"', "key printer[0].transport: unknown transport"),
        ('transport = "serial:///dev/ttyUSB0?baud=9600"', "key printer[0].transport:"),
        ('transport = "usb://0F49:0001"\nribbon = "rainbow"', "key printer[0].ribbon: unsupported ribbon"),
        ('transport = "usb://0F49:0001"\ncolour_levels = 30', "key printer[0].colour_levels"),
        ("", "missing required field `transport`"),
    ],
)
def test_evolis_printer_errors(printer: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f'[[printer]]\nname = "p"\ntype = "evolis"\n{printer}\n', "t.toml")
    assert expected in str(info.value)


def test_cups_printers_name_a_queue() -> None:
    from printd.config import CupsPrinterConfig

    config = parse_config(
        '[[printer]]\nname = "office"\ntype = "cups"\nqueue = "Evolis_Primacy"\nserver = "/run/cups/cups.sock"\n'
    )
    assert isinstance(config.printer[0], CupsPrinterConfig) and config.printer[0].queue == "Evolis_Primacy"
    with pytest.raises(ConfigError, match=r"key printer\[0\]\.queue"):
        parse_config('[[printer]]\nname = "office"\ntype = "cups"\nqueue = "bad/queue"\n')
