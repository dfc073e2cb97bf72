"""argparse's own words ("usage:", "error:", "the following arguments are required") in printctl's language.

argparse looks its words up with gettext's global functions, in the text domain the application chose: printctl
chooses printd's, and printd's catalog holds argparse's messages that staff can meet (borrowed here so that extraction
puts them in the catalog). Programming errors argparse raises while a parser is built are left out: staff never see
them. gettext picks the language from the same variables as ``printd.i18n.from_environment``.
"""

from __future__ import annotations

import gettext

from printd.i18n import DOMAIN, LOCALE_DIR, N_

BORROWED = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)
"""The messages of argparse (Python 3.11 and later) a person at the counter can meet."""


def use_printd_catalog() -> None:
    """Make printd's catalog the one argparse's words are looked up in (gettext's process-wide text domain, which
    an application such as printctl sets once at start)."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
