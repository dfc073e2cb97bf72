"""python -m drivers.sim: serve a simulated printer on a pty, show its physical truth, act as its operator."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

from drivers.sim import SimHandle, make_sim_printer
from drivers.sim.encoder_endpoint import EncoderEndpoint
from drivers.sim.faults import FaultScriptError
from drivers.sim.model import PrinterModel
from drivers.sim.serve import PtyServer, ServerLockedError, StateLock
from drivers.sim.state import StateError, StateFile

EXIT_USAGE = 2
EXIT_REFUSED = 1

SERVE_HELP = """\
Serve one simulated printer on a pseudo-terminal. The slave device's path (e.g. /dev/pts/7) is printed on
stdout, one line, as soon as it can be opened: a host drives the printer there with the serial transport
(serial:///dev/pts/7) or the usblp one (usblp:///dev/pts/7). The host may close and reopen the device at
will. Every physical change is saved to the state file, which is loaded again at the next start (--cards is
then ignored). SIGTERM or SIGINT stops the server once the command in progress is answered.

Beside a real printer the chip encoder is a device of its own. Without --encoder-socket, the chip
encoder is not served: this printer takes no encoder and chip UIDs are not read. With --encoder-socket PATH
it is served on that Unix socket, ready before the pty path is printed; a host reaches it as
encoder = "sim+unix://PATH" (the request/reply protocol: drivers/sim/encoder_endpoint.py).

With --vpcd HOST:PORT the printer's contactless station is the field of a PC/SC reader: a card parked there
(Sic) connects, as a virtual chip card with its blank's UID, to the vsmartcard vpcd reader listening on that
TCP port in pcscd, and leaves it at eject or reject (drivers/sim/field.py). If nothing listens there, the
card is in no reader's field (logged on stderr).
"""

ACTIONS: dict[str, tuple[str, Callable[[PrinterModel], object]]] = {
    "open-cover": ("open the printer's cover", PrinterModel.open_cover),
    "close-cover": ("close the cover (clears a cover-open error)", PrinterModel.close_cover),
    "clear-jam": ("take the card stuck in the printer to the reject box", PrinterModel.clear_jam),
    "empty-hopper": ("take the printed cards out of the output hopper", PrinterModel.empty_hopper),
    "empty-reject-box": ("take the spoiled cards out of the reject box", PrinterModel.empty_reject_box),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except (StateError, ServerLockedError, FaultScriptError, ValueError) as exc:
        print(f"python -m drivers.sim {args.command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.sim",
        description="The simulated card printer: serve it on a pty, read its physical truth, act as its operator. "
        "Operator actions work on the state file while no server is running (they refuse otherwise).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve a simulated printer on a pseudo-terminal",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--pty", action="store_true", required=True, help="serve on a pseudo-terminal")
    serve.add_argument("--name", required=True, help="the printer's name (its serial number derives from it)")
    serve.add_argument(
        "--state-file", metavar="PATH", type=Path, required=True, help="JSON file holding the physical state"
    )
    serve.add_argument(
        "--cards", metavar="N", type=int, default=1000, help="blanks in the feeder of a new state (1000)"
    )
    serve.add_argument(
        "--seconds-per-card", metavar="S", type=float, default=20.0, help="mechanical time of a card (20)"
    )
    serve.add_argument(
        "--spoil-rate", metavar="R", type=float, default=0.0, help="share of cards whose print fails (0)"
    )
    serve.add_argument("--seed", metavar="N", type=int, default=0, help="seed of the random spoils (0)")
    serve.add_argument("--faults", metavar="SCRIPT", help='fault script, e.g. "card 3: jam; after 10: feeder empty"')
    serve.add_argument("--ribbon", metavar="TYPE", default="ymcko", help="ribbon installed in a new state (ymcko)")
    serve.add_argument(
        "--save-png-dir", metavar="DIR", type=Path, help="directory receiving each printed side as a PNG"
    )
    serve.add_argument(
        "--ack-nack", action="store_true", help="answer in the serial ACK/NACK mode (as after Pcom ...;ACK/NACK)"
    )
    serve.add_argument(
        "--link", metavar="PATH", type=Path, help="also make this path a symbolic link to the pty, for a stable name"
    )
    serve.add_argument(
        "--encoder-socket", metavar="PATH", type=Path, help="serve the chip encoder on this Unix socket (default: none)"
    )
    serve.add_argument(
        "--vpcd", metavar="HOST:PORT", help="put cards at the contactless station in this vpcd reader (default: none)"
    )
    serve.add_argument(
        "--seconds-per-encode", metavar="S", type=float, default=0.0, help="the encoder's time for one chip (0)"
    )
    serve.set_defaults(run=_serve)

    status = commands.add_parser("status", help="print the physical truth from the state file as JSON")
    status.add_argument("--state-file", metavar="PATH", type=Path, required=True)
    status.set_defaults(run=_status)

    load = commands.add_parser("load", help="put N new blanks in the feeder (server stopped)")
    load.add_argument("count", type=int, metavar="N")
    load.add_argument("--state-file", metavar="PATH", type=Path, required=True)
    load.set_defaults(run=_load)

    for name, (text, _) in ACTIONS.items():
        action = commands.add_parser(name, help=f"{text} (server stopped)")
        action.add_argument("--state-file", metavar="PATH", type=Path, required=True)
        action.set_defaults(run=_act)
    return parser


def _serve(args: argparse.Namespace) -> int:
    lock = StateLock(args.state_file)
    lock.acquire()
    try:
        handle = make_sim_printer(
            args.name,
            cards=args.cards,
            seconds_per_card=args.seconds_per_card,
            spoil_rate=args.spoil_rate,
            seed=args.seed,
            faults=args.faults,
            state_file=args.state_file,
            save_png_dir=args.save_png_dir,
            ribbon=args.ribbon,
            encoder=args.encoder_socket is not None,
            seconds_per_encode=args.seconds_per_encode,
            field=None if args.vpcd is None else f"vpcd://{args.vpcd}",
        )
        handle.printer.ack_nack = args.ack_nack
        server = PtyServer(handle.printer)
        try:
            with (
                _encoder_served(handle, args.encoder_socket),
                _linked(args.link, server.path),
                _stop_on_signals(server),
            ):
                print(server.path, flush=True)
                server.serve_forever()
        finally:
            server.close()
    finally:
        lock.release()
    return 0


@contextlib.contextmanager
def _encoder_served(handle: SimHandle, path: Path | None) -> Iterator[None]:
    if handle.encoder is None or path is None:
        yield
        return
    with EncoderEndpoint(handle.encoder, path):
        yield


@contextlib.contextmanager
def _stop_on_signals(server: PtyServer) -> Iterator[None]:
    previous_fd = signal.set_wakeup_fd(server.wake_fd)
    previous = {sig: signal.signal(sig, lambda *_: server.request_stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)


@contextlib.contextmanager
def _linked(link: Path | None, target: str) -> Iterator[None]:
    if link is None:
        yield
        return
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    temporary.replace(link)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # another server may have taken the name since
            if os.readlink(link) == target:
                link.unlink()


def _status(args: argparse.Namespace) -> int:
    model = _load_model(args.state_file)
    truth = model.physical_truth()
    report: dict[str, Any] = {
        "serial": model.serial,
        "server_running": StateLock(args.state_file).held_elsewhere(),
        "feeder": truth.in_feeder,
        "in_printer": truth.in_printer,
        "hopper": truth.in_hopper,
        "reject_box": truth.in_reject_box,
        "taken_from_hopper": truth.taken_from_hopper,
        "taken_from_reject_box": truth.taken_from_reject_box,
        "blanks_loaded": truth.blanks_loaded,
        "balanced": truth.balanced,
        "counters": {
            "cards_fed": model.cards_fed,
            "cards_rejected": model.cards_rejected,
            "panels_printed": model.panels_printed,
        },
        "card": None if model.card is None else {"index": model.card.index, "position": model.position.value},
        "cover_open": model.cover_open,
        "conditions": sorted(c.value for c in model.conditions()),
        "ribbon": {"type": model.ribbon_type, "cards_remaining": model.ribbon_cards_remaining},
    }
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


def _load(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ValueError(f"cannot load {args.count} blanks: give a number above 0")
    return _change(args.state_file, lambda model: model.load_blanks(args.count))


def _act(args: argparse.Namespace) -> int:
    return _change(args.state_file, ACTIONS[args.command][1])


def _change(state_file: Path, action: Callable[[PrinterModel], object]) -> int:
    if not state_file.is_file():
        raise StateError(f"no simulator state file {state_file} (serve creates it)")
    lock = StateLock(state_file)
    try:
        lock.acquire()
    except ServerLockedError as exc:
        raise ServerLockedError(f"{exc}: stop it first, then act on the state file") from None
    try:
        model = _load_model(state_file)
        action(model)
        StateFile(state_file).save(model)
    finally:
        lock.release()
    return 0


def _load_model(state_file: Path) -> PrinterModel:
    """The printer model the state file describes (its serial number is the one saved in the file)."""
    try:
        serial = str(json.loads(state_file.read_text(encoding="utf-8"))["serial"])
    except FileNotFoundError:
        raise StateError(f"no simulator state file {state_file} (serve creates it)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"simulator state file {state_file}: {exc}") from exc
    model = PrinterModel(serial)
    StateFile(state_file).load(model)
    return model


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout carries the pty path
    sys.exit(main())
