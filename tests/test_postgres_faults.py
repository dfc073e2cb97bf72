"""Losing PostgreSQL is a storage fault that loses nothing: while the server is stopped, killed or cut off, nothing
is claimed and every write is refused with store.unreachable; an outcome in hand is booked once when it is back,
a commit whose confirmation was lost is never booked twice, and the store recovers by itself.

These tests stop, kill and cut off their server: they run on a cluster of their own (listening on 127.0.0.1 too,
for the proxy that cuts connections), never on the one the other store tests share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import structlog
from psycopg.conninfo import conninfo_to_dict

from drivers.base import CardResult, Counters, Outcome, SpoilCategory
from printd.errors import PrintdError
from printd.jobs import JobState
from printd.store import Claim
from printd.store.core import UNCONFIRMED_CLAIM
from printd.store.health import StorageUnavailableError
from printd.store.postgres import CONNECT_OPTIONS, PostgresStore
from tests.conftest import assert_ledger_consistent, card_png, new_job, raw_sql
from tests.postgres import Cluster
from tests.tcp_proxy import TcpProxy

HOLDER = "Ni Made Ayu Lestari"
"""A card holder's name: personal data that no fault message or log line may carry."""
SECRET = "Rinjani-3726-secret"
"""The password in the store's passfile: libpq reads it when it connects; no message or log line may show it."""
RECOVERY_SECONDS = 5.0
"""How soon after the server answers again the probe must have noticed (it retries at least every second)."""

PNG = card_png()
PRINTED = CardResult(Outcome.PRINTED, chip_uid="04A1B2", counters_after=Counters(cards_fed=1))


@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    path = tmp_path / "pgpass"
    path.write_text(f"*:*:*:*:{SECRET}\n")
    path.chmod(0o600)
    return path


class Stores:
    """Opens stores of station "test", each on a fresh database of the cluster, over its socket or through a
    proxy, with the passfile."""

    def __init__(self, cluster: Cluster, passfile: Path) -> None:
        self.cluster = cluster
        self.passfile = passfile
        self.opened: list[PostgresStore] = []

    def open(self, via: TcpProxy | None = None) -> PostgresStore:
        database = str(conninfo_to_dict(self.cluster.fresh_database())["dbname"])
        url = self.cluster.url(database) if via is None else f"postgresql://printd_test@127.0.0.1:{via.port}/{database}"
        store = PostgresStore(with_passfile(url, self.passfile), station="test")
        self.opened.append(store)
        return store


def with_passfile(url: str, passfile: Path) -> str:
    return f"{url}{'&' if '?' in url else '?'}passfile={quote(str(passfile), safe='/')}"


@pytest.fixture
def stores(server: Cluster, passfile: Path) -> Iterator[Stores]:
    """Every store a test opens is, after it, available again and consistent, and closed."""
    made = Stores(server, passfile)
    yield made
    for store in made.opened:
        assert store.health.wait_available(RECOVERY_SECONDS), "the store did not recover after the test"
        assert_ledger_consistent(store)
        store.close()


@pytest.fixture
def proxy(server: Cluster) -> Iterator[TcpProxy]:
    assert server.tcp_port is not None
    with TcpProxy(("127.0.0.1", server.tcp_port)) as made:
        yield made


def stocked(store: PostgresStore, jobs: int = 2) -> None:
    """Blanks on hand and ``jobs`` queued jobs, each naming its holder."""
    store.receive_stock(10, "DO-1", "tester")
    for n in range(jobs):
        store.submit(new_job(f"K-{n}", PNG, holder=HOLDER), "tester")


def claimed(store: PostgresStore, printer: str = "p1") -> Claim:
    claim = store.claim_next(printer, Counters(cards_fed=0))
    assert claim is not None
    return claim


def assert_issued_once(store: PostgresStore, claim: Claim) -> None:
    """The claimed card is booked as issued by one ledger event, and it is the only card issued."""
    assert ledger_rows(store, claim.attempt.id) == [("issued",)]
    assert store.balance().issued == 1


def ledger_rows(store: PostgresStore, attempt_id: int) -> list[tuple[object, ...]]:
    return raw_sql(store, f"SELECT kind FROM ledger WHERE attempt_id = {attempt_id}")


def attempt_row(store: PostgresStore, attempt_id: int) -> tuple[object, ...]:
    (row,) = raw_sql(store, f"SELECT outcome, detail FROM attempts WHERE id = {attempt_id}")
    return row


def said(error: PrintdError) -> str:
    """All an error tells its caller: code, message and details."""
    return repr(error.as_dict())


def unreachable(call: Callable[[], object]) -> StorageUnavailableError:
    """The store.unreachable error ``call`` raises (it must not return: no claim while the server is away)."""
    with pytest.raises(StorageUnavailableError) as raised:
        call()
    assert raised.value.code == "store.unreachable"
    return raised.value


