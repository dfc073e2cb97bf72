"""The control socket: JSON-RPC 2.0 over a Unix socket, callers known by their kernel credentials."""

from printd.control.auth import Caller, Role
from printd.control.client import ControlClient, DaemonUnreachableError
from printd.control.server import ControlServer, ControlSocketError, Dispatcher

__all__ = [
    "Caller",
    "ControlClient",
    "ControlServer",
    "ControlSocketError",
    "DaemonUnreachableError",
    "Dispatcher",
    "Role",
]
