"""Fixtures for the mass-testing tests: the clock pinned on the morning of a
round, a small registry in two counties built through the real registry
import, a round over Anci, a sampling site, the cast (with a sampler), and
helpers that write sampling and lab-result files.

The registry (persons by community)::

    A1  131002001001  Anci, township 001   6 adults in 2 households, 1 infant
    A2  131002001002  Anci, township 001   4 adults in 2 households
    B1  131002002001  Anci, township 002   3 adults in 1 household
    GY  131003001001  Guangyang            3 adults in 1 household

The registry is imported once per backend into a database of this folder's
own (the shared one stays empty for the other tests); every test runs in a
rolled-back savepoint on top of it. The cast adds to the shared one
(tests/conftest.py) a ``sampler`` of Anci.
Users are created as rows with one precomputed password hash: hashing a
password costs 0.2 s, and these tests never log in.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.models import User
from fangkong.access.service import SYSTEM, Actor, actor_of, hash_password
from fangkong.config import get_settings
from fangkong.db import make_engine
from fangkong.people.importing import import_people
from fangkong.people.models import Person
from fangkong.testing.models import Round, SamplingSite
from fangkong.testing.rounds import AreaPolicy, create_round, create_site
from fangkong.testing.rules import reason
from fangkong.testing.sampling import add_to_tube, close_tube, open_tube
from tests.factories import PASSWORD, Row, person_row, registry_csv

if TYPE_CHECKING:
    from tests.conftest import Databases

ANCI = "131002"
GUANGYANG = "131003"
TOWNSHIP_A = "131002001"
TOWNSHIP_B = "131002002"
A1 = "131002001001"
A2 = "131002001002"
B1 = "131002002001"
GY = "131003001001"

ROUND_MORNING = datetime(2022, 3, 14, 2, 0, tzinfo=UTC)  # 10:00 in Langfang
LAB_NAME = "廊坊市第一检测实验室"
SAMPLE_HEADER_EN = ["tube", "pool_size", "id_number", "sampled_at", "site"]
SAMPLE_HEADER_ZH = ["试管条码", "混采人数", "身份证号", "采样时间", "采样点"]
RESULT_HEADER_EN = ["tube", "result", "ct_orf1ab", "ct_n", "lab", "tested_at"]
RESULT_HEADER_ZH = ["试管条码", "检测结果", "ORF1ab基因Ct值", "N基因Ct值", "检测机构", "检测时间"]


# --- the clock ----------------------------------------------------------------


class FrozenClock:
    """The clock seam pinned at a moment the test moves by hand."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment
        clock.set_clock(lambda: self.now)

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(autouse=True)
def frozen() -> FrozenClock:
    """Every test here runs on 14 March 2022, 10:00 local time (the shared
    conftest puts the real clock back afterwards)."""
    return FrozenClock(ROUND_MORNING)


# The high-volume tables carry no foreign keys (testing/models.py); every
# reference they hold must still point at a row.
ORPHANS = {
    "tube.round_id": "SELECT COUNT(*) FROM tube x LEFT JOIN testing_round r ON r.id = x.round_id "
    "WHERE (x.round_id IS NOT NULL OR x.purpose <> 'stay') AND r.id IS NULL",
    "tube.site_id": "SELECT COUNT(*) FROM tube x LEFT JOIN sampling_site s ON s.id = x.site_id "
    "WHERE x.site_id IS NOT NULL AND s.id IS NULL",
    "tube_member.tube_id": "SELECT COUNT(*) FROM tube_member x LEFT JOIN tube t "
    "ON t.id = x.tube_id "
    "AND (t.round_id = x.round_id OR (t.round_id IS NULL AND x.round_id IS NULL)) "
    "WHERE t.id IS NULL",
    "tube_member.person_id": "SELECT COUNT(*) FROM tube_member x LEFT JOIN person p "
    "ON p.id = x.person_id WHERE p.id IS NULL",
    "tube_member.task_id": "SELECT COUNT(*) FROM tube_member x LEFT JOIN follow_up_task f "
    "ON f.id = x.task_id AND f.person_id = x.person_id "
    "WHERE x.task_id IS NOT NULL AND f.id IS NULL",
    "lab_result.tube_id": "SELECT COUNT(*) FROM lab_result x LEFT JOIN tube t "
    "ON t.id = x.tube_id WHERE t.id IS NULL",
    "scheduled_test.stay_id": "SELECT COUNT(*) FROM scheduled_test x LEFT JOIN stay s "
    "ON s.id = x.stay_id WHERE s.id IS NULL",
    "risk_person.person_id": "SELECT COUNT(*) FROM risk_person x "
    "LEFT JOIN person p ON p.id = x.person_id WHERE p.id IS NULL",
    "risk_source.risk_person_id": "SELECT COUNT(*) FROM risk_source x "
    "LEFT JOIN risk_person r ON r.id = x.risk_person_id WHERE r.id IS NULL",
    "risk_person.assigned_to": "SELECT COUNT(*) FROM risk_person x "
    "LEFT JOIN user_account u ON u.id = x.assigned_to "
    "WHERE x.assigned_to IS NOT NULL AND u.id IS NULL",
    "risk_source.import_batch_id": "SELECT COUNT(*) FROM risk_source x "
    "LEFT JOIN import_batch b ON b.id = x.import_batch_id "
    "WHERE x.import_batch_id IS NOT NULL AND b.id IS NULL",
    # Not references but the same kind of promise (tracing/registry_moves.py):
    # an exposure is in its exposed person's current region, a risk record in
    # its person's.
    "exposure.region_code": "SELECT COUNT(*) FROM exposure x "
    "JOIN person p ON p.id = x.person_id WHERE x.region_code <> p.region_code",
    "risk_person.region_code": "SELECT COUNT(*) FROM risk_person x "
    "JOIN person p ON p.id = x.person_id WHERE x.region_code <> p.region_code",
}


