"""printd: the print-station daemon — queue, ledger, station, control socket."""
