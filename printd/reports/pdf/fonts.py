"""The DejaVu Sans fonts every document embeds, found on the system when a document is made."""

from __future__ import annotations

from pathlib import Path

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian and Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"


class MissingFontsError(RuntimeError):
    """The DejaVu Sans fonts are not installed."""


def font_files(dirs: tuple[Path, ...] = FONT_DIRS) -> tuple[Path, Path]:
    """The regular and bold DejaVu Sans font files, from the first folder that holds both."""
    for folder in dirs:
        regular, bold = folder / REGULAR, folder / BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    looked = ", ".join(str(d) for d in dirs)
    raise MissingFontsError(
        f"PDF documents need the fonts {REGULAR} and {BOLD}, not found in {looked}: "
        "install the Debian package fonts-dejavu-core (apt-get install fonts-dejavu-core)"
    )
