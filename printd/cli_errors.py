"""printd's sentences (errors, alerts, pause reasons) and printctl's "cannot reach printd" in the reader's language.

The daemon answers in English: a stable code (``data.code``), a sentence, and a few facts in ``data``. In English
printctl prints the daemon's sentence as it came. In another language it looks the code up here and says the same
thing from the facts: those in ``data``, what the command line asked (the job, the printer, the count...), and,
where the daemon gives a fact only inside its sentence, the ``match`` that lifts it out. A sentence applies only when
every placeholder it names is known (and its ``match`` matches); when none applies, or the code is not here, the
daemon's own sentence is printed: never a wrong translation, at worst the English one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pwd
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from printd.cli_labels import HANDOVER_KINDS, JOB_STATES, Labels, label, reason
from printd.i18n import N_, SOURCE_LANGUAGE, _, current_language, format_datetime, format_number

Facts = Mapping[str, object]


@dataclass(frozen=True)
class Sentence:
    text: str
    """The English source of the translation, with ``{named}`` placeholders."""
    match: re.Pattern[str] | None = None
    """Where the daemon's English sentence holds a fact: its named groups (the sentence applies only if it matches)."""
    when: Callable[[Facts], bool] | None = None
    """A further condition on the facts (e.g. something is in flight)."""

    @property
    def names(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.text) if name}


def _s(text: str, match: str | None = None, when: Callable[[Facts], bool] | None = None) -> Sentence:
    return Sentence(text, None if match is None else re.compile(match, re.DOTALL), when)


QUANTITIES = frozenset(
    {
        "available",
        "in_flight",
        "count",
        "written_off",
        "limit",
        "reserved",
        "on_hand",
        "threshold",
        "reorder",
        "request",
    }
)
"""Facts that are numbers of things, written the reader's way (``4.980``); ids and references stay as they are."""

LABELLED: Mapping[str, Labels] = {"state": JOB_STATES, "kind": HANDOVER_KINDS}
"""Facts that are machine values, shown through their label (a job's refused step, ``event``, stays the word staff
typed: hold, cancel, release, reprint)."""

_in_flight: Callable[[Facts], bool] = lambda facts: bool(facts.get("in_flight"))  # noqa: E731
_no_in_flight: Callable[[Facts], bool] = lambda facts: not facts.get("in_flight")  # noqa: E731


def _gap(facts: Facts) -> int:
    gap = facts.get("blanks")
    return gap if isinstance(gap, int) else 0


def _asked(command: str) -> Callable[[Facts], bool]:
    return lambda facts: facts.get("command") == command


