"""What the reports need from the configuration: the time zone, working days, forecast rules and the office."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from printd.config import Config
from printd.reports.calendar import WorkCalendar
from printd.reports.model import ForecastParams, Office
from printd.store.records import Person

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class ReportSettings:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    forecast: ForecastParams = field(default_factory=ForecastParams)
    office: Office = field(default_factory=Office)

    @classmethod
    def from_config(cls, config: Config) -> ReportSettings:
        docs, cal, fc = config.documents, config.calendar, config.forecast
        head = Person(docs.head.name, docs.head.nip, docs.head.rank, docs.head.position)
        defaults = Office()
        office = Office(
            name=docs.office,
            city=docs.city,
            address=docs.address,
            legal_basis=docs.legal_basis if docs.legal_basis is not None else defaults.legal_basis,
            head=head,
            request_addressee=docs.request_addressee or defaults.request_addressee,
            timezone=config.station.timezone,
        )
        return cls(
            zone=ZoneInfo(config.station.timezone),
            calendar=WorkCalendar(frozenset(WEEKDAYS.index(day) for day in cal.weekend), frozenset(cal.holidays)),
            forecast=ForecastParams(
                fc.window_days, fc.lead_time_days, fc.service_level, fc.delivery_unit, fc.fill_ratio
            ),
            office=office,
        )

    def today(self) -> dt.date:
        return dt.datetime.now(self.zone).date()
