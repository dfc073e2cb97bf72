"""The throwaway PostgreSQL cluster the store's PostgreSQL tests run on: private, durable, and it survives a kill."""

from __future__ import annotations

import stat

import pytest

from tests.postgres import Cluster


def test_a_private_cluster_takes_commits_over_its_own_socket_only(postgres: Cluster) -> None:
    import psycopg

    url = postgres.create_database("smoke")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE ledger_smoke (id bigint PRIMARY KEY, kind text NOT NULL)")
        conn.execute("INSERT INTO ledger_smoke VALUES (1, 'received')")
        conn.commit()
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('listen_addresses', 'fsync', 'synchronous_commit')"
            ).fetchall()
        )
    assert settings == {"listen_addresses": "", "fsync": "on", "synchronous_commit": "on"}
    assert stat.S_IMODE(postgres.socket_dir.stat().st_mode) == 0o700
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT kind FROM ledger_smoke").fetchall() == [("received",)]


def test_a_killed_server_keeps_every_commit(postgres: Cluster) -> None:
    import psycopg

    url = postgres.create_database("killed")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (n int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
    postgres.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    postgres.start()  # crash recovery replays the WAL
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (100,)