@pytest.fixture(autouse=True)
def no_orphans(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used a database session, no tube, swab or
    result refers to a row that does not exist (with the right round and
    person, too; only a stay's tube and its swab belong to no round), and
    every exposure and risk record is in its person's current region."""
    if "session" not in request.fixturenames:
        yield
        return
    session: Session = request.getfixturevalue("session")  # set up first, torn down after
    yield
    found = {name: session.execute(text(sql)).scalar_one() for name, sql in ORPHANS.items()}
    assert not any(found.values()), f"dangling references or stale regions: {found}"


def local(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as a handheld or a lab writes it: local, without an offset."""
    return moment.astimezone(get_settings().zone).strftime(fmt)


# --- the cast -------------------------------------------------------------------


@cache
def shared_password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def make_actor(session: Session) -> Callable[..., Actor]:
    """Like the shared factory, without hashing a password for every user."""

    def make(role: str, jurisdiction: str, username: str | None = None) -> Actor:
        user = User(
            username=username or f"{role}_{jurisdiction or 'all'}_{uuid.uuid4().hex[:6]}",
            display_name=role,
            password_hash=shared_password_hash(),
            role=role,
            jurisdiction=jurisdiction,
            language="zh",
            active=True,
            created_at=clock.now(),
        )
        session.add(user)
        session.commit()
        return actor_of(user)

    return make


@pytest.fixture
def sampler(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("sampler", ANCI)


@pytest.fixture
def other_sampler(make_actor: Callable[..., Actor]) -> Actor:
    return make_actor("sampler", GUANGYANG)


# --- the registry ----------------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    id: int
    id_number: str
    name: str
    region_code: str
    address_id: int | None
    household_id: int | None


@dataclass(frozen=True)
class Registry:
    a1: list[Resident]  # six adults: households A1-H1 (0-2) and A1-H2 (3-5)
    infant: Resident  # in A1-H2, a year old
    a2: list[Resident]  # four adults: A2-H1 (0-1), A2-H2 (2-3)
    b1: list[Resident]  # three adults: B1-H1
    gy: list[Resident]  # three adults of Guangyang: GY-H1

    @property
    def anci_adults(self) -> list[Resident]:
        return [*self.a1, *self.a2, *self.b1]


def registry_rows() -> list[tuple[str, Row]]:
    infant_born = (ROUND_MORNING - timedelta(days=365)).date()
    rows: list[tuple[str, Row]] = []
    for n in range(6):
        rows.append(("a1", person_row(A1, n, household=f"A1-H{1 + n // 3}", building="1号楼")))
    rows.append(("infant", person_row(A1, 6, household="A1-H2", relation="子", born=infant_born)))
    for n in range(4):
        rows.append(("a2", person_row(A2, 10 + n, household=f"A2-H{1 + n // 2}", building="2号楼")))
    for n in range(3):
        rows.append(("b1", person_row(B1, 20 + n, household="B1-H1", building="3号楼")))
    for n in range(3):
        rows.append(("gy", person_row(GY, 30 + n, household="GY-H1", building="9号楼")))
    return rows


def _import_registry(engine: Engine) -> Registry:
    """Import the registry file once into a fresh database and commit it."""
    rows = registry_rows()
    with Session(bind=engine, expire_on_commit=False) as session:
        result = import_people(session, SYSTEM, registry_csv(r for _, r in rows), "registry.csv")
        assert (result.accepted, result.rejected) == (len(rows), 0), result.rejects
        persons = {p.id_number: p for p in session.scalars(select(Person))}
    groups: dict[str, list[Resident]] = {}
    for group, row in rows:
        p = persons[row.id_number]
        groups.setdefault(group, []).append(
            Resident(p.id, p.id_number, p.name, p.region_code, p.address_id, p.household_id)
        )
    return Registry(
        a1=groups["a1"],
        infant=groups["infant"][0],
        a2=groups["a2"],
        b1=groups["b1"],
        gy=groups["gy"],
    )


@pytest.fixture(scope="session")
def seeded(databases: Databases) -> Iterator[dict[str, tuple[Engine, Registry]]]:
    """Per backend, a database of its own holding the registry, imported once
    (each test still runs in a rolled-back savepoint on top of it)."""
    made: dict[str, tuple[Engine, Registry]] = {}
    yield made
    for engine, _ in made.values():
        engine.dispose()


@pytest.fixture
def engine(
    databases: Databases,
    backend: str,
    seeded: dict[str, tuple[Engine, Registry]],
    frozen: FrozenClock,
) -> Engine:
    if backend not in seeded:  # imported on the round's morning, like all else here
        engine = make_engine(databases.fresh(backend))
        seeded[backend] = (engine, _import_registry(engine))
    return seeded[backend][0]


@pytest.fixture
def registry(engine: Engine, backend: str, seeded: dict[str, tuple[Engine, Registry]]) -> Registry:
    """The small registry of both counties (imported through the registry
    import into this folder's database)."""
    return seeded[backend][1]


# --- rounds, sites, tubes ----------------------------------------------------------


@pytest.fixture
def make_round(session: Session, county_commander: Actor) -> Callable[..., Round]:
    def make(
        region: str = ANCI,
        pool_size: int = 10,
        *,
        actor: Actor | None = None,
        areas: list[AreaPolicy] | None = None,
        name: str = "全员核酸第1轮",
    ) -> Round:
        return create_round(
            session,
            actor or county_commander,
            name=name,
            areas=areas or [AreaPolicy(region, pool_size)],
            starts_at=clock.now() - timedelta(hours=2),
            ends_at=clock.now() + timedelta(hours=22),
        )

    return make


@pytest.fixture
def anci_round(registry: Registry, make_round: Callable[..., Round]) -> Round:
    """A round over Anci with tubes of ten swabs (the registry is in place)."""
    return make_round()


@pytest.fixture
def site(session: Session, county_commander: Actor) -> SamplingSite:
    return create_site(
        session, county_commander, name="安次一街采样点", region_code=TOWNSHIP_A, address="一街1号"
    )


def fill_tube(
    session: Session,
    actor: Actor,
    round_id: int,
    barcode: str,
    residents: Sequence[Resident],
    *,
    pool_size: int | None = None,
    close: bool = True,
) -> None:
    """Open a tube, add the residents and close it, through the online flow."""
    open_tube(session, actor, round_id=round_id, barcode=barcode, pool_size=pool_size)
    for resident in residents:
        add_to_tube(session, actor, barcode=barcode, id_number=resident.id_number)
    if close:
        close_tube(session, actor, barcode=barcode)


# --- files -----------------------------------------------------------------------


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """A CSV file as a spreadsheet saves it (UTF-8 with a BOM)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def samples_file(
    rows: Sequence[Sequence[object]], header: Sequence[str] = SAMPLE_HEADER_EN
) -> bytes:
    """Rows of (tube, pool_size, id_number, sampled_at, site)."""
    return csv_bytes(header, rows)


def results_file(
    rows: Sequence[Sequence[object]], header: Sequence[str] = RESULT_HEADER_EN
) -> bytes:
    """Rows of (tube, result, ct_orf1ab, ct_n, lab, tested_at)."""
    return csv_bytes(header, rows)


def swab(
    barcode: str, resident: Resident, *, pool: object = 10, at: datetime | None = None
) -> list[object]:
    """One sampling-file row, sampled an hour before now by default."""
    moment = at or clock.now() - timedelta(hours=1)
    return [barcode, pool, resident.id_number, local(moment), ""]


def result_row(
    barcode: str,
    result: str = "negative",
    *,
    at: datetime | None = None,
    ct: tuple[object, object] = ("", ""),
    lab: str = LAB_NAME,
) -> list[object]:
    """One result-file row, tested half an hour before now by default."""
    moment = at or clock.now() - timedelta(minutes=30)
    return [barcode, result, ct[0], ct[1], lab, local(moment, "%Y-%m-%d %H:%M:%S")]


def says(key: str, detail: object = "") -> str:
    """A pattern for a refusal's words, Chinese then English (as
    ``InvalidInput`` and the rejects report carry them)."""
    zh, en = reason(key, detail)
    return re.escape(f"{zh} ({en})")
