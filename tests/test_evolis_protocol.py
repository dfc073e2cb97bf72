"""The Evolis codec: golden command bytes, decoder chunking and resynchronisation, replies, status text."""

from __future__ import annotations

import pytest

from drivers.evolis import protocol as p
from drivers.evolis.protocol import Command, CommandDecoder, ProtocolError, Reply, ReplyDecoder

# A K panel whose bytes hold every value, CR, ESC and ";" included, in every position that matters.
K_DATA = (bytes(range(256)) * 322)[: 648 * 1016 // 8]
assert len(K_DATA) == 82296 and b"\r" in K_DATA and b"\x1b" in K_DATA and b";" in K_DATA


# ----------------------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        (p.read_firmware(), b"\x1bRfv\r"),
        (p.read_serial(), b"\x1bRsn\r"),
        (p.read_model(), b"\x1bRtp\r"),
        (p.read_counter("c"), b"\x1bRco;c\r"),
        (p.read_counter("p"), b"\x1bRco;p\r"),
        (p.read_counter("l"), b"\x1bRco;l\r"),
        (p.set_ribbon("ymcko"), b"\x1bPr;ymcko\r"),
        (p.set_ribbon("kb"), b"\x1bPr;kb\r"),
        (p.read_ribbon(), b"\x1bRr\r"),
        (p.start_sequence(), b"\x1bSs\r"),
        (p.front_side(), b"\x1bSr\r"),
        (p.back_side(), b"\x1bSv\r"),
        (p.end_sequence(), b"\x1bSe\r"),
        (p.reject_card(), b"\x1bSer\r"),
        (p.park_contactless(), b"\x1bSic\r"),
        (p.park_contact(), b"\x1bSis\r"),
        (p.clear_errors(), b"\x1bScs\r"),
        (p.host_error_management(), b"\x1bPem;2\r"),
        (p.read_last_card_answer(), b"\x1bRlr;p\r"),
        (p.read_last_cleaning_answer(), b"\x1bRlr;r\r"),
        (p.read_cover(), b"\x1bRse;o\r"),
        (p.read_feeder_empty(), b"\x1bSk;f\r"),
        (p.read_feeder_warning(), b"\x1bSk;w\r"),
        (p.read_ribbon_mark(), b"\x1bRcr\r"),
        (p.read_status(), b"\x1bRst\r"),
        (Command("Pcom", ("1", "9600", "N", "8", "1")), b"\x1bPcom;1;9600;N;8;1\r"),
    ],
)
def test_command_bytes(cmd: Command, expected: bytes) -> None:
    assert p.encode_command(cmd) == expected


def test_download_panel_bytes() -> None:
    encoded = p.encode_command(p.download_panel("k", 2, K_DATA))
    assert encoded == b"\x1bDb;k;2;" + K_DATA + b"\r"
    colour = bytes(411480)
    assert p.encode_command(p.download_panel("y", 32, colour)) == b"\x1bDb;y;32;" + colour + b"\r"


@pytest.mark.parametrize(
    ("panel", "levels", "size"),
    [("k", 2, 82296), ("o", 2, 82296), ("y", 32, 411480), ("m", 64, 493776), ("c", 128, 576072)],
)
def test_panel_data_size(panel: str, levels: int, size: int) -> None:
    assert p.panel_data_size(panel, levels) == size == 648 * 1016 * p.panel_bits(panel, levels) // 8


@pytest.mark.parametrize(("panel", "levels"), [("k", 32), ("o", 4), ("y", 2), ("c", 256), ("x", 2), ("", 2)])
def test_panel_data_size_rejects(panel: str, levels: int) -> None:
    with pytest.raises(ProtocolError):
        p.panel_data_size(panel, levels)


def test_download_panel_checks_size() -> None:
    with pytest.raises(ProtocolError, match="82296"):
        p.download_panel("k", 2, b"\x00" * 10)


@pytest.mark.parametrize(
    "cmd",
    [
        Command("", ()),
        Command("R;x", ()),
        Command("1ab", ()),
        Command("Pr", ("a;b",)),
        Command("Pr", ("a\rb",)),
        Command("Pr", ("é",)),
        Command("Rfv", (), b"data"),
        Command("Db", ("k",), K_DATA),
        Command("Db", ("k", "2"), K_DATA[:-1]),
    ],
)
def test_encode_rejects_invalid(cmd: Command) -> None:
    with pytest.raises(ProtocolError):
        p.encode_command(cmd)


def test_invalid_counter_and_ribbon() -> None:
    with pytest.raises(ValueError):
        p.read_counter("z")
    with pytest.raises(ProtocolError):
        p.set_ribbon("ym;cko")


def test_command_repr_hides_payload() -> None:
    cmd = p.download_panel("k", 2, K_DATA)
    assert repr(cmd) == "Command('Db', ('k', '2'), data=<82296 bytes>)"
    assert str(cmd) == "Db;k;2;<82296 bytes>"
    assert str(p.read_counter("c")) == "Rco;c"


