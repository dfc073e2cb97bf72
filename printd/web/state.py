"""The parts one printd-web process holds, made once at start and reached by handlers as ``web_state(request)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from starlette.requests import HTTPConnection

from printd.config import Config, WebConfig, is_loopback, listen_address

if TYPE_CHECKING:  # the parts import this module to reach one another
    import jinja2

    from printd.web.daemon_link import DaemonLink
    from printd.web.live import Live
    from printd.web.login import LoginLimiter
    from printd.web.sessions import SessionStore


@dataclass(frozen=True)
class Settings:
    """What printd-web takes from the station's configuration file."""

    socket: str
    station: str
    zone: ZoneInfo
    web: WebConfig
    idle_timeout: float  # printd's [control] idle_timeout_seconds

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            socket=config.station.socket,
            station=config.station.name,
            zone=ZoneInfo(config.station.timezone),
            web=config.web,
            idle_timeout=config.control.idle_timeout_seconds,
        )

    @property
    def tls(self) -> bool:
        return self.web.tls_cert is not None

    @property
    def insecure(self) -> bool:
        """Reachable from the LAN without TLS (``insecure_lan``): every page says so."""
        return not self.tls and not is_loopback(listen_address(self.web.listen)[0])


@dataclass
class WebState:
    settings: Settings
    link: DaemonLink
    sessions: SessionStore
    limiter: LoginLimiter
    env: jinja2.Environment
    live: Live


def web_state(connection: HTTPConnection) -> WebState:
    state: WebState = connection.app.state.web
    return state
