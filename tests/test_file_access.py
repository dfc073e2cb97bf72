"""Reader.may_read: the permission bits the kernel would apply to a caller, on real files and directories."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.file_access import Reader

STRANGER = Reader(uid=4_000_001, gids=frozenset({4_000_001}))  # owns nothing here and is in none of its groups


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
    assert STRANGER.may_read(tree)
    tree.chmod(0o640)
    assert not STRANGER.may_read(tree)
    tree.chmod(0o644)
    tree.parent.chmod(0o750)  # the file is readable, the directory not searchable
    assert not STRANGER.may_read(tree)


def test_owner_and_group_bits(tree: Path) -> None:
    st = tree.stat()
    owner = Reader(uid=st.st_uid, gids=frozenset())
    member = Reader(uid=4_000_002, gids=frozenset({st.st_gid}))
    tree.chmod(0o040)  # group may read, the owner may not: the owner's bits apply to the owner
    if st.st_uid != 0:
        assert not owner.may_read(tree)
    assert member.may_read(tree) and not STRANGER.may_read(tree)
    tree.chmod(0o400)
    assert owner.may_read(tree) and not member.may_read(tree)


def test_a_link_does_not_open_a_closed_directory(tree: Path, top: Path) -> None:
    tree.parent.chmod(0o700)
    link = top / "link.png"
    link.symlink_to(tree)
    assert not STRANGER.may_read(link)
    tree.parent.chmod(0o755)
    assert STRANGER.may_read(link)
    closed = top / "closed"
    closed.mkdir(mode=0o700)
    (closed / "via.png").symlink_to(tree)
    assert not STRANGER.may_read(closed / "via.png")  # the link's own directory must be searchable too


def test_root_reads_anything_and_a_missing_file_is_left_to_the_read(tree: Path) -> None:
    tree.chmod(0o000)
    assert Reader(uid=0, gids=frozenset()).may_read(tree)
    assert STRANGER.may_read(tree.parent / "missing.png")  # the stranger can see it is missing: the read says so
    tree.parent.chmod(0o700)
    assert not STRANGER.may_read(tree.parent / "missing.png")  # behind a closed directory: not even that


def test_a_directory_the_reader_reached_is_not_checked(tree: Path) -> None:
    tree.parent.chmod(0o730)  # like the spool: staff may drop files but not list it; a stranger is not in its group
    assert not STRANGER.may_read(tree)
    assert STRANGER.may_read(tree, reached=tree.parent)  # its job file is there, so it got there


def test_a_users_groups_come_from_the_user_database() -> None:
    me = Reader.of(os.getuid(), os.getgid())
    assert me.uid == os.getuid() and os.getgid() in me.gids
    assert set(os.getgroups()) <= me.gids | {os.getegid()}
