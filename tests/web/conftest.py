"""Fixtures for the web tests: one migrated SQLite file per test module,
the settings pointed at it, a small cast of users in two counties, and a
registry imported through the real import service.

The cast (Langfang city 1310)::

    county   commander         131002 (Anci)        sees Anci only
    worker   community worker  131002001 (a township of Anci)
    other    commander         131003 (Guangyang)   must never see Anci
    sampler  sampling staff    131002               registry.read only (masked)
    lab      laboratory        1310                 no registry permission
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from fangkong.access.service import SYSTEM, actor_of, create_user
from fangkong.config import get_settings
from fangkong.db import get_engine, get_sessionmaker, session_scope
from fangkong.migrate import upgrade
from fangkong.people.importing import import_people
from fangkong.people.models import Household, Person
from fangkong.regions.catalog import Level, descendants
from fangkong.tracing.views import report_attempts
from fangkong.web.app import create_app
from fangkong.web.auth import failed_logins
from tests.factories import PASSWORD, person_row, registry_csv

ANCI = "131002"
GUANGYANG = "131003"
ANCI_COMMUNITY = descendants(ANCI, Level.VILLAGE)[0].code
GUANGYANG_COMMUNITY = descendants(GUANGYANG, Level.VILLAGE)[0].code
USERS = {
    "county": ("commander", ANCI),
    "worker": ("community_worker", ANCI + "001"),
    "other": ("commander", GUANGYANG),
    "sampler": ("sampler", ANCI),
    "lab": ("lab", "1310"),
    "epi": ("epidemiologist", ANCI),
    "other_epi": ("epidemiologist", GUANGYANG),
}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Site:
    """A migrated, seeded database and the app serving it."""

    db_url: str
    app: FastAPI
    tmp: Path
    persons: dict[str, int] = field(default_factory=dict)  # name -> person id
    households: dict[str, int] = field(default_factory=dict)  # code -> household id


def _clear_caches() -> None:
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    get_settings.cache_clear()


def _seed(site: Site) -> None:
    anci = [
        person_row(ANCI_COMMUNITY, 1, name="王安次", household="H-ANCI-1"),
        person_row(ANCI_COMMUNITY, 2, name="王小次", household="H-ANCI-1", relation="子"),
        person_row(ANCI_COMMUNITY, 3, name="赵重复", household="H-ANCI-2", phone="13812345678"),
        person_row(ANCI_COMMUNITY, 4, name="赵重复", household="H-ANCI-3", phone="13812345678"),
    ]
    guangyang = [
        person_row(GUANGYANG_COMMUNITY, 5, name="李广阳", household="H-GY-1"),
        person_row(GUANGYANG_COMMUNITY, 6, name="李小阳", household="H-GY-1", relation="女"),
    ]
    with session_scope() as session:
        actors = {}
        for username, (role, jurisdiction) in USERS.items():
            user = create_user(
                session,
                SYSTEM,
                username=username,
                password=PASSWORD,
                role=role,
                jurisdiction=jurisdiction,
                display_name=username,
            )
            actors[username] = actor_of(user)
        for actor, rows in ((actors["county"], anci), (actors["other"], guangyang)):
            result = import_people(session, actor, registry_csv(rows), "seed.csv")
            assert result.rejected == 0, result.rejects
        site.persons = {p.name: p.id for p in session.scalars(select(Person))}
        site.households = {h.code: h.id for h in session.scalars(select(Household))}


@contextmanager
def seeded_site(tmp: Path) -> Iterator[Site]:
    """A fresh migrated SQLite database in ``tmp`` with the cast and the
    registry seeded, the settings pointed at it and the app serving it; a
    test module adds its own rows inside (``session_scope``)."""
    url = f"sqlite:///{tmp / 'web.sqlite3'}"
    upgrade(url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANGKONG_DATABASE_URL", url)
        patch.setenv("FANGKONG_ENVIRONMENT", "test")
        _clear_caches()
        try:
            site = Site(db_url=url, app=create_app(), tmp=tmp)
            _seed(site)
            yield site
        finally:
            get_engine().dispose()
            _clear_caches()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with seeded_site(tmp_path_factory.mktemp("web")) as seeded:
        yield seeded


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    """A fresh browser: no cookies, no login; redirects are not followed."""
    failed_logins.clear()
    report_attempts.clear()
    with TestClient(site.app, follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


@pytest.fixture
def login_as(client: TestClient) -> Callable[[str], str]:
    return lambda username: login(client, username)
