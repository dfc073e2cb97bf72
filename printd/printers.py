"""Building a driver from a printer's configuration (the only place printd names concrete drivers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.base import Driver
from printd.config import CupsPrinterConfig, EvolisPrinterConfig, PrinterConfig, SimPrinterConfig


@dataclass
class BuiltPrinter:
    name: str
    driver: Driver
    sim: Any = None  # the simulator handle for type "sim": its model is the physical truth


def build_printer(config: PrinterConfig) -> BuiltPrinter:
    if isinstance(config, SimPrinterConfig):
        from drivers.sim import make_sim_printer

        handle = make_sim_printer(
            config.name,
            cards=config.cards,
            seconds_per_card=config.seconds_per_card,
            spoil_rate=config.spoil_rate,
            seed=config.seed,
            faults=config.faults,
            state_file=Path(config.state_file) if config.state_file else None,
            save_png_dir=Path(config.save_png_dir) if config.save_png_dir else None,
            ribbon=config.ribbon,
            encoder=config.encoder is True,
            field=config.field,
        )
        if isinstance(config.encoder, str):  # a real encoder beside the simulated printer (a PC/SC reader)
            from drivers.encoders import open_encoder

            return BuiltPrinter(
                config.name, handle.driver(encoder=open_encoder(config.encoder, config.encoder_command)), handle
            )
        return BuiltPrinter(config.name, handle.driver(), handle)
    if isinstance(config, EvolisPrinterConfig):
        from drivers.encoders import open_encoder
        from drivers.evolis.driver import EvolisDriver
        from drivers.transports import open_transport

        driver = EvolisDriver(
            open_transport(config.transport),
            encoder=open_encoder(config.encoder, config.encoder_command) if config.encoder else None,
            ribbon=config.ribbon,
            colour_levels=config.colour_levels,
            reply_timeout=config.reply_timeout,
            motion_timeout=config.motion_timeout,
            compress_panels=config.compress_panels,
        )
        return BuiltPrinter(config.name, driver)
    if isinstance(config, CupsPrinterConfig):
        from drivers.cups.driver import CupsDriver

        return BuiltPrinter(config.name, CupsDriver(config.queue, server=config.server, job_timeout=config.job_timeout))
    raise ValueError(f"unknown printer type for {config!r}")
