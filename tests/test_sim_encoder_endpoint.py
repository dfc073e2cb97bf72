"""The simulated chip encoder on its own Unix socket: the endpoint, its client, `serve --encoder-socket`, the
``encoder`` key of evolis printers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from drivers.base import ENCODER_UNAVAILABLE, Card, EncodeError, Outcome
from drivers.evolis.driver import EvolisDriver
from drivers.sim import make_sim_printer
from drivers.sim.encoder_client import SocketEncoder, open_encoder, parse_encoder_url
from drivers.sim.encoder_endpoint import MAX_LINE, EncoderEndpoint, EndpointError
from printd.config import ConfigError, EvolisPrinterConfig, parse_config
from tests.conftest import card_png
from tests.sim_serial import served_sim

PAYLOAD = b"\x00chip data\xff"


def test_encodes_the_parked_card_over_the_socket(tmp_path: Path) -> None:
    handle = make_sim_printer("enc", cards=3, seconds_per_card=0)
    assert handle.encoder is not None
    card = handle.model.move_to_contactless()
    with EncoderEndpoint(handle.encoder, tmp_path / "enc.sock") as endpoint:
        encoder = SocketEncoder(endpoint.path)
        assert encoder.encode(PAYLOAD) == card.chip_uid
        assert handle.model.card is card and card.encoded and card.uid_read
        assert encoder.encode(None) == card.chip_uid  # the same connection serves the next request
        assert not card.encoded  # no data written this time
        encoder.close()
    assert not (tmp_path / "enc.sock").exists()  # the endpoint removes its socket


def test_errors_carry_the_uid_the_reader_got(tmp_path: Path) -> None:
    handle = make_sim_printer("enc", cards=3, seconds_per_card=0, faults="card 1: encode fails")
    assert handle.encoder is not None
    with EncoderEndpoint(handle.encoder, tmp_path / "enc.sock") as endpoint:
        encoder = SocketEncoder(endpoint.path)
        with pytest.raises(EncodeError, match="no card at the contactless station") as nothing_parked:
            encoder.encode(PAYLOAD)
        assert nothing_parked.value.chip_uid is None
        card = handle.model.move_to_contactless()
        with pytest.raises(EncodeError, match="did not accept the data") as refused:
            encoder.encode(PAYLOAD)
        assert refused.value.chip_uid == card.chip_uid and not card.encoded


def test_an_unreachable_encoder_is_an_encode_error_and_is_reached_once_back(tmp_path: Path) -> None:
    path = tmp_path / "enc.sock"
    encoder = SocketEncoder(path, timeout=2)
    with pytest.raises(EncodeError, match=f"the chip encoder at {path} is not reachable") as unreachable:
        encoder.encode(PAYLOAD)
    assert unreachable.value.chip_uid is None
    handle = make_sim_printer("enc", cards=3, seconds_per_card=0)
    assert handle.encoder is not None
    card = handle.model.move_to_contactless()
    with EncoderEndpoint(handle.encoder, path):
        assert encoder.encode(PAYLOAD) == card.chip_uid
    with pytest.raises(EncodeError, match="not reachable"):  # the endpoint went away under an open connection
        encoder.encode(PAYLOAD)


@pytest.mark.parametrize(
    ("request_line", "says"),
    [
        (b"HELLO\n", b"unknown request"),
        (b"ENCODE xyz\n", b"hex digits"),
        (b"ENCODE abc\n", b"hex digits"),  # an odd number of digits
        ("ENCODE \u00e9\n".encode(), b"ASCII"),
        (b"ENCODE " + b"00" * (MAX_LINE // 2) + b"\n", b"longer than"),
    ],
)
def test_a_bad_request_is_answered_and_the_connection_closed(tmp_path: Path, request_line: bytes, says: bytes) -> None:
    handle = make_sim_printer("enc", cards=1, seconds_per_card=0)
    assert handle.encoder is not None
    with EncoderEndpoint(handle.encoder, tmp_path / "enc.sock") as endpoint, socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(endpoint.path))
        sock.sendall(request_line)
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        assert received.startswith(b"ERR - ") and says in received and received.endswith(b"\n")
    assert handle.model.card is None  # nothing was fed or encoded


def test_an_endpoint_that_cannot_bind_says_where(tmp_path: Path) -> None:
    handle = make_sim_printer("enc", cards=1, seconds_per_card=0)
    assert handle.encoder is not None
    too_long = tmp_path / ("x" * 120)
    with pytest.raises(EndpointError, match=f"cannot serve the encoder on {too_long}"):
        EncoderEndpoint(handle.encoder, too_long).start()


def test_served_printer_and_its_encoder_print_a_chip_card(tmp_path: Path) -> None:
    sock = tmp_path / "encoder.sock"
    with served_sim(tmp_path, cards=5, ribbon="kb", encoder_socket=sock, seconds_per_encode=0.05) as served:
        assert sock.is_socket()  # ready before the pty path was printed
        driver = EvolisDriver(served.transport(), encoder=open_encoder(f"sim+unix://{sock}"), ribbon="kb")
        driver.open()
        result = driver.print_card(Card(front=card_png("CHIP"), chip_payload=PAYLOAD))
        driver.close()
        state = served.state()
        assert served.stop() == 0
    assert result.outcome is Outcome.PRINTED
    [card] = state["hopper"]
    assert result.chip_uid == card["chip_uid"] and card["encoded"] and card["uid_read"]
    assert not sock.exists()


def test_no_blank_is_fed_while_the_encoder_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "enc.sock"
    handle = make_sim_printer("enc", cards=3, seconds_per_card=0, ribbon="kb")
    assert handle.encoder is not None
    encoder = SocketEncoder(path, timeout=2)
    driver = handle.driver(encoder=encoder)
    driver.open()
    card = Card(front=card_png("CHIP"), chip_payload=PAYLOAD)
    refused = driver.print_card(card)  # nothing listens on the socket yet
    assert refused.outcome is Outcome.NOT_FED and refused.reason == ENCODER_UNAVAILABLE
    assert f"the chip encoder at {path} is not reachable" in refused.detail
    assert handle.model.cards_fed == 0 and len(handle.model.feeder) == 3
    with EncoderEndpoint(handle.encoder, path):
        encoder.check()  # PING answered
        printed = driver.print_card(card)
    driver.close()
    assert printed.outcome is Outcome.PRINTED and printed.chip_uid == handle.model.hopper[-1].chip_uid
    truth = handle.model.physical_truth()
    assert (truth.cards_fed, truth.in_hopper, truth.in_reject_box) == (1, 1, 0)


def test_without_the_option_no_encoder_is_served(tmp_path: Path) -> None:
    with served_sim(tmp_path, cards=5, ribbon="kb") as served:
        driver = EvolisDriver(served.transport(), ribbon="kb")
        driver.open()
        result = driver.print_card(Card(front=card_png("NO CHIP")))
        driver.close()
        assert served.stop() == 0
    assert result.outcome is Outcome.PRINTED and result.chip_uid is None
    assert list(tmp_path.glob("*.sock")) == []


def test_encoder_urls() -> None:
    assert parse_encoder_url("sim+unix:///run/sim/encoder.sock") == Path("/run/sim/encoder.sock")
    for bad, says in [
        ("pcsc://ACS ACR122U", "expected sim[+]unix:///path/to/encoder.sock"),
        ("sim+unix://relative.sock", "must be absolute"),
        ("sim+unix:///a.sock?timeout=3", "must be absolute"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_encoder_url(bad)


def test_the_encoder_key_of_an_evolis_printer() -> None:
    text = '[[printer]]\nname = "desk"\ntype = "evolis"\ntransport = "serial:///dev/ttyS0"\nencoder = "{}"\n'
    printer = parse_config(text.format("sim+unix:///run/sim/desk.sock")).printer[0]
    assert isinstance(printer, EvolisPrinterConfig) and printer.encoder == "sim+unix:///run/sim/desk.sock"
    with pytest.raises(ConfigError, match=r"key printer\[0\]\.encoder: unknown encoder 'pcs://reader'"):
        parse_config(text.format("pcs://reader"))
