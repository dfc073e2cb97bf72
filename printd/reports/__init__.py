"""Folds of the ledger for people: daily and monthly stock reports, the forecast, and the official documents."""
