"""The vendored front-end files: fetch each pinned npm package with ``npm pack``, check it, copy its files here.

    python printd/web/static/vendor/vendor.py           # check: the files here are the pinned ones (exit 1 if not)
    python printd/web/static/vendor/vendor.py --fetch   # fetch the pinned versions again and write them here

Either way each file's sha256 must equal the one pinned below (and in README.md beside this script), and a fetched
tarball must match the registry's integrity (sha512). To move to a new version, change ``PACKAGES`` (version,
integrity, files and their sha256) and README.md together, then run with ``--fetch``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity of the tarball
    files: dict[str, str]  # path in the tarball (under package/) -> sha256 of its content


PACKAGES = (
    Package(
        "htmx.org",
        "2.0.11",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        {
            "dist/htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
            "LICENSE": "d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38",
        },
    ),
    Package(
        "htmx-ext-sse",
        "2.2.4",
        "sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ==",
        {
            "dist/sse.min.js": "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136",
            "LICENSE": "a17d224ce9afdc21ec9491b76a2f5d036d19aa641ac4f85ca29c21f9f7e54fdf",
        },
    ),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def target(package: Package, path: str) -> Path:
    """``dist/htmx.min.js`` of htmx.org → ``htmx.org/htmx.min.js`` beside this script."""
    return HERE / package.name / Path(path).name


def check() -> list[str]:
    """What differs from the pins: one sentence per file missing or changed."""
    problems = []
    for package in PACKAGES:
        for path, digest in package.files.items():
            file = target(package, path)
            if not file.exists():
                problems.append(f"{file.relative_to(HERE)} is missing; run this script with --fetch")
            elif sha256(file.read_bytes()) != digest:
                problems.append(f"{file.relative_to(HERE)} is not {package.name}@{package.version}'s; run with --fetch")
    return problems


def fetch(package: Package, scratch: Path) -> None:
    spec = f"{package.name}@{package.version}"
    result = subprocess.run(
        ["npm", "pack", "--silent", spec], cwd=scratch, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"npm pack {spec} failed: {result.stderr.strip()[-500:]}; check the network and npm")
    tarball = scratch / result.stdout.strip().splitlines()[-1]
    algorithm, _, expected = package.integrity.partition("-")
    found = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if found != expected:
        raise SystemExit(f"{spec}: the tarball's {algorithm} is not the pinned integrity; nothing was written")
    contents: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for path, digest in package.files.items():
            member = archive.extractfile(f"package/{path}")
            if member is None:
                raise SystemExit(f"{spec}: the tarball has no {path}; nothing was written")
            data = member.read()
            if sha256(data) != digest:
                raise SystemExit(f"{spec}: {path} is not the pinned file (sha256 differs); nothing was written")
            contents[path] = data
    for path, data in contents.items():
        file = target(package, path)
        file.parent.mkdir(exist_ok=True)
        file.write_bytes(data)
        print(f"{file.relative_to(HERE)}: {spec}, sha256 {package.files[path]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fetch", action="store_true", help="fetch the pinned packages with npm pack and write them")
    args = parser.parse_args(argv)
    if args.fetch:
        with tempfile.TemporaryDirectory() as scratch:
            for package in PACKAGES:
                fetch(package, Path(scratch))
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("every vendored file is the pinned one")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
