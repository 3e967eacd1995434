"""When a stay may end in a release, pure (no I/O): the criteria over plain
facts, each unmet one named in words a facility manager understands.

A stay is released when

1. its planned end (the policy's days counted from the last exposure) has
   been reached,
2. every test of its schedule was taken and came back negative (a missing,
   pending, invalid, conflicting or positive test is named by its day), and
3. a health check without symptoms was recorded within the policy's
   ``release_health_check_hours``.

A home stay follows the same rules (the community worker's daily check is
its health check)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class ScheduleItem:
    """One test of a stay's schedule as it stands."""

    day: int
    due_on: date
    taken: bool
    result: str | None  # negative, positive, invalid; None while pending
    conflict: bool = False


@dataclass(frozen=True)
class CheckFact:
    """The latest health check of a stay."""

    checked_at: datetime
    symptoms: bool


@dataclass(frozen=True)
class Blocker:
    """One unmet criterion: a key, the test day it names (if any) and the
    words in both languages."""

    key: str
    day: int | None
    zh: str
    en: str

    @property
    def text(self) -> str:
        return f"{self.zh} ({self.en})"


def schedule_blockers(tests: Sequence[ScheduleItem], today: date) -> list[Blocker]:
    """What the schedule still lacks, test by test in day order."""
    found: list[Blocker] = []
    for test in sorted(tests, key=lambda t: t.day):
        day = test.day
        if not test.taken:
            if test.due_on > today:
                found.append(
                    Blocker(
                        "test_not_due",
                        day,
                        f"第{day}天核酸 {test.due_on} 才到期",
                        f"day {day} test not due until {test.due_on}",
                    )
                )
            else:
                found.append(
                    Blocker(
                        "test_missing", day, f"第{day}天核酸未采样", f"day {day} test not taken"
                    )
                )
        elif test.conflict:
            found.append(
                Blocker(
                    "test_conflict",
                    day,
                    f"第{day}天核酸结果相互矛盾，待核定",
                    f"day {day} test has conflicting results to settle",
                )
            )
        elif test.result is None:
            found.append(
                Blocker(
                    "test_pending", day, f"第{day}天核酸结果未出", f"day {day} test result pending"
                )
            )
        elif test.result == "invalid":
            found.append(
                Blocker(
                    "test_invalid",
                    day,
                    f"第{day}天核酸结果无效，须重采",
                    f"day {day} test invalid; take it again",
                )
            )
        elif test.result != "negative":
            found.append(
                Blocker("test_positive", day, f"第{day}天核酸阳性", f"day {day} test positive")
            )
    return found


def release_blockers(
    *,
    planned_end_on: date | None,
    tests: Sequence[ScheduleItem],
    last_check: CheckFact | None,
    now: datetime,
    today: date,
    health_check_hours: float,
) -> list[Blocker]:
    """Every unmet release criterion; empty when the stay may be released."""
    found: list[Blocker] = []
    if planned_end_on is None:
        found.append(Blocker("no_end", None, "未设定计划解除日期", "no planned end date"))
    elif planned_end_on > today:
        found.append(
            Blocker(
                "end_not_reached",
                None,
                f"未到计划解除日期 {planned_end_on}",
                f"planned end {planned_end_on} not reached",
            )
        )
    if not tests:
        found.append(Blocker("no_tests", None, "没有安排核酸检测", "no test scheduled"))
    found.extend(schedule_blockers(tests, today))
    hours = f"{health_check_hours:g}"
    if last_check is None or last_check.checked_at < now - timedelta(hours=health_check_hours):
        found.append(
            Blocker(
                "no_recent_check",
                None,
                f"最近 {hours} 小时内没有健康监测记录",
                f"no health check in the last {hours} hours",
            )
        )
    elif last_check.symptoms:
        found.append(
            Blocker(
                "symptoms",
                None,
                "最近一次健康监测有症状",
                "symptoms at the latest health check",
            )
        )
    return found


def stay_day(start_on: date, on: date) -> int:
    """The day of a stay ``on`` falls on (day 1 is the day of arrival)."""
    return (on - start_on).days + 1