# ----------------------------------------------------------------------------------- printer side decode

STREAM_COMMANDS = [
    p.set_ribbon("kb"),
    p.start_sequence(),
    p.front_side(),
    p.download_panel("k", 2, K_DATA),
    p.back_side(),
    p.download_panel("k", 2, K_DATA[::-1]),
    p.end_sequence(),
]
STREAM = b"".join(p.encode_command(c) for c in STREAM_COMMANDS)


def _feed_chunks(data: bytes, size: int) -> list[Command | ProtocolError]:
    decoder = CommandDecoder()
    events: list[Command | ProtocolError] = []
    for i in range(0, len(data), size):
        events += decoder.feed(data[i : i + size])
    assert not decoder.in_command
    return events


def test_decode_all_at_once() -> None:
    assert _feed_chunks(STREAM, len(STREAM)) == STREAM_COMMANDS


def test_decode_byte_by_byte() -> None:
    short = b"".join(p.encode_command(c) for c in STREAM_COMMANDS[:4])
    assert _feed_chunks(short, 1) == STREAM_COMMANDS[:4]


@pytest.mark.parametrize("size", [2, 3, 7, 81, 4096, 82297])
def test_decode_in_chunks(size: int) -> None:
    assert _feed_chunks(STREAM, size) == STREAM_COMMANDS


def test_decode_split_inside_db_data_at_cr_esc_and_semicolon() -> None:
    encoded = p.encode_command(p.download_panel("k", 2, K_DATA))
    head = len(b"\x1bDb;k;2;")
    for special in (b"\r", b"\x1b", b";"):
        cut = head + K_DATA.index(special)
        for at in (cut, cut + 1):
            decoder = CommandDecoder()
            assert decoder.feed(encoded[:at]) == []
            assert decoder.in_command
            assert decoder.feed(encoded[at:]) == [p.download_panel("k", 2, K_DATA)]


def test_decode_split_inside_header_and_before_final_cr() -> None:
    encoded = p.encode_command(p.download_panel("k", 2, K_DATA))
    for at in (1, 3, 4, 6, 7, len(encoded) - 1):
        decoder = CommandDecoder()
        assert decoder.feed(encoded[:at]) == []
        assert decoder.feed(encoded[at:]) == [p.download_panel("k", 2, K_DATA)]


def test_decode_colour_panel() -> None:
    data = (bytes(range(256)) * 2300)[:576072]
    assert _feed_chunks(p.encode_command(p.download_panel("c", 128, data)), 5000) == [p.download_panel("c", 128, data)]


def test_decode_skips_nul_padding() -> None:
    decoder = CommandDecoder()
    assert decoder.feed(b"\x00\x00\x1bSe\r" + b"\x00" * 64 + b"\x1bRfv\r") == [Command("Se"), Command("Rfv")]


def test_bytes_before_esc_is_one_error_then_resync() -> None:
    decoder = CommandDecoder()
    events = decoder.feed(b"garbage\r more\x1bRsn\r")
    assert len(events) == 2
    assert isinstance(events[0], ProtocolError)
    assert events[1] == Command("Rsn")


def test_missing_cr_is_an_error_and_next_command_survives() -> None:
    decoder = CommandDecoder()
    events = decoder.feed(b"\x1bRfv\x1bRsn\r")
    assert isinstance(events[0], ProtocolError)
    assert "CR" in str(events[0])
    assert events[1:] == [Command("Rsn")]


@pytest.mark.parametrize(
    "frame",
    [
        b"\x1bDb;z;2;",  # unknown panel
        b"\x1bDb;k;32;",  # K at 32 levels
        b"\x1bDb;y;2;",  # Y at 2 levels
        b"\x1bDb;k;x;",  # levels not a number
        b"\x1bDb;k;2\r",  # no data at all
        b"\x1bDb\r",
        b"\x1bR\xe9v\r",  # not ASCII
        b"\x1b1x\r",  # bad name
        b"\x1b\r",  # empty
        b"\x1bPr;a\x01b\r",  # control character in a parameter
    ],
)
def test_malformed_frames_give_one_error_then_resync(frame: bytes) -> None:
    decoder = CommandDecoder()
    events = decoder.feed(frame + b"\x1bRco;c\r")
    assert [type(e) for e in events] == [ProtocolError, Command]
    assert events[-1] == p.read_counter("c")


def test_db_data_not_followed_by_cr() -> None:
    encoded = p.encode_command(p.download_panel("k", 2, K_DATA))
    decoder = CommandDecoder()
    events = decoder.feed(encoded[:-1] + b"X" + b"\x1bSe\r")
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [Command("Se")]
    # The byte after the data being the next ESC: that command is kept.
    decoder = CommandDecoder()
    events = decoder.feed(encoded[:-1] + b"\x1bSe\r")
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [Command("Se")]


