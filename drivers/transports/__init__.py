"""Byte transports to card printers: USB (pyusb), serial (pyserial), usblp device files."""

from __future__ import annotations

from drivers.transport import Transport
from drivers.transports.reconnecting import ReconnectingTransport

SCHEMES = ("usb", "serial", "usblp")


def open_transport(url: str) -> ReconnectingTransport:
    """A transport for ``usb://VID:PID[?serial=...]``, ``serial://PORT[?baudrate=...]`` or ``usblp:///dev/usb/lpN``.

    The URL is checked now (ValueError naming what is wrong); the link itself opens on first use and again after
    it was lost, so a printer that is off or unplugged at start-up is reached once it is back."""
    scheme = url.partition("://")[0]
    if scheme == "usb":
        from drivers.transports.usb import UsbTransport, parse_usb_url

        parse_usb_url(url)
        return ReconnectingTransport(lambda: UsbTransport.from_url(url), url)
    if scheme == "serial":
        from drivers.transports.serial import SerialTransport, parse_serial_url

        settings = parse_serial_url(url)
        return ReconnectingTransport(lambda: SerialTransport.open(settings), url)
    if scheme == "usblp":
        from drivers.transports.usblp import UsblpTransport, parse_usblp_url

        path, write_timeout = parse_usblp_url(url)
        return ReconnectingTransport(lambda: UsblpTransport(path, write_timeout=write_timeout), url)
    raise ValueError(
        f"unknown transport {url!r}: expected usb://VID:PID, serial:///dev/ttyUSB0?baudrate=115200"
        " or usblp:///dev/usb/lp0"
    )


__all__ = ["SCHEMES", "ReconnectingTransport", "Transport", "open_transport"]
