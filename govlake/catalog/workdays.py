"""Working days by the State Council holiday schedule (chinese-calendar), for deadlines.

chinese-calendar knows each year once it is published; a later year is an error unless
conf/catalog.yaml lists its holidays and adjusted workdays, never a weekend-only guess.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar

from govlake.catalog.models import CalendarRules
from govlake.errors import ConfigError


class WorkCalendar:
    """Is a day a working day; add and count working days."""

    def __init__(self, rules: CalendarRules | None = None, rules_file: str | None = None) -> None:
        self.years = (rules or CalendarRules()).years
        self.rules_file = rules_file

    def is_workday(self, day: dt.date) -> bool:
        configured = self.years.get(day.year)
        if configured is not None:
            if day in configured.workdays:
                return True
            return day.weekday() < 5 and day not in configured.holidays
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise ConfigError(
                f"the holiday calendar does not cover {day.year} (chinese-calendar "
                f"{chinese_calendar.__version__} knows {self.covered()}), so working days in "
                f"{day.year} are unknown.",
                file=self.rules_file,
                fix=f"upgrade chinese-calendar once the State Council has published {day.year}, "
                f"or list calendar.years.{day.year}.holidays and .workdays (adjusted working "
                "weekends) from the notice in conf/catalog.yaml.",
            ) from None

    @staticmethod
    def covered() -> str:
        from chinese_calendar.constants import holidays

        return f"{min(holidays).year}-{max(holidays).year}"

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The day on which the `days`-th working day after `start` falls (start not counted)."""
        day, counted = start, 0
        while counted < days:
            day += dt.timedelta(days=1)
            counted += self.is_workday(day)
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end`; negative when end is earlier."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(
            self.is_workday(start + dt.timedelta(days=n)) for n in range(1, (end - start).days + 1)
        )