ERRORS: Mapping[str, tuple[Sentence, ...]] = {
    "job.not_found": (
        _s(N_("There is no job with reference {job_ref}; list the jobs with 'printctl jobs'.")),
        _s(N_("There is no job with id {job_id}; list the jobs with 'printctl jobs'.")),
        _s(N_("There is no such job; list the jobs with 'printctl jobs'.")),
    ),
    "job.card_not_found": (
        _s(
            N_("Job {job_id} has no such card; 'printctl job --id {job_id}' lists its cards."), r"^job (?P<job_id>\d+) "
        ),
    ),
    "job.state_conflict": (
        _s(
            N_(
                "Job {job_id} is being printed now and cannot be canceled; wait for it to end, or pause its printer"
                " first."
            ),
            r"^job (?P<job_id>\d+) is being printed now",
        ),
        _s(
            N_("Job {job_id} is {state}, not in doubt; there is nothing to resolve."),
            r"^job (?P<job_id>\d+) is (?P<state>\w+), not in_doubt",
        ),
        _s(
            N_("Job {job_id} is {state}: it cannot take the step '{event}'; 'printctl job --id {job_id}' shows it."),
            r"^job (?P<job_id>\d+): a (?P<state>\w+) job cannot take '(?P<event>\w+)'",
        ),
        _s(
            N_(
                "Card {card} of job {job_id} is not booked as a printed card; only a printed card can be rejected at"
                " inspection (a card in doubt is settled with 'printctl resolve')."
            ),
            r"^card (?P<card>\d+) of job (?P<job_id>\d+) is .*, not a printed card",
        ),
    ),
    "job.ref_conflict": (
        _s(
            N_(
                "Job reference {ref} was already submitted with different content; use a new reference, or cancel the"
                " first job and use reprint."
            ),
            r"^job reference (?P<ref>'.*?'|\".*?\") was already submitted",
        ),
    ),
    "job.invalid": (
        # printctl's own refusals of a line of a --batch file (cli.read_batch), then the daemon's
        _s(
            N_("line {line}: not valid JSON; each line must hold one job object"),
            r"^line (?P<line>\d+): not valid JSON",
        ),
        _s(N_("line {line}: a job must be a JSON object"), r"^line (?P<line>\d+): a job must be a JSON object"),
        _s(
            N_(
                "line {line}: the job names station {named} and --station says {station}; printctl changes no job's"
                " station: remove one of the two"
            ),
            r"^line (?P<line>\d+): the job names station (?P<named>'.*?'|\".*?\") and --station says"
            r" (?P<station>'.*?'|\".*?\");",
        ),
        _s(
            N_(
                "line {line}: the job is over the daemon's {mib} MiB request limit; reference images by file path"
                " instead of data: URIs"
            ),
            r"^line (?P<line>\d+): the job is over the daemon's (?P<mib>\d+) MiB request limit",
        ),
        _s(N_("The job cannot be accepted: {detail}")),
    ),
    "job.image_missing": (_s(N_("The job's image cannot be used: {detail}")),),
    "job.image_unreadable": (_s(N_("The job's image cannot be used: {detail}")),),
    "job.image_forbidden": (_s(N_("The job's image cannot be used: {detail}")),),
    "printer.not_found": (
        _s(
            N_("There is no printer named {printer} at this station; 'printctl status' lists its printers."),
            r"^no printer named (?P<printer>'.*?'|\".*?\");",
        ),
        _s(
            N_(
                "Printer {printer} stopped taking requests (printd is stopping, or a reload removed or changed it);"
                " try again once it is back in 'printctl status'."
            ),
            r"^printer (?P<printer>'.*?'|\".*?\") stopped taking requests",
        ),
    ),
    "station.not_found": (
        _s(
            N_(
                "No station named {station} has run on this database; check the name, or start that station's printd"
                " once first."
            ),
            r"^no station named (?P<station>'.*?'|\".*?\") has run on this database \(stations: none\)",
        ),
        _s(
            N_(
                "No station named {station} has run on this database (stations: {stations}); check the name, or start"
                " that station's printd once first."
            ),
            r"^no station named (?P<station>'.*?'|\".*?\") has run on this database \(stations: (?P<stations>[^)]*)\)",
        ),
    ),
    "stock.insufficient": (
        _s(
            N_(
                "Only {available} blank(s) are on hand and free ({in_flight} more are being printed now), so"
                " {written_off} cannot be written off; check the count, or record the missing delivery with"
                " 'printctl stock receive' first."
            ),
            when=lambda facts: _asked("adjust")(facts) and _in_flight(facts),
        ),
        _s(
            N_(
                "Only {available} blank(s) are on hand and free, so {written_off} cannot be written off; check the"
                " count, or record the missing delivery with 'printctl stock receive' first."
            ),
            when=lambda facts: _asked("adjust")(facts) and _no_in_flight(facts),
        ),
        _s(
            N_(
                "Station {station} has only {available} blank(s) on hand and free ({in_flight} more are being printed"
                " now), so {count} cannot be transferred; transfer fewer, or receive the delivery first."
            ),
            r"^station (?P<station>'.*?'|\".*?\") has only",
            when=lambda facts: _asked("transfer")(facts) and _in_flight(facts),
        ),
        _s(
            N_(
                "Station {station} has only {available} blank(s) on hand and free, so {count} cannot be transferred;"
                " transfer fewer, or receive the delivery first."
            ),
            r"^station (?P<station>'.*?'|\".*?\") has only",
            when=lambda facts: _asked("transfer")(facts) and _no_in_flight(facts),
        ),
    ),
    "stock.ref_conflict": (
        _s(
            N_(
                "Delivery {ref} was already booked with {count} blank(s), serials {serials} (ledger event {event_id});"
                " a delivery is booked once: check the delivery note, and book a real difference with"
                " 'printctl stock adjust'."
            ),
            when=lambda facts: _asked("receive")(facts) and bool(facts.get("serials")),
        ),
        _s(
            N_(
                "Delivery {ref} was already booked with {count} blank(s) (ledger event {event_id}); a delivery is"
                " booked once: check the delivery note, and book a real difference with 'printctl stock adjust'."
            ),
            when=lambda facts: _asked("receive")(facts) and not facts.get("serials"),
        ),
        _s(
            N_(
                "Transfer reference {ref} was booked on {at} for {count} blank(s) from {source} to {to}; a new"
                " transfer needs a new reference."
            ),
            r"^transfer reference (?P<ref>'.*?'|\".*?\") was booked on (?P<at>\S+) for (?P<count>\d+) blank\(s\) from"
            r" (?P<source>'.*?'|\".*?\") to (?P<to>'.*?'|\".*?\");",
        ),
    ),
    "stock.transfer_same_station": (
        _s(
            N_("The blanks are in the custody of station {station} already."),
            r"custody of station (?P<station>'.*?'|\".*?\") already",
        ),
    ),
    "stock.invalid_count": (_s(N_("The number of blanks is not valid: {detail}")),),
    "stock.serials_overlap": (_s(N_("The serial range cannot be booked: {detail}")),),
    "stock.serials_mismatch": (_s(N_("The serial range cannot be booked: {detail}")),),
    "stock.invalid_serials": (_s(N_("The serial range cannot be booked: {detail}")),),
    "handover.number_taken": (
        _s(
            N_(
                "Berita acara number {number} was already used on {at} for {kind}; every berita acara needs its own"
                " number."
            ),
            r"^berita acara number (?P<number>'.*?'|\".*?\") was already used on (?P<at>\S+) for (?P<kind>\w+) blanks",
        ),
    ),
    "handover.nothing_pending": (
        _s(
            N_(
                "No spoiled blank up to that date is waiting for a berita acara ('printctl spoiled --pending' lists"
                " what is waiting)."
            ),
            r"up to that date",
        ),
        _s(
            N_(
                "No spoiled blank is waiting for a berita acara; every spoiled blank is already in one ('printctl"
                " spoiled --pending' lists what is waiting)."
            ),
        ),
    ),
    "handover.not_found": (
        _s(
            N_("There is no berita acara numbered {number}; 'printctl spoiled handover --list' lists them."),
            r"numbered (?P<number>'.*?'|\".*?\")",
        ),
    ),
    "store.full": (
        _s(
            N_(
                "The database cannot grow: its disk is full or a size limit was reached; free disk space there."
                " Printing and new jobs wait, and resume by themselves when there is room again. Details: {detail}"
            )
        ),
    ),
    "store.locked": (
        _s(
            N_(
                "Another program holds the database's write lock, and only printd may write there: find that program"
                " and stop it. Printing and new jobs wait, and resume by themselves when the lock is released."
                " Details: {detail}"
            )
        ),
    ),
    "store.read_only": (
        _s(
            N_(
                "The database cannot be written: its file, its directory or its disk is read-only; make it writable."
                " Printing and new jobs wait, and resume by themselves when it is writable again. Details: {detail}"
            )
        ),
    ),
    "store.io_error": (
        _s(
            N_(
                "Writing the database failed with a disk error; check the disk. Printing and new jobs wait, and resume"
                " by themselves when writes succeed again. Details: {detail}"
            )
        ),
    ),
    "store.unreachable": (
        _s(
            N_(
                "The database server cannot be reached: check that it runs and the network to it. Printing and new"
                " jobs wait, and resume by themselves when it is back. Details: {detail}"
            )
        ),
    ),
    "server.busy": (
        _s(
            N_(
                "{user} already has {limit} connections open to printd, the most one user may have; close printctl"
                " sessions or scripts that hold connections open without using them, then try again."
            ),
            when=lambda facts: facts.get("setting") == "max_clients_per_user",
        ),
        _s(
            N_(
                "printd's {limit} connections for staff are all in use and the last {reserved} are kept for"
                " supervisors; try again in a moment."
            ),
            when=lambda facts: facts.get("setting") == "reserved_for_supervisors",
        ),
        _s(
            N_(
                "printd is already serving its limit of {limit} connections; try again in a moment, and stop printctl"
                " sessions or scripts that hold connections open without using them."
            ),
        ),
    ),
    "request.timeout": (
        _s(
            N_(
                "printd did not receive the whole request in time; try again, and if it happens again check the print"
                " PC."
            )
        ),
    ),
    "params.invalid": (_s(N_("printd refused the request: {detail}")),),
    "method.not_found": (
        _s(
            N_(
                "This printd does not know that command: printctl and printd are not the same version. Details:"
                " {detail}"
            )
        ),
    ),
    "internal": (
        _s(
            N_("printd sent an unexpected reply; check that printctl and printd are the same version."),
            r"^printd sent an unexpected reply",
        ),
        _s(
            N_(
                "printd failed while handling the request, which may or may not have taken effect; check with printctl"
                " before retrying, and see the daemon log (journalctl -u printd)."
            ),
            r"^printd failed while handling the request",
        ),
    ),
}

