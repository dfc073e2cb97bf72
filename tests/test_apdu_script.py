"""The chip payload's APDU script: its documented form, each malformed step named at submission, answers judged."""

from __future__ import annotations

import base64
import json
import re

import pytest

from drivers.encoders import apdu
from drivers.encoders.apdu import ScriptError, StatusPattern, Step, parse_script
from printd.errors import PrintdError
from printd.intake import parse_job
from tests.conftest import card_png

SELECT = "00A4040C07A0000000871001"
WRITE = "00D6000004DEADBEEF"
READ = "00B0000004"


def test_a_script_in_its_documented_form() -> None:
    steps = parse_script(
        json.dumps(
            [
                {"apdu": SELECT},
                {"apdu": "00 D6 00 00 04 DE AD BE EF", "expect": "9000"},
                {"apdu": READ, "expect": "9000|61XX", "response": "deadbeef"},
            ]
        ).encode()
    )
    assert [s.apdu.hex().upper() for s in steps] == [SELECT, WRITE, READ]
    assert [str(s.expect) for s in steps] == ["9000", "9000", "9000|61XX"]
    assert steps[2].response == bytes.fromhex("DEADBEEF") and steps[0].response is None


@pytest.mark.parametrize(
    ("apdu_hex", "well_formed"),
    [
        ("00A40000", True),  # case 1
        ("00B0000010", True),  # case 2 short
        ("00B00000000100", True),  # case 2 extended
        ("00D6000002AABB", True),  # case 3 short
        ("00D6000002AABB00", True),  # case 4 short
        ("00D60000000002AABB", True),  # case 3 extended
        ("00D60000000002AABB0000", True),  # case 4 extended
        ("00A400", False),  # no full header
        ("00D6000005AABB", False),  # Lc says 5, 2 follow
        ("00D600000000", False),  # extended length cut short
        ("00D60000000005AABB", False),
    ],
)
def test_apdu_structure(apdu_hex: str, well_formed: bool) -> None:
    assert (apdu.apdu_problem(bytes.fromhex(apdu_hex)) is None) is well_formed


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("not json", "not valid JSON"),
        ("[]", "the list is empty"),
        ('{"apdu": "00A40000"}', "must be a JSON list of steps"),
        ('[{"apdu": "00A40000"}, {"apdu": "ZZ"}]', "step 2, apdu: expected `str` of length >= 8"),
        ('[{"apdu": "00A40000"}, {"apdu": "00A4000Z"}]', "step 2, apdu: must be hexadecimal digits in pairs"),
        ('[{"apdu": "00A400001"}]', "step 1, apdu: must be hexadecimal digits in pairs"),
        ('[{"apdu": "00D6000005AABB"}]', "step 1, apdu: Lc says 5 data bytes but 2 follow"),
        ('[{"apdu": "00A40000", "expect": "90"}]', "step 1, expect: expected `str` of length >= 4"),
        ('[{"apdu": "00A40000", "expect": "90G0"}]', "step 1, expect: must be four hex digits"),
        ('[{"apdu": "00A40000", "response": "ABC"}]', "step 1, response: must be hexadecimal"),
        ('[{"apdu": "00A40000", "sw": "9000"}]', "step 1: object contains unknown field `sw`"),
        ('[{"expect": "9000"}]', "step 1: object missing required field `apdu`"),
    ],
)
def test_a_malformed_script_is_named_by_step_and_field(script: str, says: str) -> None:
    with pytest.raises(ScriptError, match=f"^chip script: .*{_escaped(says)}"):
        parse_script(script.encode())


def _escaped(text: str) -> str:
    return re.escape(text)


def test_status_patterns() -> None:
    pattern = StatusPattern.parse("9000|61xx|63CX")
    assert [pattern.matches(sw) for sw in (0x9000, 0x6110, 0x61FF, 0x63C2, 0x6300, 0x6A82)] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_an_answer_is_judged_without_repeating_its_data() -> None:
    step = Step(bytes.fromhex(READ), StatusPattern.parse("9000"), response=bytes.fromhex("DEADBEEF"))
    assert step.judge(bytes.fromhex("DEADBEEF9000")) is None
    assert step.judge(bytes.fromhex("6A82")) == "the chip answered 6A82, expected 9000"
    assert step.judge(b"\x90") == "the chip gave no status word"
    wrong = step.judge(bytes.fromhex("CAFEBABE9000"))
    assert wrong == "the chip's data (4 bytes) differs from the expected response (4 bytes)"
    assert "CAFE" not in wrong.upper() and "DEAD" not in wrong.upper()


def _job(chip: object) -> dict[str, object]:
    uri = "data:image/png;base64," + base64.b64encode(card_png("CHIP")).decode()
    return {"ref": "chip-1", "front": uri, "chip": chip}


def test_submission_takes_a_script_as_a_list_or_as_text_and_other_text_as_it_is() -> None:
    script = [{"apdu": SELECT}, {"apdu": WRITE}]
    as_list = parse_job(_job(script)).content.chip
    as_text = parse_job(_job(json.dumps(script))).content.chip
    assert as_list is not None and as_text is not None
    assert [s.apdu for s in parse_script(as_list)] == [s.apdu for s in parse_script(as_text)]
    assert (
        parse_job(_job("opaque data for the encoding program")).content.chip == b"opaque data for the encoding program"
    )
    assert parse_job(_job(None)).content.chip is None


@pytest.mark.parametrize(
    ("chip", "says"),
    [
        ([{"apdu": SELECT}, {"apdu": "00D6000005AABB"}], "step 2, apdu: Lc says 5 data bytes but 2 follow"),
        ('[{"apdu": "00D60000083171010100010001"}, {"apdu": "00D6000008317101"}]', "step 2, apdu: Lc says 8"),
        ([], "the list is empty"),
        ([{"apdu": SELECT, "expect": "OK"}], "step 1, expect"),
    ],
)
def test_submission_refuses_a_malformed_script_naming_the_step_never_the_data(chip: object, says: str) -> None:
    with pytest.raises(PrintdError) as caught:
        parse_job(_job(chip))
    assert caught.value.code == "job.invalid"
    message = str(caught.value)
    assert message.startswith("job chip-1: chip: chip script: ") and says in message
    assert "317101" not in message and "A0000000871001" not in message  # payload bytes are personal data
