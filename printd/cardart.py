"""Demonstration card faces: an ID-card layout drawn with Pillow from made-up data (never real people)."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

CARD_SIZE = (1016, 648)  # ID-1 landscape at 300 dpi, as the printer's panels are laid out

_GIVEN = ["Ayu", "Budi", "Citra", "Dewi", "Eko", "Fajar", "Gita", "Hadi", "Indah", "Joko", "Kartika", "Lestari"]
_FAMILY = ["Pratama", "Saputra", "Wijaya", "Lestari", "Nugroho", "Santoso", "Kusuma", "Hidayat", "Siregar"]


@dataclass(frozen=True)
class FakeResident:
    nik: str
    name: str
    birth: str


def fake_resident(rng: random.Random) -> FakeResident:
    nik = "99" + "".join(str(rng.randrange(10)) for _ in range(14))  # province code 99 does not exist
    name = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}".upper()
    birth = f"{rng.randrange(1, 29):02d}-{rng.randrange(1, 13):02d}-{rng.randrange(1950, 2009)}"
    return FakeResident(nik, name, birth)


def front_face(resident: FakeResident) -> bytes:
    image = Image.new("RGB", CARD_SIZE, (196, 226, 246))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=34)
    small = ImageFont.load_default(size=26)
    draw.rectangle((0, 0, CARD_SIZE[0], 70), fill=(30, 90, 160))
    draw.text((30, 16), "DEMONSTRATION CARD - NOT AN IDENTITY DOCUMENT", font=small, fill="white")
    draw.text((30, 100), f"NIK   {resident.nik}", font=font, fill="black")
    draw.text((30, 170), f"Nama  {resident.name}", font=font, fill="black")
    draw.text((30, 240), f"Lahir {resident.birth}", font=font, fill="black")
    draw.rectangle((760, 110, 970, 390), fill=(235, 235, 235), outline="black", width=4)
    draw.ellipse((815, 150, 915, 250), fill=(120, 120, 120))
    draw.rectangle((800, 260, 930, 380), fill=(120, 120, 120))
    for i in range(60):  # a barcode-like strip for the K panel
        if (i * 7919 + len(resident.nik)) % 3:
            draw.rectangle((30 + i * 9, 560, 34 + i * 9, 620), fill="black")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()