def recover(store: PostgresStore) -> float:
    """Seconds until the store's own probe finds the server again."""
    started = time.monotonic()
    assert store.health.wait_available(RECOVERY_SECONDS * 2)
    return time.monotonic() - started


# ---- the server stopped or killed ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_server_gone_is_a_storage_fault_that_clears_by_itself(how: str, server: Cluster, stores: Stores) -> None:
    store = stores.open()
    stocked(store)
    in_hand = claimed(store)
    with structlog.testing.capture_logs() as logs:
        if how == "stopped":
            server.stop("fast")
        else:
            server.kill()
        errors = [
            unreachable(lambda: store.claim_next("p2", Counters(cards_fed=0))),
            unreachable(lambda: store.settle_attempt(in_hand.attempt, PRINTED)),
            unreachable(lambda: store.submit(new_job("K-new", PNG, holder=HOLDER), "tester")),
            unreachable(lambda: store.claim_next("p2", Counters(cards_fed=0))),
        ]
        fault = store.health.fault
        assert fault is not None and fault.code == "store.unreachable" and fault.engine == "postgresql"
        assert store.health.as_dict()["available"] is False
        server.start()
        assert recover(store) < RECOVERY_SECONDS
    for error in errors:
        assert store.where in str(error) and "printd_" in store.where  # the database and the server named
        assert HOLDER not in said(error) and SECRET not in said(error)
    logged = repr(logs)
    assert "store.unavailable" in logged and "store.recovered" in logged
    assert HOLDER not in logged and SECRET not in logged
    assert store.health.fault is None
    store.settle_attempt(in_hand.attempt, PRINTED)
    again = claimed(store, "p2")
    assert again.job.ref == "K-1" and again.attempt.id != in_hand.attempt.id
    assert [job.ref for job in store.list_jobs()] == ["K-1", "K-0"]  # the refused submission left nothing
    assert store.balance().issued == 1


def test_an_outcome_in_hand_is_booked_once_when_the_server_is_back(server: Cluster, stores: Stores) -> None:
    store = stores.open()
    stocked(store, jobs=1)
    in_hand = claimed(store)
    server.kill()
    for _ in range(3):  # the station offers it again and again while the server is away
        unreachable(lambda: store.settle_attempt(in_hand.attempt, PRINTED))
    server.start()
    recover(store)
    assert attempt_row(store, in_hand.attempt.id) == (None, None)  # still open: nothing was booked
    assert store.settle_attempt(in_hand.attempt, PRINTED).state is JobState.DONE
    assert_issued_once(store, in_hand)
    with pytest.raises(PrintdError, match="already settled"):  # once booked, a second settlement is refused
        store.settle_attempt(in_hand.attempt, PRINTED)
    assert_issued_once(store, in_hand)
    assert store.balance().on_hand == 9


# ---- connections cut on the way ------------------------------------------------------------------------


def test_a_connection_cut_while_idle_is_replaced_on_next_use(proxy: TcpProxy, stores: Stores) -> None:
    store = stores.open(via=proxy)
    stocked(store)
    assert store.get_job("K-0").state is JobState.QUEUED  # the readers' connection is open too
    assert proxy.cut() >= 2
    claim = claimed(store)
    assert store.get_job(claim.job.id).state is JobState.PRINTING
    assert store.health.fault is None
    assert proxy.live >= 2  # both connections opened anew


def test_a_connection_cut_between_claim_and_settle_loses_nothing(proxy: TcpProxy, stores: Stores) -> None:
    store = stores.open(via=proxy)
    stocked(store, jobs=1)
    in_hand = claimed(store)
    assert proxy.cut() >= 1
    assert store.settle_attempt(in_hand.attempt, PRINTED).state is JobState.DONE
    assert_issued_once(store, in_hand)


def test_a_server_that_stops_answering_holds_a_printer_only_until_the_connect_timeout(
    proxy: TcpProxy, stores: Stores
) -> None:
    store = stores.open(via=proxy)
    stocked(store)
    proxy.blackhole()
    proxy.cut()
    started = time.monotonic()
    error = unreachable(lambda: store.claim_next("p1", Counters(cards_fed=0)))
    assert time.monotonic() - started < float(CONNECT_OPTIONS["connect_timeout"]) + 3
    assert f"127.0.0.1:{proxy.port}" in str(error)
    proxy.refuse()
    unreachable(lambda: store.claim_next("p1", Counters(cards_fed=0)))
    proxy.resume()
    recover(store)
    assert claimed(store).job.ref == "K-0"


# ---- a commit that went through, its confirmation lost -------------------------------------------------


