"""open_regular: the permission bits the kernel would apply to a caller, decided on what is opened, on real files."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.file_access import MAX_LINKS, NotRegularFileError, Reader, ReadForbiddenError, open_regular

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="opens files whose bits deny their owner (CI runs as root)")
STRANGER = Reader(uid=4_000_001, gids=frozenset({4_000_001}))  # owns nothing here and is in none of its groups
ROOT = Reader(uid=0, gids=frozenset())


def outcome(reader: Reader | None, path: Path | str, reached: Path | None = None) -> str:
    """ "read" with the file's content checked, "forbidden", or the name of the error the open raised."""
    try:
        fd = open_regular(path, reader=reader, reached=reached)
    except ReadForbiddenError:
        return "forbidden"
    except OSError as exc:
        return type(exc).__name__
    with open(fd, "rb") as file:
        assert file.read() == b"png"
    return "read"


@pytest.fixture
def top() -> Iterator[Path]:
    """A directory anyone may search, in the system's temp directory (pytest's own tmp_path is its owner's only)."""
    path = Path(tempfile.mkdtemp(prefix="printd-access-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def tree(top: Path) -> Path:
    (top / "faces").mkdir(mode=0o755)
    face = top / "faces" / "front.png"
    face.write_bytes(b"png")
    face.chmod(0o644)
    return face


def test_other_bits_decide_for_a_stranger(tree: Path) -> None:
    assert outcome(STRANGER, tree) == "read"
    tree.chmod(0o640)
    assert outcome(STRANGER, tree) == "forbidden"
    tree.chmod(0o644)
    tree.parent.chmod(0o750)  # the file is readable, the directory not searchable
    assert outcome(STRANGER, tree) == "forbidden"


@needs_root
def test_owner_and_group_bits(tree: Path) -> None:
    st = tree.stat()
    owner = Reader(uid=st.st_uid, gids=frozenset())
    member = Reader(uid=4_000_002, gids=frozenset({st.st_gid}))
    tree.chmod(0o040)  # group may read, the owner may not: the owner's bits apply to the owner
    if st.st_uid != 0:
        assert outcome(owner, tree) == "forbidden"
    assert (outcome(member, tree), outcome(STRANGER, tree)) == ("read", "forbidden")
    tree.chmod(0o400)
    assert (outcome(owner, tree), outcome(member, tree)) == ("read", "forbidden")


def test_a_link_does_not_open_a_closed_directory(tree: Path, top: Path) -> None:
    tree.parent.chmod(0o700)
    link = top / "link.png"
    link.symlink_to(tree)
    assert outcome(STRANGER, link) == "forbidden"
    tree.parent.chmod(0o755)
    assert outcome(STRANGER, link) == "read"
    closed = top / "closed"
    closed.mkdir(mode=0o700)
    (closed / "via.png").symlink_to(tree)
    assert outcome(STRANGER, closed / "via.png") == "forbidden"  # the link's own directory must be searchable too


def test_links_relative_absolute_and_dot_dot(tree: Path, top: Path) -> None:
    (top / "up").mkdir(mode=0o755)
    (top / "up" / "rel.png").symlink_to("../faces/front.png")  # relative: from the link's own directory
    (top / "up" / "abs.png").symlink_to(tree)  # absolute: from /
    (top / "up" / "dir").symlink_to("../faces")
    for name in ("up/rel.png", "up/abs.png", "up/dir/front.png", "up/../faces/./front.png", "up/dir/../up/rel.png"):
        assert outcome(STRANGER, top / name) == "read", name
    tree.parent.chmod(0o700)  # ".." and links lead through it: it is checked each time
    for name in ("up/rel.png", "up/abs.png", "up/dir/front.png", "up/../faces/front.png"):
        assert outcome(STRANGER, top / name) == "forbidden", name


def test_link_loops_and_dangling_links(top: Path) -> None:
    (top / "a").symlink_to("b")
    (top / "b").symlink_to("a")
    assert outcome(ROOT, top / "a") == "OSError"  # ELOOP after MAX_LINKS links, as the kernel does
    chain = top / "face.png"
    chain.write_bytes(b"png")
    for n in range(MAX_LINKS):
        (top / f"l{n}").symlink_to(f"l{n + 1}" if n + 1 < MAX_LINKS else "face.png")
    assert outcome(STRANGER, top / "l0") == "read"  # exactly the limit: still followed
    (top / "dangling").symlink_to("nowhere.png")
    assert outcome(STRANGER, top / "dangling") == "FileNotFoundError"


def test_only_regular_files_are_opened_and_never_block(top: Path) -> None:
    os.mkfifo(top / "pipe.png", 0o644)
    began = time.monotonic()
    for reader in (STRANGER, ROOT, None):
        assert outcome(reader, top / "pipe.png") == "NotRegularFileError"
        assert outcome(reader, "/dev/zero") == "NotRegularFileError"
        assert outcome(reader, top) == "IsADirectoryError"
    assert time.monotonic() - began < 5
    (top / "file").write_bytes(b"png")
    assert outcome(ROOT, top / "file" / "x.png") == "NotADirectoryError"
    with pytest.raises(NotRegularFileError):
        open_regular(top / "pipe.png", reader=None)


@needs_root
def test_root_reads_anything_and_a_missing_file_is_left_to_the_read(tree: Path) -> None:
    tree.chmod(0o000)
    tree.parent.chmod(0o000)
    assert outcome(ROOT, tree) == "read"
    tree.parent.chmod(0o755)
    assert outcome(STRANGER, tree.parent / "missing.png") == "FileNotFoundError"  # the stranger could see that
    tree.parent.chmod(0o700)
    assert outcome(STRANGER, tree.parent / "missing.png") == "forbidden"  # behind a closed directory: not even that


def test_a_directory_the_reader_reached_is_not_checked(tree: Path) -> None:
    tree.parent.chmod(0o730)  # like the spool: staff may drop files but not list it; a stranger is not in its group
    assert outcome(STRANGER, tree) == "forbidden"
    assert outcome(STRANGER, tree, reached=tree.parent) == "read"  # its job file is there, so it got there
    assert outcome(STRANGER, "front.png", reached=tree.parent) == "read"  # relative: from there
    assert outcome(STRANGER, "../faces/front.png", reached=tree.parent) == "read"  # and those above it
    tree.chmod(0o600)
    assert outcome(STRANGER, "front.png", reached=tree.parent) == "forbidden"  # the file itself always is
    with pytest.raises(ValueError, match="relative"):
        open_regular("front.png", reader=STRANGER)


def test_a_users_groups_come_from_the_user_database() -> None:
    me = Reader.of(os.getuid(), os.getgid())
    assert me.uid == os.getuid() and os.getgid() in me.gids
    assert set(os.getgroups()) <= me.gids | {os.getegid()}
