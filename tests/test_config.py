"""Configuration: the example files load, and every mistake names its key."""

import subprocess
import sys
from pathlib import Path

import msgspec
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


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    """``printd check-config --config PATH`` as an administrator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "printd.daemon", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


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


PRINTERS = {
    "sim": '[[printer]]\nname = "p"\ntype = "sim"\n',
    "evolis": '[[printer]]\nname = "p"\ntype = "evolis"\ntransport = "usb://0F49:0001"\n',
    "cups": '[[printer]]\nname = "p"\ntype = "cups"\nqueue = "q"\n',
}


def number_keys() -> list[tuple[str, str, str]]:
    """(table text, key as errors name it, field) for every number in the configuration, from its own types."""
    from printd.config import ControlConfig, PrinterConfig, StationConfig

    tables = [("[station]\n", "station", StationConfig), ("[control]\n", "control", ControlConfig)]
    tables += [(PRINTERS[t.__struct_config__.tag], "printer[0]", t) for t in PrinterConfig.__args__]  # type: ignore[attr-defined]
    found = []
    for text, where, struct in tables:
        for field in msgspec.inspect.type_info(struct).fields:  # type: ignore[attr-defined]
            types = getattr(field.type, "types", (field.type,))
            if any(isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType) for t in types):
                found.append((text, f"{where}.{field.name}", field.name))
    return found


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e300", "-1e300"])
def test_every_number_is_finite_and_bounded(value: str) -> None:
    keys = number_keys()
    assert len(keys) >= 15
    for table, key, field in keys:
        if field == "seed":
            continue  # any integer seeds the simulator's random failures
        with pytest.raises(ConfigError) as info:
            parse_config(f"{table}{field} = {value}\n", "t.toml")
        assert f"key {key}: " in str(info.value) and "; allowed: " in str(info.value), key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[station]\nspool_poll_seconds = inf", "station.spool_poll_seconds: Expected `float` <= 3600.0"),
        ("[station]\nspool_poll_seconds = nan", "station.spool_poll_seconds: Expected `float` >= 0.01"),
        ("[station]\nretention_hours = 1e6", "station.retention_hours: Expected `float` <= 43800.0"),
        ("[control]\nidle_timeout_seconds = inf", "control.idle_timeout_seconds: Expected `float` <= 86400.0"),
        ("[control]\nmax_message_bytes = 1_000_000_000", "control.max_message_bytes: Expected `int` <= 67108864"),
        (PRINTERS["sim"] + "seconds_per_card = nan", "printer[0].seconds_per_card: Expected `float` >= 0.0"),
        (PRINTERS["evolis"] + "motion_timeout = 0", "printer[0].motion_timeout: Expected `float` > 0.0"),
        (PRINTERS["cups"] + "job_timeout = inf", "printer[0].job_timeout: Expected `float` <= 86400.0"),
    ],
)
def test_check_config_names_the_key_and_the_range(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "printd.toml"
    config.write_text(text + "\n")
    result = check_config(config)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{config}: key {expected}; allowed: a " in result.stderr


EVOLIS = '[[printer]]\nname = "desk"\ntype = "evolis"\ntransport = "usb://0F49:0001"\n'


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ('encoder = "pcsc://"', r"printer\[0\]\.encoder: encoder 'pcsc://': name the reader"),
        ('encoder = "pcsc://Evolis?card_timeout=0"', r"printer\[0\]\.encoder: .*card_timeout must be between"),
        ('encoder = "pcsc://Evolis?retries=3"', r"printer\[0\]\.encoder: .*unknown option 'retries'"),
        ('encoder = "pcsc://Evolis"\nencoder_command = ["encode"]', r"printer\[0\]\.encoder_command: .*absolute path"),
        (
            'encoder = "pcsc://Evolis"\nencoder_command = ["/usr/bin/encode", "{nik}"]',
            r"printer\[0\]\.encoder_command: .*only placeholders are \{reader\} and \{uid\}",
        ),
        ('encoder_command = ["/usr/bin/encode"]', r"printer\[0\]\.encoder_command: needs an encoder"),
    ],
)
def test_a_bad_chip_encoder_is_refused_naming_its_key(keys: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(EVOLIS + keys + "\n")


def test_a_simulated_printers_field_must_be_a_vpcd_address() -> None:
    text = '[[printer]]\nname = "sim"\ntype = "sim"\nencoder = "pcsc://A"\nfield = "tcp://127.0.0.1:1"\n'
    with pytest.raises(ConfigError, match=r"printer\[0\]\.field: contactless field 'tcp://127.0.0.1:1'"):
        parse_config(text)


def test_a_pcsc_encoder_is_accepted_with_its_program() -> None:
    text = EVOLIS + 'encoder = "pcsc://Evolis?card_timeout=8"\nencoder_command = ["/usr/bin/encode", "{uid}"]\n'
    printer = parse_config(text).printer[0]
    assert getattr(printer, "encoder_command", None) == ["/usr/bin/encode", "{uid}"]