UNREACHABLE: tuple[Sentence, ...] = (
    _s(
        N_(
            "cannot reach printd at {path}: there is no socket there. Is printd running (systemctl status printd)? If"
            " it listens elsewhere, set PRINTD_SOCKET or pass --socket."
        ),
        r"^no socket there",
    ),
    _s(
        N_(
            "cannot reach printd at {path}: nothing is listening. Start printd (systemctl start printd) or check"
            " PRINTD_SOCKET / --socket."
        ),
        r"^nothing is listening",
    ),
    _s(
        N_(
            "cannot reach printd at {path}: permission denied. Your user must be in the socket's group (ls -l {path};"
            " usually printd); log in again after being added."
        ),
        r"^permission denied",
    ),
    _s(N_("cannot reach printd at {path}: no reply within {seconds} s."), r"^no reply within (?P<seconds>\S+) s"),
    _s(
        N_("cannot reach printd at {path}: no progress sending for {seconds} s."),
        r"^no progress sending for (?P<seconds>\S+) s",
    ),
    _s(N_("cannot reach printd at {path}: the connection was lost ({cause})."), r"^connection lost \((?P<cause>.*)\)$"),
    _s(N_("cannot reach printd at {path}: printd closed the connection without answering."), r"^the daemon closed"),
    _s(N_("cannot reach printd at {path}: {reason}")),
)

