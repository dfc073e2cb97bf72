"""`make run`: the station on simulated printers printing a demonstration batch, with progress and a summary.

It starts the real daemon in this process, then acts as the office staff would through the control socket:
books a delivery of 6,000 blanks, submits a backlog, a school's batch and walk-in residents (made-up data),
resumes a printer when a simulated fault pauses it, and prints the stock and spoil summary. Then it keeps the
daemon running for ``printctl`` in another terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import shutil
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from printd.cardart import fake_resident, front_face
from printd.config import Config, ConfigError, SimPrinterConfig, load_config
from printd.control.client import ControlClient
from printd.daemon import Daemon
from printd.logging import configure

BATCH = {"backlog": 150, "normal": 40, "walk_in": 10}
BLANKS = 6000


def fresh_start(config: Config) -> None:
    """Forget the previous demonstration: its database and the simulated printers' state."""
    db = Path(config.station.database)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    for printer in config.printer:
        if not isinstance(printer, SimPrinterConfig):
            continue  # a real printer's state is its own
        if printer.state_file:
            Path(printer.state_file).unlink(missing_ok=True)
        if printer.save_png_dir:
            shutil.rmtree(printer.save_png_dir, ignore_errors=True)
    if config.station.spool:
        shutil.rmtree(config.station.spool, ignore_errors=True)


def demo_jobs(directory: Path, seed: int = 17) -> list[dict[str, object]]:
    """Job objects for made-up residents, their card faces written as PNG files into ``directory``."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    jobs: list[dict[str, object]] = []
    for priority, count in BATCH.items():
        for n in range(count):
            resident = fake_resident(rng)
            ref = f"demo-{priority}-{n + 1:04d}"
            face = directory / f"{ref}.png"
            face.write_bytes(front_face(resident))
            job: dict[str, object] = {"ref": ref, "priority": priority, "front": str(face.resolve())}
            jobs.append(job | {"holder": resident.name, "chip": f"NIK={resident.nik}"})
    return jobs


def run_demo(client: ControlClient, console: Console, card_dir: Path) -> None:
    receipt = client.call("stock.receive", {"count": BLANKS, "ref": "DO-DEMO-001"})
    console.print(f"Booked a delivery of {BLANKS:,} blanks (on hand: {receipt['on_hand']:,}).")  # type: ignore[index]
    console.print("Rendering the demonstration batch (made-up residents)...")
    jobs = demo_jobs(card_dir)
    accepted = 0
    for chunk in (jobs[i : i + 50] for i in range(0, len(jobs), 50)):
        reply = client.call("jobs.submit_batch", {"jobs": chunk})
        accepted += len(reply["accepted"])  # type: ignore[index]
    console.print(
        f"Submitted {accepted} jobs: {BATCH['backlog']} backlog, {BATCH['normal']} school batch,"
        f" {BATCH['walk_in']} walk-in residents (they print first)."
    )
    total = len(jobs)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        overall = progress.add_task("cards issued", total=total)
        spoiled_task = progress.add_task("spoiled blanks", total=None)
        while True:
            status = client.call("status", {})
            assert isinstance(status, dict)
            queue, stock = status["queue"], status["stock"]
            progress.update(overall, completed=queue["done"])
            progress.update(spoiled_task, completed=stock["spoiled"])
            for printer in status["printers"]:
                if printer["paused"]:
                    progress.console.print(
                        f"[yellow]{printer['name']} paused: {printer['pause_reason']}[/] - the operator fixes it"
                        " and resumes it (printctl printers resume)"
                    )
                    time.sleep(0.5)
                    client.call("printers.resume", {"printer": printer["name"]})
            if queue["done"] + queue["failed"] + queue["in_doubt"] + queue["canceled"] >= total:
                break
            time.sleep(0.2)
    show_summary(client, console)


def show_summary(client: ControlClient, console: Console) -> None:
    stock = client.call("stock.summary", {})
    assert isinstance(stock, dict)
    table = Table(title="Blank stock")
    for column in ("received", "issued", "spoiled", "in_doubt", "on_hand"):
        table.add_column(column, justify="right")
    table.add_row(*(f"{stock[c]:,}" for c in ("received", "issued", "spoiled", "in_doubt", "on_hand")))
    console.print(table)
    per = Table(title="Per printer")
    for column in ("printer", "issued", "spoiled", "in_doubt"):
        per.add_column(column, justify="right" if column != "printer" else "left")
    for name, counts in sorted(stock["printers"].items()):
        per.add_row(name, *(str(counts[c]) for c in ("issued", "spoiled", "in_doubt")))
    console.print(per)
    spoiled = client.call("spoiled.list", {})
    info = client.call("station.info", {})
    assert isinstance(spoiled, list) and isinstance(info, dict)
    zone = ZoneInfo(str(info["timezone"]))  # what staff read is in the station's time; the ledger keeps UTC
    spoils = Table(title="Spoiled blanks (for the daily invalid-card record)")
    for column in (f"time ({dt.datetime.now(zone).tzname()})", "printer", "ref", "category", "chip UID"):
        spoils.add_column(column, no_wrap=True)
    for row in spoiled:
        at = dt.datetime.fromisoformat(str(row["at"]).replace("Z", "+00:00")).astimezone(zone)
        spoils.add_row(
            f"{at:%H:%M:%S}", str(row["printer"]), str(row["ref"]), str(row["category"]), str(row["chip_uid"])
        )
    console.print(spoils)
    console.print("The day's stock report: printctl report daily; the public notice: printctl report daily --notice")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m printd.demo", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("config/printd.toml"))
    parser.add_argument("--keep", action="store_true", help="keep the previous demonstration's data")
    parser.add_argument("--exit", action="store_true", help="stop the daemon after the summary")
    args = parser.parse_args(argv)
    console = Console()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    if not args.keep:
        fresh_start(config)
    log_path = Path(config.station.database).with_name("printd.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log_file:
        configure("info", json=True, stream=log_file)
        return _run(config, args.exit or not sys.stdin.isatty(), console, log_path)


def _run(config: Config, exit_after: bool, console: Console, log_path: Path) -> int:
    ready = threading.Event()
    holder: dict[str, Daemon] = {}
    loop = asyncio.new_event_loop()

    def daemon_thread() -> None:
        asyncio.set_event_loop(loop)
        daemon = Daemon(config)
        holder["daemon"] = daemon
        loop.run_until_complete(daemon.run(on_ready=lambda _: ready.set()))

    thread = threading.Thread(target=daemon_thread, name="printd", daemon=True)
    thread.start()
    if not ready.wait(30):
        console.print("[red]printd did not start; see " + str(log_path) + "[/]")
        return 1
    socket = config.station.socket
    console.print(f"printd is running: station {config.station.name}, socket {socket}, log {log_path}")
    try:
        run_demo(ControlClient(socket), console, Path(config.station.database).parent / "demo-faces")
        if not exit_after:
            console.print(
                f"\nprintd keeps running. In another terminal:  PRINTD_SOCKET={socket} .venv/bin/printctl status"
                "\nPress Ctrl-C to stop."
            )
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        loop.call_soon_threadsafe(holder["daemon"].request_stop)
        thread.join(180)
    return 0


if __name__ == "__main__":
    sys.exit(main())
