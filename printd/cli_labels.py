"""The words printctl shows for the daemon's machine values (job states, priorities, printer reasons...).

The daemon answers in stable machine values (``in_doubt``, ``walk_in``, ``media-empty-error``); ``--json`` prints
them as they are. A table shows each through its label here: in English the value itself (the word staff type in
``--state in_doubt`` or ``--category damaged``), in Indonesian its translation. A value without a label (a newer
daemon's) is shown as it came.
"""

from __future__ import annotations

from collections.abc import Mapping

from printd.i18n import NP_, pgettext

Labels = Mapping[str, tuple[str, str]]

JOB_STATES: Labels = {
    "queued": NP_("job state", "queued"),
    "printing": NP_("job state", "printing"),
    "held": NP_("job state", "held"),
    "in_doubt": NP_("job state", "in_doubt"),
    "done": NP_("job state", "done"),
    "failed": NP_("job state", "failed"),
    "canceled": NP_("job state", "canceled"),
}

PRIORITIES: Labels = {
    "walk_in": NP_("priority", "walk_in"),
    "normal": NP_("priority", "normal"),
    "backlog": NP_("priority", "backlog"),
}

PRINTER_STATES: Labels = {
    "ready": NP_("printer state", "ready"),
    "busy": NP_("printer state", "busy"),
    "warning": NP_("printer state", "warning"),
    "error": NP_("printer state", "error"),
    "offline": NP_("printer state", "offline"),
    "paused": NP_("printer state", "paused"),  # what status says of a paused printer that is not offline
}

CARD_FATES: Labels = {
    "printing": NP_("card", "printing"),
    "not_fed": NP_("card", "not_fed"),
    "issued": NP_("card", "issued"),
    "spoiled": NP_("card", "spoiled"),
    "in_doubt": NP_("card", "in_doubt"),
}

JOB_EVENTS: Labels = {
    "submit": NP_("job event", "submit"),
    "claim": NP_("job event", "claim"),
    "printed": NP_("job event", "printed"),
    "spoiled": NP_("job event", "spoiled"),
    "spoiled_last": NP_("job event", "spoiled_last"),
    "not_fed": NP_("job event", "not_fed"),
    "unknown": NP_("job event", "unknown"),
    "unprintable": NP_("job event", "unprintable"),
    "hold": NP_("job event", "hold"),
    "release": NP_("job event", "release"),
    "cancel": NP_("job event", "cancel"),
    "resolve_printed": NP_("job event", "resolve_printed"),
    "resolve_spoiled": NP_("job event", "resolve_spoiled"),
    "resolve_spoiled_last": NP_("job event", "resolve_spoiled_last"),
    "resolve_not_fed": NP_("job event", "resolve_not_fed"),
    "reprint": NP_("job event", "reprint"),
    "qc_spoil": NP_("job event", "qc_spoil"),
    "qc_spoil_content_purged": NP_("job event", "qc_spoil_content_purged"),
}

SPOIL_CATEGORIES: Labels = {
    "print_failed": NP_("spoil category", "print_failed"),
    "encode_failed": NP_("spoil category", "encode_failed"),
    "damaged": NP_("spoil category", "damaged"),
    "data_changed": NP_("spoil category", "data_changed"),
    "test_print": NP_("spoil category", "test_print"),
}

HANDOVER_KINDS: Labels = {
    "destroyed": NP_("handover kind", "destroyed"),
    "returned": NP_("handover kind", "returned"),
}

# IPP-style keywords (drivers/base.py); a reason arrives as KEYWORD or KEYWORD-SEVERITY.
PRINTER_REASONS: Labels = {
    "media-empty": NP_("printer reason", "media-empty"),
    "media-low": NP_("printer reason", "media-low"),
    "media-jam": NP_("printer reason", "media-jam"),
    "cover-open": NP_("printer reason", "cover-open"),
    "marker-supply-empty": NP_("printer reason", "marker-supply-empty"),
    "marker-supply-low": NP_("printer reason", "marker-supply-low"),
    "marker-supply-missing": NP_("printer reason", "marker-supply-missing"),
    "marker-supply-jam": NP_("printer reason", "marker-supply-jam"),
    "reject-box-full": NP_("printer reason", "reject-box-full"),
    "output-area-full": NP_("printer reason", "output-area-full"),
    "print-head-temperature": NP_("printer reason", "print-head-temperature"),
    "cleaning-required": NP_("printer reason", "cleaning-required"),
    "offline": NP_("printer reason", "offline"),
    "encoder-unavailable": NP_("printer reason", "encoder-unavailable"),
    "cups-not-authorized": NP_("printer reason", "cups-not-authorized"),
    "cups-queue-missing": NP_("printer reason", "cups-queue-missing"),
    "cups-rejecting-jobs": NP_("printer reason", "cups-rejecting-jobs"),
    "job-held": NP_("printer reason", "job-held"),
    "paused": NP_("printer reason", "paused"),
    "other": NP_("printer reason", "other"),
}

_SEVERITIES = ("-error", "-warning", "-report")


def label(labels: Labels, value: object) -> str:
    """``value`` as a person reads it; a value without a label as it came."""
    text = str(value)
    marked = labels.get(text)
    return pgettext(*marked) if marked is not None else text


def reason(value: object) -> str:
    """A printer reason (``media-empty-error``): the keyword's label; in English the reason as it came."""
    text = str(value)
    keyword = next((text.removesuffix(s) for s in _SEVERITIES if text.endswith(s)), text)
    marked = PRINTER_REASONS.get(keyword)
    if marked is None:
        return text
    said = pgettext(*marked)
    return text if said == keyword else said