ALERTS: Mapping[str, tuple[Sentence, ...]] = {
    "stock.low": (
        _s(
            N_("{on_hand} blanks on hand, below the threshold of {threshold}; request more blanks."),
            r"^(?P<on_hand>\d+) blanks on hand, below the threshold of (?P<threshold>\d+)",
        ),
        _s(
            N_(
                "{on_hand} blanks in this station's custody ({station}), below the threshold of {threshold}; transfer"
                " blanks here or request more."
            ),
            r"^(?P<on_hand>\d+) blanks in this station's custody \((?P<station>.*?)\), below the threshold of"
            r" (?P<threshold>\d+)",
        ),
    ),
    "stock.reorder": (
        _s(
            N_(
                "{on_hand} blanks on hand, below the reorder point of {reorder}; request {request} blanks now:"
                " 'printctl stock forecast', 'printctl stock request --output FILE.pdf'."
            ),
            r"^(?P<on_hand>\d+) blanks on hand, below the reorder point of (?P<reorder>\d+) .*request"
            r" (?P<request>\d+) blanks now",
        ),
    ),
    "stock.in_doubt": (
        _s(
            N_("{count} blank(s) in doubt; check the printers and resolve the jobs."),
            r"^(?P<count>\d+) blank\(s\) in doubt",
        ),
    ),
    "stock.exhausted": (
        _s(
            N_("No blanks on hand: printing waits; book a delivery with 'printctl stock receive'."),
            r"^no blanks on hand",
        ),
        _s(
            N_(
                "No blanks in this station's custody ({station}): printing waits; book a delivery with 'printctl stock"
                " receive' or transfer blanks here with 'printctl stock transfer'."
            ),
            r"^no blanks in this station's custody \((?P<station>.*?)\)",
        ),
    ),
    "stock.unreconciled": (
        _s(
            N_(
                "Printer {printer}: {count} blank(s) left its feeder that the ledger does not book (printctl reconcile"
                " {printer}); find out why, then have a supervisor book it: printctl stock adjust {adjust} --printer"
                " {printer} --reason WHY"
            ),
            when=lambda facts: _gap(facts) > 0,
        ),
        _s(
            N_(
                "Printer {printer}: the ledger books {count} blank(s) more than its card counter shows (printctl"
                " reconcile {printer}); find out why, then have a supervisor book it: printctl stock adjust {adjust}"
                " --printer {printer} --reason WHY"
            ),
            when=lambda facts: _gap(facts) < 0,
        ),
    ),
}

