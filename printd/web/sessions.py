"""Dashboard sessions, in memory only: who is signed in, the session's CSRF token, its flash messages, its end.

A session is a state machine, given as a table (``TRANSITIONS``)::

    pending ──sign_in──▶ signed_in ──sign_out / expire──▶ ended
       └──────────────expire──────────────────────────────▲

A *pending* session is made for the login form only, so that form has a CSRF token too; signing in never promotes
it but makes a new session (rule 1).

Rule 1: a token is 256 random bits; signing in makes a session with a new token and ends the pending one, so a
token planted before the login is worthless after it (no session fixation).
Rule 2: a session idle for longer than its lifetime is ended when it is next looked up; nothing revives an ended
session, and a lookup of an ended session finds nothing.
Rule 3: a POST is done only with the session's own CSRF token, compared in constant time (``csrf_ok``).
Rule 4: memory is bounded: at most ``MAX_PENDING`` pending and ``MAX_SIGNED_IN`` signed-in sessions; beyond that the
longest idle goes first.

The account (name, role, language) is what printd's ``users.authenticate`` answered at sign-in; printd decides
every action again by the account's role (``on_behalf_of``), so a role changed since only hides or shows buttons.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class State(enum.Enum):
    PENDING = "pending"
    SIGNED_IN = "signed_in"
    ENDED = "ended"


class Event(enum.Enum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    EXPIRE = "expire"


TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.PENDING, Event.SIGN_IN): State.ENDED,  # rule 1: the signed-in session is a new one
    (State.PENDING, Event.EXPIRE): State.ENDED,
    (State.SIGNED_IN, Event.SIGN_OUT): State.ENDED,
    (State.SIGNED_IN, Event.EXPIRE): State.ENDED,
}

PENDING_SECONDS = 15 * 60.0  # a login form left open longer is shown again with a new token
MAX_PENDING = 1000
MAX_SIGNED_IN = 10_000
ROLES = ("viewer", "operator", "supervisor")


class TransitionError(Exception):
    """An event the session's state does not allow (a bug in the caller, never a user's doing)."""


@dataclass(frozen=True)
class Account:
    """A dashboard account as printd's ``users.authenticate`` described it."""

    name: str
    role: str  # viewer, operator or supervisor
    language: str | None = None  # the account's setting; None: the browser's


@dataclass
class Session:
    token: str
    csrf: str
    lifetime: float
    account: Account | None = None
    state: State = State.PENDING
    last_seen: float = 0.0
    language: str | None = None  # chosen with the language switch; wins over the account's and the browser's
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, text) shown on the next page

    def apply(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[self.state, event]
        except KeyError:
            raise TransitionError(f"a {self.state.value} session cannot {event.value}") from None

    def expired(self, now: float) -> bool:
        return now - self.last_seen > self.lifetime

    def flash(self, level: str, text: str) -> None:
        self.flashes.append((level, text))
        del self.flashes[:-5]  # a page shows the last few; a loop of failed posts must not grow it

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken

    def csrf_ok(self, presented: str | None) -> bool:
        """Rule 3."""
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


def new_token() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    """Every live session of this process, by token."""

    def __init__(self, session_minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = session_minutes * 60.0
        self.clock = clock
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session of ``token`` (its idle clock restarted when ``touch``); None if none or ended (rule 2)."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock()
        if session.expired(now):
            self._end(session, Event.EXPIRE)
            return None
        if touch:
            session.last_seen = now
        return session

    def alive(self, session: Session) -> bool:
        """Whether ``session`` still stands, without touching it (an open live page is not activity)."""
        return self.get(session.token, touch=False) is not None

    def pending(self) -> Session:
        """A new pending session, for a login form."""
        session = Session(new_token(), new_token(), min(PENDING_SECONDS, self.lifetime), last_seen=self.clock())
        self._add(session)
        return session

    def sign_in(self, pending: Session | None, account: Account, language: str | None = None) -> Session:
        """A new signed-in session for ``account``; ``pending`` (the login form's) ends (rule 1)."""
        if pending is not None:
            self._end(pending, Event.SIGN_IN)
        session = Session(
            new_token(),
            new_token(),
            self.lifetime,
            account=account,
            state=State.SIGNED_IN,
            last_seen=self.clock(),
            language=language,
        )
        self._add(session)
        return session

    def sign_out(self, session: Session) -> None:
        self._end(session, Event.SIGN_OUT)

    def _end(self, session: Session, event: Event) -> None:
        session.apply(event)
        self._sessions.pop(session.token, None)

    def _add(self, session: Session) -> None:
        """Rule 4: expired sessions go first, then the longest idle of the same kind."""
        self._sessions[session.token] = session
        limit = MAX_PENDING if session.state is State.PENDING else MAX_SIGNED_IN
        same = [s for s in self._sessions.values() if s.state is session.state]
        if len(same) <= limit:
            return
        now = self.clock()
        for other in same:
            if other.expired(now):
                self._end(other, Event.EXPIRE)
        same = [s for s in self._sessions.values() if s.state is session.state]
        for other in sorted(same, key=lambda s: s.last_seen)[: max(0, len(same) - limit)]:
            self._end(other, Event.EXPIRE)
