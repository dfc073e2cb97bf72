"""The daemon's configuration: TOML, validated at start, every error naming the key and what is expected."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from printd.validation import explain

DEFAULT_CONFIG_PATH = Path("/etc/printd/printd.toml")

# Every number has both bounds: an upper bound also keeps out inf (and nan fails any bound).
HOUR = 3600.0
DAY = 24 * HOUR
MAX_CLIENTS = 512  # well inside the 1,024 open files a service gets by default
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Timeout = Annotated[float, msgspec.Meta(gt=0.0, le=DAY)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and what is expected."""


class StationConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name = "station"
    database: str = "/var/lib/printd/printd.db"
    socket: str = "/run/printd/printd.sock"
    spool: str | None = None
    low_stock_threshold: Count = 500
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 3
    retention_hours: Annotated[float, msgspec.Meta(ge=0.0, le=5 * 365 * 24.0)] = 24.0  # five years at most
    spool_poll_seconds: Annotated[float, msgspec.Meta(ge=0.01, le=HOUR)] = 1.0
    # What a person reads is in this zone and report days are its days (WIB Asia/Jakarta, WITA Asia/Makassar,
    # WIT Asia/Jayapura); stored times stay UTC.
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Asia/Jakarta"


class CalendarConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Working days, for the forecast: which weekdays are off and the office's holidays."""

    weekend: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] = (
        msgspec.field(default_factory=lambda: ["saturday", "sunday"])
    )
    holidays: list[dt.date] = msgspec.field(default_factory=list)


class ForecastConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How the need for blanks is forecast (see printd/reports/forecast.py)."""

    window_days: Annotated[int, msgspec.Meta(ge=1, le=260)] = 20  # working days of history
    lead_time_days: Annotated[int, msgspec.Meta(ge=0, le=260)] = 20  # working days from a request to delivery
    service_level: Annotated[float, msgspec.Meta(ge=0.5, le=0.999)] = 0.95
    delivery_unit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    fill_ratio: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 1.0  # share of a request that arrives


class PersonConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Annotated[str, msgspec.Meta(max_length=120)] = ""
    nip: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9 ]*$")] = ""
    rank: Annotated[str, msgspec.Meta(max_length=120)] = ""
    position: Annotated[str, msgspec.Meta(max_length=200)] = ""


class DocumentsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Who the official documents come from: the office, its head, the legal basis and the request's addressee."""

    office: Annotated[str, msgspec.Meta(max_length=200)] = "Dinas Kependudukan dan Pencatatan Sipil"
    city: Annotated[str, msgspec.Meta(max_length=100)] = ""
    address: Annotated[str, msgspec.Meta(max_length=300)] = ""
    legal_basis: Annotated[str, msgspec.Meta(max_length=1000)] | None = None  # None: the 2018 circular
    request_addressee: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    head: PersonConfig = msgspec.field(default_factory=lambda: PersonConfig(position="Kepala Dinas"))


class RolesConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    viewer: list[str] = msgspec.field(default_factory=lambda: ["printd"])
    operator: list[str] = msgspec.field(default_factory=lambda: ["printd-operator"])
    supervisor: list[str] = msgspec.field(default_factory=lambda: ["printd-admin"])

    def as_dict(self) -> dict[str, list[str]]:
        return {"viewer": self.viewer, "operator": self.operator, "supervisor": self.supervisor}


class ControlConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 << 20)] = 1 << 20  # per client, in memory
    idle_timeout_seconds: Timeout = 300.0
    request_timeout_seconds: Timeout = 30.0
    write_timeout_seconds: Timeout = 30.0
    max_clients: Annotated[int, msgspec.Meta(ge=1, le=MAX_CLIENTS)] = 64
    max_clients_per_user: Annotated[int, msgspec.Meta(ge=1, le=MAX_CLIENTS)] | None = None  # none: max_clients / 4
    reserved_for_supervisors: Annotated[int, msgspec.Meta(ge=0, le=MAX_CLIENTS - 1)] | None = None  # none: 4
    socket_group: str | None = None
    roles: RolesConfig = msgspec.field(default_factory=RolesConfig)
    # Unix users who may act on behalf of a dashboard account (the request's on_behalf_of): printd-web's own user.
    web_users: list[Name] = msgspec.field(default_factory=lambda: ["printd-web"])


class WebConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """printd-web, the dashboard: where it listens and who may see it (see printd/web/)."""

    listen: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] = "127.0.0.1:8631"
    tls_cert: str | None = None  # both or neither; required to listen beyond loopback unless insecure_lan
    tls_key: str | None = None
    insecure_lan: bool = False  # serve the LAN without TLS; every page then says so
    anonymous_viewer: bool = False  # the pages (not the actions) without logging in
    session_minutes: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 60)] = 8 * 60  # a working day
    language: Literal["id", "en"] = "id"  # when neither the account nor the browser says
    login_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5  # failed logins per account and address ...
    login_window_seconds: Annotated[float, msgspec.Meta(gt=0.0, le=DAY)] = 300.0  # ... within this long
    # /metrics has no login (Prometheus cannot sign in): only clients in these networks may read it
    metrics_from: Annotated[list[str], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"]
    )
    # names this dashboard is reached by, beyond its listen address, this PC's name and (on loopback) localhost;
    # a request naming another host is refused (DNS rebinding)
    hostnames: Annotated[list[str], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=list)