PAUSE_REASONS: tuple[Sentence, ...] = (
    # The operator's own words after the colon are shown as typed.
    _s(N_("paused by {user}: {reason}"), r"^paused by (?P<user>\S+?): (?P<reason>.+)$"),
    _s(N_("paused by {user}"), r"^paused by (?P<user>.+)$"),
    _s(
        N_(
            "{reasons}, card in doubt (job {job_id}) may be inside the printer: take it out, resolve the job, then"
            " resume"
        ),
        r"^(?P<reasons>.+), card in doubt \(job (?P<job_id>\d+)\) may be inside the printer",
    ),
    _s(
        N_("card in doubt (job {job_id}) may be inside the printer: take it out, resolve the job, then resume"),
        r"^card in doubt \(job (?P<job_id>\d+)\) may be inside the printer",
    ),
)


# ---- the look-up ---------------------------------------------------------------------------------------


Zone = Callable[[], ZoneInfo | None]


def _moment(value: object, zone: Zone | None) -> str:
    """A UTC time the daemon wrote (``2026-12-06T01:30:00Z``) in the office's zone, the reader's way."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return str(value)
    local = moment.astimezone((zone() if zone is not None else None) or dt.UTC)
    return f"{format_datetime(local, tzinfo=local.tzinfo)} {local.tzname()}"


def _shown(name: str, value: object, zone: Zone | None = None) -> str:
    if name == "at":
        return _moment(value, zone)
    if name in LABELLED:
        return label(LABELLED[name], value)
    if name == "reasons":
        return ", ".join(reason(r.strip()) for r in str(value).split(","))
    if name in QUANTITIES and isinstance(value, int | str) and str(value).lstrip("-").isdigit():
        return format_number(abs(int(value)) if name == "written_off" else int(value))
    return str(value)


def _say(sentences: tuple[Sentence, ...], text: str, facts: Facts, zone: Zone | None = None) -> str | None:
    for sentence in sentences:
        found: dict[str, object] = dict(facts)
        if sentence.match is not None:
            matched = sentence.match.search(text)
            if matched is None:
                continue
            found.update({k: v for k, v in matched.groupdict().items() if v is not None})
        if sentence.when is not None and not sentence.when(found):
            continue
        if not sentence.names <= found.keys():
            continue
        return _(sentence.text).format(**{name: _shown(name, found[name], zone) for name in sentence.names})
    return None


def _translating() -> bool:
    return current_language() != SOURCE_LANGUAGE


def error_text(
    code: str, message: str, details: Facts | None = None, asked: Facts | None = None, zone: Zone | None = None
) -> str:
    """The daemon's error ``code`` said in the reader's language from ``details`` and what printctl ``asked``; the
    daemon's ``message`` in English or when the code (or the facts a sentence needs) is not known. A time in it is
    written in the station's ``zone`` (asked for only then; UTC when it cannot be had)."""
    if not _translating():
        return message
    facts: dict[str, object] = {**(asked or {}), **{k: v for k, v in (details or {}).items() if v is not None}}
    facts["detail"] = message
    return _say(ERRORS.get(code, ()), message, facts, zone) or message