def test_overlong_command() -> None:
    decoder = CommandDecoder()
    events = decoder.feed(b"\x1bPr;" + b"a" * 1000 + b"\r\x1bSe\r")
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [Command("Se")]


def test_error_messages_carry_no_payload() -> None:
    decoder = CommandDecoder()
    secret = b"NIK3171234567890"
    events = decoder.feed(b"\x1bPr;" + secret + b"\x1b" + secret + b"\x01\r")
    assert all(secret.decode() not in str(e) for e in events)


# ----------------------------------------------------------------------------------------------- replies


def test_encode_reply() -> None:
    assert p.encode_reply("OK") == b"OK\r"
    assert p.encode_reply("ERROR DEF_COVER_OPEN") == b"ERROR DEF_COVER_OPEN\r"
    with pytest.raises(ProtocolError):
        p.encode_reply("O\rK")
    with pytest.raises(UnicodeEncodeError):
        p.encode_reply("é")


def test_reply_decoder_terminators_and_chunks() -> None:
    decoder = ReplyDecoder()
    wire = b"OK\r1234\r\nPrimacy\x00\x00\x00ERR CDE\r"
    replies: list[Reply] = []
    for byte in wire:
        replies += decoder.feed(bytes([byte]))
    assert [r.text for r in replies] == ["OK", "1234", "Primacy", "ERR CDE"]
    assert not decoder.pending
    assert [r.text for r in ReplyDecoder().feed(wire)] == ["OK", "1234", "Primacy", "ERR CDE"]


def test_reply_without_terminator_completes_on_flush() -> None:
    decoder = ReplyDecoder()
    assert decoder.feed(b"1.2.3") == []
    assert decoder.pending
    assert decoder.flush() == Reply("1.2.3")
    assert not decoder.pending
    assert decoder.flush() is None


def test_ack_nack() -> None:
    decoder = ReplyDecoder()
    replies = decoder.feed(b"\x06\x15C\x06")
    assert [r.is_ack for r in replies] == [True, False, True]
    assert replies[0].ok and not replies[0].is_error
    assert replies[1].nack_code == "C" and replies[1].is_error and not replies[1].ok
    assert decoder.feed(b"\x15") == []
    assert decoder.feed(b"1") == [Reply("\x151")]


def test_reply_too_long() -> None:
    decoder = ReplyDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(b"x" * (p.MAX_REPLY + 1))


@pytest.mark.parametrize(
    ("text", "ok", "error"),
    [
        ("OK", True, False),
        ("1234", False, False),
        ("ERR", False, True),
        ("ERR CARD", False, True),
        ("ERR NEED CLEANING", False, True),
        ("ERROR CDE", False, True),
        ("ERROR CDE FRAME", False, True),
        ("ERROR", False, True),
        ("ERROR DEF_COVER_OPEN,ERR_MECHANICAL", False, False),
        ("WARNING INF_FEEDER_NEAR_EMPTY", False, False),
        ("READY", False, False),
    ],
)
def test_reply_classification(text: str, ok: bool, error: bool) -> None:
    reply = Reply(text)
    assert (reply.ok, reply.is_error) == (ok, error)


# ------------------------------------------------------------------------------------- status query text


def test_format_status() -> None:
    assert p.format_status("READY") == "READY"
    assert p.format_status("WARNING", {p.INF_FEEDER_NEAR_EMPTY}) == "WARNING INF_FEEDER_NEAR_EMPTY"
    assert p.format_status("ERROR", {p.ERR_MECHANICAL, p.DEF_COVER_OPEN}) == "ERROR DEF_COVER_OPEN,ERR_MECHANICAL"
    for bad in (("BUSY", set()), ("ERROR", set()), ("READY", {"no good"})):
        with pytest.raises(ProtocolError):
            p.format_status(bad[0], bad[1])


def test_parse_status() -> None:
    assert p.parse_status("READY") == p.StatusReport("READY", frozenset())
    assert p.parse_status("ERROR DEF_COVER_OPEN,ERR_MECHANICAL") == p.StatusReport(
        "ERROR", frozenset({p.DEF_COVER_OPEN, p.ERR_MECHANICAL})
    )
    assert p.parse_status("WARNING INF_SOMETHING_NEW") == p.StatusReport("WARNING", frozenset({"INF_SOMETHING_NEW"}))
    for not_status in ("ERROR CDE", "ERR", "OK", "ERROR", "1234", ""):
        assert p.parse_status(not_status) is None


def test_status_names_round_trip() -> None:
    for flag in p.STATUS_FLAGS:
        text = p.format_status("ERROR", {flag})
        assert p.parse_status(text) == p.StatusReport("ERROR", frozenset({flag}))
