"""The names documents give to spoil categories and stock movements, in Indonesian and English."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from printd.reports.model import SPOIL_CATEGORIES
from printd.reports.pdf.words import Lang

CATEGORY_NAMES: dict[Lang, dict[str, str]] = {
    "id": {
        "print_failed": "Gagal cetak",
        "encode_failed": "Gagal encode",
        "damaged": "Rusak fisik",
        "data_changed": "Perubahan elemen data",
        "test_print": "Cetak uji",
    },
    "en": {
        "print_failed": "Print failed",
        "encode_failed": "Chip encoding failed",
        "damaged": "Physically damaged",
        "data_changed": "Data element changed",
        "test_print": "Test print",
    },
}

MOVEMENT_NAMES: dict[Lang, dict[str, str]] = {
    "id": {
        "opening": "Stok awal",
        "received": "Diterima",
        "transferred_in": "Mutasi masuk",
        "transferred_out": "Mutasi keluar",
        "issued": "Dicetak",
        "spoiled": "Rusak/invalid",
        "in_doubt": "Belum pasti",
        "adjusted": "Penyesuaian",
        "closing": "Stok akhir",
        "used": "Jumlah terpakai",
        "total": "Jumlah",
    },
    "en": {
        "opening": "Opening stock",
        "received": "Received",
        "transferred_in": "Transferred in",
        "transferred_out": "Transferred out",
        "issued": "Issued",
        "spoiled": "Spoiled",
        "in_doubt": "In doubt",
        "adjusted": "Adjusted",
        "closing": "Closing stock",
        "used": "Total used",
        "total": "Total",
    },
}


def category_name(category: str, lang: Lang = "id") -> str:
    return CATEGORY_NAMES[lang].get(category, category)


def categories(spoils: Iterable[Mapping[str, int]]) -> list[str]:
    """Every official category in order, then any other category the counts hold, so totals add up."""
    extra = sorted({c for counts in spoils for c in counts} - set(SPOIL_CATEGORIES))
    return [*SPOIL_CATEGORIES, *extra]