def unreachable_text(path: str, reason_text: str) -> str:
    """printctl's "cannot reach printd" (``DaemonUnreachableError``: the socket and the reason) in the reader's
    language."""
    if not _translating():
        return f"cannot reach printd at {path}: {reason_text}"
    return _say(UNREACHABLE, reason_text, {"path": path, "reason": reason_text}) or reason_text


def alert_text(alert: Mapping[str, object]) -> str:
    """An alert of ``status`` (``stock.low``, ``stock.unreconciled``...) in the reader's language."""
    message = str(alert.get("message") or alert.get("event") or "")
    if not _translating():
        return message
    facts: dict[str, object] = {k: v for k, v in alert.items() if v is not None}
    gap = _gap(facts)
    if gap:  # stock.unreconciled: blanks fed unbooked (+) or booked unfed (-), and the adjustment that books them
        facts |= {"count": abs(gap), "adjust": f"{-gap:+d}"}
    return _say(ALERTS.get(str(alert.get("event")), ()), message, facts) or message


def pause_reason_text(text: str) -> str:
    """Why a printer is paused (the daemon's words) in the reader's language."""
    if not _translating():
        return text
    said = _say(PAUSE_REASONS, text, {})
    if said is not None:
        return said
    return ", ".join(reason(part.strip()) for part in text.split(","))


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def forbidden_text(details: Mapping[str, object]) -> str:
    """What a person reads when printd refuses them: the role it takes, theirs, and the group that grants it."""
    needed = details.get("required_role") or _("a higher")
    user = details.get("user") or _current_user()
    has = details.get("role")
    if has:
        yours = _("you ({user}) have the {role} role").format(user=user, role=has)
    else:
        yours = _("you ({user}) have no printd role").format(user=user)
    groups = details.get("groups")
    if isinstance(groups, list) and groups:
        group = groups[0]
        return _(
            "permission denied: this needs the {needed} role and {yours}. Membership of group {group} grants it: ask"
            " an administrator to run 'usermod -aG {group_name} {user}', then log in again."
        ).format(needed=needed, yours=yours, group=repr(group), group_name=group, user=user)
    return _(
        "permission denied: this needs the {needed} role and {yours}. No group grants it in printd's configuration"
        " ([control.roles]), so only root can do this."
    ).format(needed=needed, yours=yours)


def asked_of(args: argparse.Namespace) -> dict[str, object]:
    """What the command line named, for the sentences above: the job, the printer, the count, the reference..."""
    asked: dict[str, object] = {"command": getattr(args, "stock_command", None) or getattr(args, "command", None)}
    job, job_id = getattr(args, "job", None), getattr(args, "job_id", None)
    if isinstance(job, str):
        asked["job_ref"] = repr(job)
    elif isinstance(job, int):
        asked["job_id"] = job
    if isinstance(job_id, int):
        asked["job_id"] = job_id
    for name in ("printer", "ref", "count"):
        value = getattr(args, name, None)
        if value is not None:
            asked[name] = repr(value) if name in ("printer", "ref") else value
    if asked["command"] == "adjust" and isinstance(asked.get("count"), int):
        asked["written_off"] = asked["count"]
    return asked
