"""The daemon's error vocabulary: a stable machine code, a sentence a person can act on, a JSON-RPC number."""

from __future__ import annotations

from collections.abc import Mapping

# JSON-RPC 2.0 reserved numbers.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Application errors live in -32000..-32099; a code missing from the table below gets this one.
APPLICATION_ERROR = -32000

RPC_NUMBERS: Mapping[str, int] = {
    "request.parse_error": PARSE_ERROR,
    "request.invalid": INVALID_REQUEST,
    "request.too_large": INVALID_REQUEST,
    "method.not_found": METHOD_NOT_FOUND,
    "params.invalid": INVALID_PARAMS,
    "internal": INTERNAL_ERROR,
    "auth.forbidden": -32001,
    "server.busy": -32002,
    "request.timeout": -32003,
    "job.not_found": -32010,
    "job.invalid": -32011,
    "job.image_missing": -32012,
    "job.image_unreadable": -32013,
    "job.ref_conflict": -32014,
    "job.state_conflict": -32015,
    "job.image_forbidden": -32016,
    "job.card_not_found": -32017,
    "printer.not_found": -32020,
    "stock.insufficient": -32030,
    "stock.invalid_count": -32031,
    "stock.ref_conflict": -32032,
    "stock.serials_overlap": -32033,
    "stock.serials_mismatch": -32034,
    "stock.invalid_serials": -32035,
    "handover.number_taken": -32050,
    "handover.nothing_pending": -32051,
    "handover.not_found": -32052,
    "store.full": -32040,
    "store.locked": -32041,
    "store.read_only": -32042,
    "store.io_error": -32043,
}


class PrintdError(Exception):
    """A failure to report to the caller.

    ``code`` is stable and for programs (``job.not_found``); ``message`` is for people: what was wrong and
    what to do about it. Neither may carry personal data. ``details`` holds small JSON-able facts
    (``{"job": 42}``) that travel in the JSON-RPC error's ``data`` next to the code.
    """

    def __init__(self, code: str, message: str, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, object] = dict(details or {})

    @property
    def rpc_number(self) -> int:
        return RPC_NUMBERS.get(self.code, APPLICATION_ERROR)

    def as_dict(self) -> dict[str, object]:
        """The error as printctl and batch replies show it: code, message and any details."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = dict(self.details)
        return out

    def __repr__(self) -> str:
        return f"PrintdError({self.code!r}, {self.message!r})"


def invalid_params(message: str, **details: object) -> PrintdError:
    return PrintdError("params.invalid", message, details)


def internal_error() -> PrintdError:
    return PrintdError(
        "internal",
        "printd failed while handling the request, which may or may not have taken effect; "
        "check with printctl before retrying, and see the daemon log (journalctl -u printd).",
    )
