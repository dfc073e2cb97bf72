"""debian/ agrees with the project: the pinned Python packages cover pyproject's dependencies and satisfy their bounds,
the version is the same, the commands linked into /usr/bin are the project's, the libraries printd loads at run time
are Depends, and the debconf question is translated. (tests/test_debian_package.py builds and installs the package.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.components import require_component
from tests.daemon_harness import ROOT

DEBIAN = ROOT / "debian"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (DEBIAN / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"debian/requirements.txt: {line!r} is not pinned with =="
            found[canonicalize_name(name)] = version.strip()
    return found


def control_field(field: str) -> list[str]:
    text = (DEBIAN / "control").read_text()
    match = re.search(rf"^{field}:(.*?)(?=^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, field
    return [item.strip().split()[0] for item in match.group(1).split(",") if item.strip()]


@pytest.mark.parametrize("text", PROJECT["dependencies"])
def test_every_dependency_is_pinned_within_its_bounds(text: str) -> None:
    requirement = Requirement(text)
    pinned = pins()
    for name in [requirement.name, *(f"{requirement.name}-{extra}" for extra in requirement.extras)]:
        assert canonicalize_name(name) in pinned, f"{name} is not in debian/requirements.txt: make deb-requirements"
    assert requirement.specifier.contains(pinned[canonicalize_name(requirement.name)]), requirement


def test_the_package_version_is_the_projects() -> None:
    first = (DEBIAN / "changelog").read_text().splitlines()[0]
    assert re.fullmatch(rf"printd \({re.escape(PROJECT['version'])}\) \w+; urgency=\w+", first), first


def test_usr_bin_links_the_commands_of_a_station() -> None:
    links = dict(line.split()[::-1] for line in (DEBIAN / "printd.links").read_text().splitlines() if line.strip())
    assert links == {f"usr/bin/{name}": f"usr/lib/printd/bin/{name}" for name in ("printd", "printctl", "printd-web")}
    assert set(links.values()) <= {f"usr/lib/printd/bin/{name}" for name in PROJECT["scripts"]}


def test_the_libraries_loaded_at_run_time_are_depends() -> None:
    # pyusb and pyscard load these with dlopen: dpkg-shlibdeps cannot see them
    depends = control_field("Depends")
    assert {"libusb-1.0-0", "libpcsclite1", "python3.11", "fonts-dejavu-core", "procps"} <= set(depends)
    # procps: the unit's ExecReload=/bin/kill (a minimal Debian has none; the container test found it)
    assert "ExecReload=/bin/kill -HUP $MAINPID" in (ROOT / "systemd" / "printd.service").read_text()


def test_the_debconf_question_is_translated_into_indonesian() -> None:
    require_component("msgfmt", None if shutil.which("msgfmt") else "msgfmt is missing: apt-get install gettext")
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(DEBIAN / "po" / "id.po")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr  # none fuzzy or untranslated
