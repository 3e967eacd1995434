"""The clock seam: everything that asks for "now" goes through here so tests
can pin time (DESIGN.md habit 11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from fangkong.config import get_settings

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Timezone-aware UTC now."""
    return _now()


def today_local() -> date:
    """Today in the command centre's time zone."""
    return now().astimezone(get_settings().zone).date()


def set_clock(clock: Callable[[], datetime]) -> None:
    global _now
    _now = clock


def reset_clock() -> None:
    set_clock(lambda: datetime.now(UTC))