class SimPrinterConfig(msgspec.Struct, tag="sim", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A simulated Evolis printer driven through the real Evolis driver over an in-process link."""

    name: Name
    cards: Count = 1000
    seconds_per_card: Annotated[float, msgspec.Meta(ge=0.0, le=600.0)] = 20.0
    spoil_rate: Rate = 0.0
    seed: int = 0
    faults: list[str] = msgspec.field(default_factory=list)
    state_file: str | None = None
    save_png_dir: str | None = None
    ribbon: str = "ymcko"
    encoder: bool | str = True  # true: the simulated encoder; "pcsc://READER": a PC/SC reader, with `field` below
    encoder_command: list[str] | None = None
    field: str | None = None  # vpcd://HOST:PORT: each card at the contactless station goes into this virtual reader


class EvolisPrinterConfig(msgspec.Struct, tag="evolis", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """An Evolis printer (Primacy, Zenius, KC200...) over USB, a serial line or a usblp device file."""

    name: Name
    transport: str
    ribbon: str = "ymcko"
    colour_levels: Literal[32, 64, 128] = 32
    reply_timeout: Annotated[float, msgspec.Meta(gt=0.0, le=600.0)] = 5.0
    motion_timeout: Annotated[float, msgspec.Meta(gt=0.0, le=HOUR)] = 60.0
    compress_panels: Literal["auto", "always", "never"] = "auto"  # K/O as Dbc: auto by the model it reports
    encoder: str | None = None  # the chip encoder: pcsc://READER (its contactless coupler); none: no chip stage
    encoder_command: list[str] | None = None  # a program that encodes the chip in the reader, for pcsc:// encoders


class CupsPrinterConfig(msgspec.Struct, tag="cups", tag_field="type", forbid_unknown_fields=True, frozen=True):
    """A card printer reached through a CUPS queue (the vendor's driver or printd's simulated backend)."""

    name: Name
    queue: Annotated[str, msgspec.Meta(min_length=1, max_length=127, pattern=r"^[^/#\s]+$")]
    server: str | None = None  # a host or a Unix socket path; none: the client's default
    job_timeout: Timeout = 300.0


PrinterConfig = SimPrinterConfig | EvolisPrinterConfig | CupsPrinterConfig


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    station: StationConfig = msgspec.field(default_factory=StationConfig)
    control: ControlConfig = msgspec.field(default_factory=ControlConfig)
    printer: list[PrinterConfig] = msgspec.field(default_factory=list)
    calendar: CalendarConfig = msgspec.field(default_factory=CalendarConfig)
    forecast: ForecastConfig = msgspec.field(default_factory=ForecastConfig)
    documents: DocumentsConfig = msgspec.field(default_factory=DocumentsConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)

    def printer_named(self, name: str) -> PrinterConfig | None:
        return next((p for p in self.printer if p.name == name), None)


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the syntax at that place") from exc
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        message = explain(exc)
        raise ConfigError(f"{source}: {message}{_allowed_range(message)}") from exc
    _check_control(config.control, f"{source}: key control")
    _check_web(config.web, f"{source}: key web")
    _check_timezone(config.station.timezone, f"{source}: key station.timezone")
    _check_database(config.station.database, f"{source}: key station.database")
    if len(set(config.calendar.weekend)) >= 7:
        raise ConfigError(f"{source}: key calendar.weekend: every day of the week is off; leave at least one working")
    for index, printer in enumerate(config.printer):
        _check_printer(printer, f"{source}: key printer[{index}]")
    names = [p.name for p in config.printer]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: printer names must be unique; {', '.join(duplicates)} is given twice")
    return config


def _check_timezone(name: str, where: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: {name[:64]!r} is not a time zone this machine knows; give an IANA name such as"
            " Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)"
        ) from None


def _check_database(database: str, where: str) -> None:
    """A path is a SQLite file; a ``postgresql://`` URL a server shared by stations, which must not hold a password."""
    from printd.store.engines import is_postgres

    if not is_postgres(database):
        return
    from printd.errors import PrintdError
    from printd.store.postgres import check_url

    try:
        check_url(database)
    except PrintdError as exc:
        raise ConfigError(f"{where}: {exc.message.removeprefix('[station] database: ')}") from None


def _allowed_range(message: str) -> str:
    """``; allowed: ...`` for an error about a number key (``key station.spool_poll_seconds: ...``), else ``""``."""
    found = re.match(r"key ([\w.\[\]]+):", message)
    number = _number_type(found.group(1)) if found else None
    if number is None:
        return ""
    limits = (("more than", number.gt), ("at least", number.ge), ("less than", number.lt), ("at most", number.le))
    bounds = [f"{word} {_plain(value)}" for word, value in limits if value is not None]
    kind = "a whole number" if isinstance(number, msgspec.inspect.IntType) else "a number"
    return f"; allowed: {kind} {' and '.join(bounds)}" if bounds else ""


def _number_type(key: str) -> msgspec.inspect.IntType | msgspec.inspect.FloatType | None:
    """The number type of ``key`` (``printer[0].cards``) in the configuration; None if it is no number."""
    t: msgspec.inspect.Type | None = msgspec.inspect.type_info(Config)
    for name in re.sub(r"\[\d+\]", "", key).split("."):
        t = _field_type(t, name)
    return next((m for m in _members(t) if isinstance(m, msgspec.inspect.IntType | msgspec.inspect.FloatType)), None)


def _members(t: msgspec.inspect.Type | None) -> tuple[msgspec.inspect.Type, ...]:
    if isinstance(t, msgspec.inspect.UnionType):
        return t.types
    if isinstance(t, msgspec.inspect.ListType):
        return _members(t.item_type)
    return () if t is None else (t,)


def _field_type(t: msgspec.inspect.Type | None, name: str) -> msgspec.inspect.Type | None:
    """The type of field ``name`` of the struct ``t`` (of the first struct in a list or union that has one)."""
    for member in _members(t):
        if isinstance(member, msgspec.inspect.StructType):
            for field in member.fields:
                if field.name == name:
                    return field.type
    return None


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_control(control: ControlConfig, where: str) -> None:
    limit = control.max_clients
    if control.max_clients_per_user is not None and control.max_clients_per_user > limit:
        raise ConfigError(f"{where}.max_clients_per_user: must be at most max_clients ({limit})")
    if control.reserved_for_supervisors is not None and control.reserved_for_supervisors >= limit:
        raise ConfigError(f"{where}.reserved_for_supervisors: must be less than max_clients ({limit})")


def listen_address(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8631`` for IPv6) → (host, port); raises ``ValueError`` saying what is expected."""
    host, sep, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{listen[:64]!r} is not HOST:PORT; give an address such as 127.0.0.1:8631")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this PC can reach the dashboard there."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_web(web: WebConfig, where: str) -> None:
    try:
        host, _ = listen_address(web.listen)
    except ValueError as exc:
        raise ConfigError(f"{where}.listen: {exc}") from None
    if (web.tls_cert is None) != (web.tls_key is None):
        raise ConfigError(f"{where}: give both tls_cert and tls_key (the certificate and its private key), or neither")
    if not is_loopback(host) and web.tls_cert is None and not web.insecure_lan:
        raise ConfigError(
            f"{where}.listen: {web.listen!r} is reachable from the network, so it needs TLS: set tls_cert and"
            " tls_key, or insecure_lan = true to accept that passwords cross the LAN unencrypted"
        )
    for index, network in enumerate(web.metrics_from):
        try:
            ipaddress.ip_network(network)
        except ValueError as exc:
            raise ConfigError(
                f"{where}.metrics_from[{index}]: {network[:64]!r} is not a network ({exc}); give one such as"
                " 127.0.0.0/8, 192.168.1.20/32 or 192.168.1.0/24 (the address with its host bits zero)"
            ) from None
    for index, name in enumerate(web.hostnames):
        if not _HOSTNAME.fullmatch(name) and not _is_address(name):
            raise ConfigError(
                f"{where}.hostnames[{index}]: {name[:64]!r} is not a host name; give the name browsers use for"
                " this PC, such as printd.dukcapil.local, without a port or scheme"
            )


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_printer(printer: PrinterConfig, where: str) -> None:
    from drivers.evolis.render import ribbon_panels

    if isinstance(printer, CupsPrinterConfig):
        return  # the queue's own driver knows its ribbon
    try:
        ribbon_panels(printer.ribbon)
    except ValueError:
        raise ConfigError(
            f"{where}.ribbon: unsupported ribbon {printer.ribbon!r}; use ymcko, ymckos, ymckok, kb or ko"
        ) from None
    if isinstance(printer, EvolisPrinterConfig):
        from drivers.transports import open_transport

        try:
            open_transport(printer.transport)
        except ValueError as exc:
            raise ConfigError(f"{where}.transport: {exc}") from None
    if isinstance(printer, SimPrinterConfig) and printer.field is not None:
        from drivers.sim.field import parse_field_url

        try:
            parse_field_url(printer.field)
        except ValueError as exc:
            raise ConfigError(f"{where}.field: {exc}") from None
    _check_encoder(printer.encoder if isinstance(printer.encoder, str) else None, printer.encoder_command, where)


def _check_encoder(url: str | None, command: list[str] | None, where: str) -> None:
    if url is None:
        if command is not None:
            raise ConfigError(f'{where}.encoder_command: needs an encoder = "pcsc://READER" to hand the card over')
        return
    from drivers.encoders import check_encoder

    try:
        check_encoder(url, command)
    except ValueError as exc:
        key = "encoder_command" if str(exc).startswith("encoder_command") else "encoder"
        raise ConfigError(f"{where}.{key}: {str(exc).removeprefix('encoder_command: ')}") from None


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file; pass --config PATH") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration ({exc})") from exc
    return parse_config(text, str(path))
