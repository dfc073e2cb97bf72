"""The role each control method needs, as the tests expect it (checked against the daemon's own table)."""

from __future__ import annotations

from printd.control.auth import Role

# The role each method needs (DESIGN.md: viewer reads; operator submits, cancels, holds, records QC spoils,
# resolves; supervisor books stock). A method missing here fails test_the_table_covers_every_method.
ROLE_TABLE: dict[str, Role] = {
    "status": Role.VIEWER,
    "stock.summary": Role.VIEWER,
    "jobs.list": Role.VIEWER,
    "jobs.get": Role.VIEWER,
    "spoiled.list": Role.VIEWER,
    "jobs.submit": Role.OPERATOR,
    "jobs.submit_batch": Role.OPERATOR,
    "jobs.cancel": Role.OPERATOR,
    "jobs.hold": Role.OPERATOR,
    "jobs.release": Role.OPERATOR,
    "jobs.reprint": Role.OPERATOR,
    "jobs.spoil": Role.OPERATOR,
    "jobs.resolve": Role.OPERATOR,
    "printers.pause": Role.OPERATOR,
    "printers.resume": Role.OPERATOR,
    "printers.reconcile": Role.OPERATOR,
    "stock.receive": Role.SUPERVISOR,
    "stock.adjust": Role.SUPERVISOR,
    "stock.transfer": Role.SUPERVISOR,
    "stock.transfers": Role.VIEWER,
    "stock.history": Role.VIEWER,
    "station.info": Role.VIEWER,
    "reports.daily": Role.VIEWER,
    "reports.monthly": Role.VIEWER,
    "stock.forecast": Role.VIEWER,
    "stock.request": Role.VIEWER,
    "spoiled.pending": Role.VIEWER,
    "spoiled.handovers": Role.VIEWER,
    "spoiled.handover_get": Role.VIEWER,
    "spoiled.handover": Role.SUPERVISOR,
    "station.metrics": Role.VIEWER,
    # Dashboard accounts: supervisors keep them. users.language and users.authenticate are open to every role at
    # the socket and decide in the method (the account itself; printd-web's user only): tests/test_accounts.py.
    "users.list": Role.SUPERVISOR,
    "users.add": Role.SUPERVISOR,
    "users.passwd": Role.SUPERVISOR,
    "users.disable": Role.SUPERVISOR,
    "users.enable": Role.SUPERVISOR,
    "users.language": Role.VIEWER,
    "users.authenticate": Role.VIEWER,
}
