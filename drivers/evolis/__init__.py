"""Evolis card printers: the sans-I/O protocol, panel imaging and the driver over a byte transport."""
