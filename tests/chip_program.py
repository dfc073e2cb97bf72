"""Test helper: an encoding program as a registry's own software would be, for `encoder_command`.

Usage: chip_program.py --reader NAME --uid UID [--exit N]. Reads the payload from stdin, checks that the card in
the reader has UID, writes the payload to the virtual chip's EF from offset 0 and reads it back; exits 0 when all
went well, 4 when the card is not the one named, 5 when the chip refused, or N when --exit N asks it to fail.
"""

from __future__ import annotations

import argparse
import sys

from smartcard.System import readers

from tests.chip_scripts import CHUNK, select_ef


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", required=True)
    parser.add_argument("--uid", required=True)
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()
    payload = sys.stdin.buffer.read()
    if args.exit:
        return args.exit
    reader = next(r for r in readers() if str(r) == args.reader)
    connection = reader.createConnection()
    connection.connect()

    def send(apdu: bytes) -> tuple[bytes, int]:
        data, sw1, sw2 = connection.transmit(list(apdu))
        return bytes(data), sw1 << 8 | sw2

    uid, sw = send(bytes.fromhex("FFCA000000"))
    if sw != 0x9000 or uid.hex().upper() != args.uid:
        return 4
    for step in select_ef():
        if send(bytes.fromhex(step["apdu"]))[1] != 0x9000:
            return 5
    for start in range(0, len(payload), CHUNK):
        chunk = payload[start : start + CHUNK]
        if send(bytes.fromhex(f"00D6{start:04X}{len(chunk):02X}") + chunk)[1] != 0x9000:
            return 5
        if send(bytes.fromhex(f"00B0{start:04X}{len(chunk):02X}")) != (chunk, 0x9000):
            return 5
    connection.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
