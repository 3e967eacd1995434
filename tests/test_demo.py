"""``make demo`` builds what README promises: a small demo county, imported
and sampled, with a round's results, the tracing pages' outbreak and its
contacts in quarantine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from fangkong.config import get_settings
from fangkong.db import get_engine, get_sessionmaker, session_scope
from fangkong.demo import build_demo
from fangkong.people.models import Person
from fangkong.quarantine.models import Stay
from fangkong.testing.models import Round
from fangkong.tracing.models import (
    Case,
    CrossRegionRequest,
    PendingMatch,
    RiskPerson,
    SelfReport,
)


def _clear_caches() -> None:
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    get_settings.cache_clear()


def test_the_demo_builds_a_county_a_round_and_an_outbreak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FANGKONG_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    _clear_caches()
    said: list[str] = []
    try:
        build_demo(region="131002", persons=2_000, seed=7, echo=said.append)
        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(Person)) >= 2_000
            assert session.scalar(select(func.count()).select_from(Round)) == 1
            controlled = session.scalars(select(Case.controlled).order_by(Case.id)).all()
            assert controlled == [False, True]
            categories = set(session.scalars(select(RiskPerson.category)))
            assert {"close", "secondary"} <= categories
            assert session.scalar(select(func.count()).select_from(CrossRegionRequest)) == 1
            assert session.scalar(select(func.count()).select_from(SelfReport)) == 1
            regions = set(session.scalars(select(PendingMatch.region_code)))
            assert regions
            assert all(r.startswith("131002") for r in regions)  # the county's to resolve
            kinds = session.execute(
                select(Stay.kind, func.count()).where(Stay.ended_at.is_(None)).group_by(Stay.kind)
            ).all()
            assert dict(kinds)["hospital"] == 2  # both cases admitted
            assert dict(kinds)["centralized"] >= 3  # the contacts waiting for a room placed
        build_demo(region="131002", persons=2_000, seed=7, echo=said.append)  # again: no-op
        assert said[-1].startswith("demo county 131002 already has")
    finally:
        _clear_caches()