def test_a_settlement_retried_after_its_lost_confirmation_is_not_booked_twice(
    stores: Stores,
) -> None:
    store = stores.open()
    stocked(store, jobs=1)
    in_hand = claimed(store)
    store.settle_attempt(in_hand.attempt, PRINTED)
    store._unconfirmed_settles.add(in_hand.attempt.id)  # as if the commit had failed yet gone through
    assert store.settle_attempt(in_hand.attempt, PRINTED).state is JobState.DONE
    assert_issued_once(store, in_hand)
    store._unconfirmed_settles.add(in_hand.attempt.id)
    spoiled = CardResult(Outcome.SPOILED, SpoilCategory.PRINT_FAILED, "head error")
    with pytest.raises(PrintdError, match="already settled"):  # another outcome is no retry: refused
        store.settle_attempt(in_hand.attempt, spoiled)
    assert_issued_once(store, in_hand)
    assert store.balance().spoiled == 0


def test_a_claim_whose_confirmation_was_lost_is_settled_not_fed_by_the_next_claim(
    stores: Stores,
) -> None:
    store = stores.open()
    stocked(store)
    first = claimed(store)
    store._unconfirmed_claims.add("p1")  # as if the claim's commit had failed yet gone through
    assert_unconfirmed_claim_settled(store, first.attempt.id, claimed(store))


def assert_unconfirmed_claim_settled(store: PostgresStore, first: int, second: Claim) -> None:
    """Attempt ``first``, a claim the printer never heard of, was closed as not fed; ``second`` is a new one."""
    assert second.attempt.id != first
    assert attempt_row(store, first) == ("not_fed", UNCONFIRMED_CLAIM)
    assert ledger_rows(store, first) == []  # no blank booked for a card never fed
    assert [a.id for a in store.open_attempts("p1")] == [second.attempt.id]
    balance = store.balance()
    assert (balance.issued, balance.spoiled, balance.in_doubt, balance.on_hand) == (0, 0, 0, 10)


def commit_reply_lost(proxy: TcpProxy, store: PostgresStore, write: Callable[[], object]) -> None:
    """``write`` sends its COMMIT, and the connection is cut before the reply: the write fails as unreachable
    though the server committed it; then the store finds the server again."""
    proxy.lose_reply_to(b"COMMIT")
    unreachable(write)
    assert proxy.reply_lost.wait(5)  # the server answered the COMMIT: it is done
    recover(store)


def test_a_settlement_whose_commit_reply_is_lost_is_booked_once(proxy: TcpProxy, stores: Stores) -> None:
    store = stores.open(via=proxy)
    stocked(store, jobs=1)
    in_hand = claimed(store)
    commit_reply_lost(proxy, store, lambda: store.settle_attempt(in_hand.attempt, PRINTED))
    assert attempt_row(store, in_hand.attempt.id)[0] == "printed"  # the commit went through
    assert store.settle_attempt(in_hand.attempt, PRINTED).state is JobState.DONE  # the retry books nothing
    assert_issued_once(store, in_hand)


def test_a_claim_whose_commit_reply_is_lost_is_settled_not_fed_by_the_next_claim(
    proxy: TcpProxy, stores: Stores
) -> None:
    store = stores.open(via=proxy)
    stocked(store)
    commit_reply_lost(proxy, store, lambda: store.claim_next("p1", Counters(cards_fed=0)))
    (first,) = store.open_attempts("p1")  # the claim went through, unknown to the printer
    assert_unconfirmed_claim_settled(store, first.id, claimed(store))


# ---- opening --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://printd_test:{SECRET}@127.0.0.1:5432/printd",
        f"postgresql://printd_test@127.0.0.1:5432/printd?password={SECRET}",
        f"host=127.0.0.1 dbname=printd user=printd_test password={SECRET}",
    ],
    ids=["uri", "uri-query", "keywords"],
)
def test_a_url_holding_a_password_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(PrintdError) as raised:
        PostgresStore(url)
    assert raised.value.code == "config.invalid"
    assert "passfile" in str(raised.value)
    assert SECRET not in said(raised.value)


def test_an_unreachable_server_at_open_is_named(server: Cluster, proxy: TcpProxy, passfile: Path) -> None:
    proxy.refuse()
    refused = with_passfile(f"postgresql://printd_test@127.0.0.1:{proxy.port}/printd_office", passfile)
    missing = with_passfile(server.url("no_such_database"), passfile)
    named = [
        (refused, f"PostgreSQL database printd_office on 127.0.0.1:{proxy.port}"),
        (missing, f"PostgreSQL database no_such_database on {server.socket_dir}"),
    ]
    for url, server_named in named:
        with pytest.raises(PrintdError) as raised:
            PostgresStore(url)
        assert raised.value.code == "store.unreachable"
        assert server_named in str(raised.value) and "check [station] database" in str(raised.value)
        assert SECRET not in said(raised.value)
    assert proxy.accepted >= 1  # the refusal was the proxy's, not a port nobody listened on
