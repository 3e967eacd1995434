"""Shared fixtures: real databases built by the real migrations (SQLite and
PostgreSQL), each test inside a savepoint that is rolled back, and a small
named cast (DESIGN.md habits 8 and 9)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import SYSTEM, Actor, actor_of, create_user
from fangkong.db import make_engine
from fangkong.migrate import upgrade
from tests.factories import PASSWORD

BACKENDS = ("sqlite", "postgres")
POSTGRES_ADMIN_URL = os.environ.get(
    "FANGKONG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_unavailable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}".splitlines()[0]


class Databases:
    """Creates one migrated database per backend on first use; drops them at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.urls: dict[str, str] = {}
        self.engines: dict[str, Engine] = {}
        self.created_pg: list[str] = []

    def url(self, backend: str) -> str:
        if backend not in self.urls:
            self.urls[backend] = self.fresh(backend)
        return self.urls[backend]

    def fresh(self, backend: str, revision: str = "head") -> str:
        """A new, empty database migrated to ``revision``."""
        if backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}"
        else:
            reason = _postgres_unavailable()
            if reason:
                if os.environ.get("FANGKONG_REQUIRE_POSTGRES") == "1":
                    pytest.fail(f"FANGKONG_REQUIRE_POSTGRES=1 but {reason}")
                pytest.skip(reason)
            name = f"fangkong_test_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created_pg.append(name)
            url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
        upgrade(url, revision)
        return url

    def engine(self, backend: str) -> Engine:
        if backend not in self.engines:
            self.engines[backend] = make_engine(self.url(backend))
        return self.engines[backend]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()
        if self.created_pg:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                for name in self.created_pg:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(databases: Databases, backend: str) -> Engine:
    return databases.engine(backend)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside one rolled-back transaction."""
    connection = engine.connect()
    transaction = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.reset_clock()


@pytest.fixture
def make_actor(session: Session) -> Callable[..., Actor]:
    def make(role: str, jurisdiction: str, username: str | None = None) -> Actor:
        user = create_user(
            session,
            SYSTEM,
            username=username or f"{role}_{jurisdiction or 'all'}_{uuid.uuid4().hex[:6]}",
            password=PASSWORD,
            role=role,
            jurisdiction=jurisdiction,
        )
        return actor_of(user)

    return make


# The cast: Langfang city (1310), Anci district (131002), Guangyang district (131003).
@pytest.fixture
def county_commander(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("commander", "131002")


@pytest.fixture
def other_county_commander(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("commander", "131003")


@pytest.fixture
def city_commander(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("commander", "1310")


@pytest.fixture
def community_worker(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("community_worker", "131002001")


@pytest.fixture
def lab(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("lab", "1310")


@pytest.fixture
def today() -> date:
    return clock.today_local()
