"""Who is this? Incoming person records (a channel's list, a self-report, an
item of a cross-region request) matched to the registry.

One record goes through :func:`match_one`; a file of them through
:func:`match_records`, which decides the same way for every record at once
(Arrow and NumPy over whole columns, the registry read by staged joins, new
persons written with COPY). Both apply :func:`decide` — the bulk path in its
vectorized form :func:`decide_bulk` — and a property test holds them equal.

The rules, in order; the first rule that finds anyone settles the record
(docs/tracing.md, "Matching incoming records"):

1. **Identity number**: a registered number decides (a person merged into
   another is followed to the one kept).
2. **Phone** (E.164, as the registry stores it), among the persons
   registered with it: exactly one decides when the names agree or either
   is unknown, else the record is pending (``phone_name_differs``); of
   several, the one whose name is the record's decides, else pending
   (``phone_shared``).
3. **Name with address**, when the record has a name, an address and a
   community (its own, else the uploader's): the persons of that community
   with that name whose registered address (building, unit, room) is the
   record's address or its end. One decides; several are pending
   (``name_address_shared``).
4. **Nobody**: a new non-resident person in that community; without a
   community the record is pending (``no_region``).

A record carrying an identity number nobody holds is a person of its own:
persons registered under another document are never its candidates, only
persons known by a phone alone, and it is pending only for ``no_region``.

Names are compared as keys: compatibility forms folded (NFKC), spaces
removed, ASCII letters lower-cased (the same Arrow functions on both paths).

Matching sees the whole registry, so that a person of another county is not
created a second time; callers must not tell their user anything about
persons outside the user's jurisdiction (the file import reports counts).

A new person's identity: the record's number (``resident_id``, or
``other`` for a number that is not digits-only), else ``id_type``
``phone`` with the E.164 phone as the identity number — unique like every
identity number, and what rule 2 finds the person by next time; the ``+``
keeps it apart from any document number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.bulkio import copy_in, copy_out, is_postgres, key_text, reserve_ids, staged
from fangkong.errors import InvalidInput
from fangkong.people.identity import MESSAGES, IdType, Problem, check_identities_bulk
from fangkong.people.models import Address, Person
from fangkong.people.phones import check_phones_bulk
from fangkong.people.rules import ID_TYPE_ALIASES
from fangkong.people.strings import ASCII_SPACE, clean, clean_bulk, full_match
from fangkong.regions.models import Region

PHONE_ID_TYPE = "phone"
MAX_NAME_CHARS = 50
MAX_ADDRESS_CHARS = 200
PENDING_REASONS: dict[str, tuple[str, str]] = {
    "phone_name_differs": (
        "该手机号登记的人姓名不同，请核实是否同一人",
        "the person registered with this phone has another name",
    ),
    "phone_shared": (
        "该手机号登记了多人，姓名无法确定是哪一位",
        "several persons share this phone and the name does not tell which",
    ),
    "name_address_shared": (
        "同一地址有多名同名人员",
        "several persons of this name live at this address",
    ),
    "no_region": (
        "查无此人，且未给出所在社区，无法建档",
        "nobody matches and no community is given to register the person in",
    ),
}


@dataclass(frozen=True)
class IncomingPerson:
    """A person as a channel reports them (cells as typed)."""

    id_number: str
    phone: str
    name: str
    address: str = ""
    region_code: str = ""


@dataclass
class Match:
    person_id: int | None  # None: pending
    created: bool  # a new non-resident person
    pending_reason: str  # a key of PENDING_REASONS, '' when decided
    candidate_ids: list[int]


# --- checking the cells ---------------------------------------------------------


def text_keys(values: pa.Array) -> pa.Array:
    """Comparison keys of names and addresses: NFKC, no spaces, ASCII lower."""
    folded = pc.utf8_normalize(pc.fill_null(values, ""), form="NFKC")
    return pc.ascii_lower(pc.replace_substring_regex(folded, r"[\s\p{Z}]+", ""))


@dataclass(frozen=True)
class Fault:
    """The rows of one column refused for one reason."""

    field: str
    mask: np.ndarray
    words: tuple[str, str]


@dataclass
class CheckedPeople:
    """Person columns checked and normalized (rows with a fault included);
    columns: id_type, id_number ('' none), sex, birth_date, phone ('' none),
    name, name_key, address_key."""

    table: pa.Table
    faults: list[Fault] = field(default_factory=list)


def _id_types(given: pa.Array | None, numbers: pa.Array) -> tuple[pa.Array, Fault | None]:
    """Each row's document type: the ``id_type`` cell (the registry's words),
    else a resident identity number when the number is digits only (an X
    last), else ``other``."""
    shaped = full_match(pc.ascii_upper(clean_bulk(numbers, ASCII_SPACE, clean)), r"[0-9]+X?")
    auto = pa.array(np.where(shaped, IdType.RESIDENT_ID.value, IdType.OTHER.value), pa.string())
    if given is None:
        return auto, None
    keys = pc.utf8_lower(given)
    aliases = pa.array(list(ID_TYPE_ALIASES), pa.string())
    found = pc.index_in(keys, value_set=aliases)
    values = pa.array([t.value for t in ID_TYPE_ALIASES.values()], pa.string())
    named = pc.take(values, pc.fill_null(found, 0))
    empty = pc.equal(keys, "")
    unknown = np.asarray(pc.and_(pc.is_null(found), pc.invert(empty)).to_numpy(False), dtype=bool)
    words = (
        "证件类型不认识，可填：居民身份证、护照、港澳居民来往内地通行证、台湾居民来往大陆通行证、"
        "外国人永久居留身份证、其他",
        "unknown document type",
    )
    return pc.if_else(pc.or_(empty, pc.is_null(found)), auto, named), Fault(
        "id_type", unknown, words
    )


def check_people(
    id_numbers: pa.Array,
    phones: pa.Array,
    names: pa.Array,
    addresses: pa.Array,
    today: date,
    id_types: pa.Array | None = None,
) -> CheckedPeople:
    """Check and normalize trimmed cells, vectorized; every fault names its
    column and says why in Chinese and English (the identity and phone words
    of the registry)."""
    types, type_fault = _id_types(id_types, id_numbers)
    faults = [type_fault] if type_fault else []
    identity = check_identities_bulk(types, id_numbers, today)
    for code in np.unique(identity.problem):
        if code not in (Problem.OK, Problem.EMPTY):
            faults.append(Fault("id_number", identity.problem == code, MESSAGES[Problem(code)]))
    phone = check_phones_bulk(phones)
    faults.append(Fault("phone", phone.problem != Problem.OK, MESSAGES[Problem.BAD_PHONE]))
    id_number = pc.fill_null(identity.normalized, "")
    e164 = pc.fill_null(phone.normalized, "")
    neither = np.asarray(
        pc.and_(pc.equal(id_number, ""), pc.equal(e164, "")).to_numpy(False), dtype=bool
    )
    no_input = np.asarray(
        pc.and_(pc.equal(id_numbers, ""), pc.equal(phones, "")).to_numpy(False), dtype=bool
    )
    faults.append(
        Fault(
            "id_number",
            neither & no_input,
            ("证件号码和手机号不能都为空", "an identity number or a phone is needed"),
        )
    )
    faults.append(_too_long("name", names, MAX_NAME_CHARS))
    faults.append(_too_long("address", addresses, MAX_ADDRESS_CHARS))
    resident = pc.equal(types, IdType.RESIDENT_ID.value)
    sex = pc.if_else(resident, pa.array(identity.sex, pa.string()), "")
    table = pa.table(
        {
            "id_type": pc.if_else(pc.equal(id_number, ""), PHONE_ID_TYPE, types),
            "id_number": id_number,
            "sex": sex,
            "birth_date": pa.array(identity.birth_date, pa.date32()),
            "phone": e164,
            "name": names,
            "name_key": text_keys(names),
            "address_key": text_keys(addresses),
        }
    )
    return CheckedPeople(table, faults)


def _too_long(column: str, values: pa.Array, limit: int) -> Fault:
    mask = np.asarray(pc.greater(pc.utf8_length(values), limit).to_numpy(False), dtype=bool)
    return Fault(column, mask, (f"内容超过 {limit} 个字", f"longer than {limit} characters"))


# --- the rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """One checked record; ``region_code`` is the community a new person
    would be registered in ('' when none is known)."""

    id_number: str
    phone: str
    name_key: str
    address_key: str
    region_code: str
    name: str = ""  # as typed (trimmed): rule 3 looks up this and the key


@dataclass(frozen=True)
class Candidate:
    person_id: int
    documented: bool  # registered under a document, not a phone alone
    name_key: str
    region_code: str = ""
    address_key: str = ""  # building, unit and room as one key


@dataclass(frozen=True)
class Decision:
    person_id: int | None = None
    pending: str = ""
    candidates: tuple[int, ...] = ()

    @property
    def create(self) -> bool:
        return self.person_id is None and not self.pending


def names_agree(given: str, registered: str) -> bool:
    """Rule 2's test for the only person on a phone: same name, or a name unknown."""
    return not given or not registered or given == registered


def address_agrees(given: str, registered: str) -> bool:
    """The registered address is the record's, or its end not cut inside a
    number ('幸福里3号楼1单元101' ends with '3号楼1单元101'; '1101' does not
    end with the house '101')."""
    if not registered or not given.endswith(registered):
        return False
    before = given[: len(given) - len(registered)]
    return not before or not before[-1].isdigit()


def decide(
    record: Incoming,
    by_id: int | None,
    by_phone: Sequence[Candidate],
    by_name: Sequence[Candidate],
) -> Decision:
    """The rules (module docstring) for one record: ``by_id`` the person
    holding its identity number, ``by_phone`` the persons with its phone,
    ``by_name`` the persons with its name in its community."""
    if by_id is not None:
        return Decision(by_id)
    documented = bool(record.id_number)
    phone = [c for c in by_phone if not (documented and c.documented)]
    if documented:
        agreeing = [c.person_id for c in phone if names_agree(record.name_key, c.name_key)]
        if len(agreeing) == 1:
            return Decision(agreeing[0])
    elif len(phone) == 1:
        if names_agree(record.name_key, phone[0].name_key):
            return Decision(phone[0].person_id)
        return Decision(pending="phone_name_differs", candidates=(phone[0].person_id,))
    elif phone:
        same = [c.person_id for c in phone if record.name_key and c.name_key == record.name_key]
        if len(same) == 1:
            return Decision(same[0])
        return Decision(
            pending="phone_shared", candidates=tuple(sorted(c.person_id for c in phone))
        )
    at_address = sorted(
        c.person_id
        for c in by_name
        if record.name_key
        and record.region_code
        and c.region_code == record.region_code
        and c.name_key == record.name_key
        and not (documented and c.documented)
        and address_agrees(record.address_key, c.address_key)
    )
    if len(at_address) == 1:
        return Decision(at_address[0])
    if at_address and not documented:
        return Decision(pending="name_address_shared", candidates=tuple(at_address))
    return Decision() if record.region_code else Decision(pending="no_region")


@dataclass
class Pairs:
    """Record-candidate pairs from a lookup: the record's index, the person,
    whether they hold a document, their keys, and the comparisons rules 2
    and 3 make (the same functions as :func:`decide`)."""

    record: np.ndarray
    person: np.ndarray
    documented: np.ndarray
    same_name: np.ndarray  # the record has a name and it is the person's
    names_agree: np.ndarray  # the same, or either name unknown
    address_agrees: np.ndarray
    keys: pa.Table  # name_key, region_code, address_key of the person

    def keep(self, mask: np.ndarray) -> Pairs:
        return Pairs(
            self.record[mask],
            self.person[mask],
            self.documented[mask],
            self.same_name[mask],
            self.names_agree[mask],
            self.address_agrees[mask],
            self.keys.filter(pa.array(mask, pa.bool_())),
        )


@dataclass
class BulkDecision:
    """Per record: the person (0: none; below 0: a person the file creates),
    the pending reason ('' when decided) and a pending record's candidates."""

    person: np.ndarray
    pending: np.ndarray
    candidates: dict[int, tuple[int, ...]]

    def create(self) -> np.ndarray:
        return np.asarray((self.person == 0) & (self.pending == ""), dtype=bool)


def _pick(n: int, pairs: Pairs, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: how many pairs carry ``flag``, and the (largest) person among them."""
    count = np.bincount(pairs.record[flag], minlength=n)
    person = np.zeros(n, np.int64)
    np.maximum.at(person, pairs.record[flag], pairs.person[flag])
    return count, person


def decide_bulk(
    documented: np.ndarray,
    has_region: np.ndarray,
    by_id: np.ndarray,
    phone: Pairs,
    name: Pairs,
) -> BulkDecision:
    """:func:`decide` for every record at once. ``by_id``: the person holding
    each record's identity number (0: none); ``name``: rule 3's pairs, only
    for records with a name, an address and a community."""
    n = len(by_id)
    person = by_id.copy()
    pending = np.full(n, "", dtype=object)
    shown: dict[int, tuple[int, ...]] = {}
    phone = phone.keep((person[phone.record] == 0) & ~(documented[phone.record] & phone.documented))
    count, anyone = _pick(n, phone, np.ones(len(phone.record), bool))
    agree_count, agreeing = _pick(n, phone, phone.names_agree)
    same_count, same = _pick(n, phone, phone.same_name)
    one = ~documented & (count == 1)
    many = ~documented & (count > 1)
    person = np.where(documented & (agree_count == 1), agreeing, person)
    person = np.where(one & (agree_count == 1), anyone, person)
    person = np.where(many & (same_count == 1), same, person)
    pending[one & (agree_count == 0)] = "phone_name_differs"
    pending[many & (same_count != 1)] = "phone_shared"
    shown.update(_candidates(phone, pending != ""))

    open_ = (person == 0) & (pending == "")
    name = name.keep(open_[name.record] & ~(documented[name.record] & name.documented))
    name = name.keep(name.address_agrees)
    at_count, at = _pick(n, name, np.ones(len(name.record), bool))
    person = np.where(open_ & (at_count == 1), at, person)
    shared = open_ & ~documented & (at_count > 1)
    pending[shared] = "name_address_shared"
    shown.update(_candidates(name, shared))
    pending[(person == 0) & (pending == "") & ~has_region] = "no_region"
    return BulkDecision(person, pending, shown)


def _candidates(pairs: Pairs, records: np.ndarray) -> dict[int, tuple[int, ...]]:
    kept = pairs.keep(records[pairs.record])
    found: dict[int, list[int]] = defaultdict(list)
    for record, person in zip(kept.record.tolist(), kept.person.tolist(), strict=True):
        found[record].append(person)
    return {record: tuple(sorted(set(people))) for record, people in found.items()}


# --- one record ----------------------------------------------------------------------


def match_one(session: Session, jurisdiction: str, record: IncomingPerson) -> Match:
    """Match one record, creating a non-resident person when nobody matches.
    Adds to the caller's transaction (no commit, no audit: the caller's
    service records what it did with the match) and stores no pending match
    (the caller keeps it with its channel and source). Raises
    ``InvalidInput`` naming the field for a malformed identity number, phone,
    name, address or community."""

    def cell(value: str) -> pa.Array:
        return pa.array([value.strip()], pa.string())

    checked = check_people(
        cell(record.id_number),
        cell(record.phone),
        cell(record.name),
        cell(record.address),
        clock.today_local(),
    )
    for fault in checked.faults:
        if fault.mask[0]:
            raise InvalidInput(fault.field, f"{fault.words[0]} ({fault.words[1]})")
    region = resolve_region(session, jurisdiction, record.region_code.strip())
    row = checked.table.to_pylist()[0]
    incoming = _incoming({**row, "region_code": region})
    for attempt in (1, 2):
        decision = _decide_one(session, incoming)
        if decision.pending:
            return Match(None, False, decision.pending, list(decision.candidates))
        if decision.person_id is not None:
            return Match(decision.person_id, False, "", [])
        try:
            with session.begin_nested():
                person = _new_person(row, region)
                session.add(person)
            return Match(person.id, True, "", [])
        except IntegrityError:  # created meanwhile by another transaction: match again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def resolve_region(session: Session, jurisdiction: str, given: str) -> str:
    """The community a new person would be registered in: the one given
    (an existing community inside the jurisdiction), else the uploader's
    jurisdiction when that is a community, else ''."""
    communities = select(Region.code).where(Region.level == "village")
    if given:
        if session.scalar(communities.where(Region.code == given)) is None:
            raise InvalidInput(
                "region_code", "区划代码不是已知的村（社区）代码 (not a known community)"
            )
        if not given.startswith(jurisdiction):
            raise InvalidInput(
                "region_code", f"该社区不在您的辖区（{jurisdiction}）内 (outside your jurisdiction)"
            )
        return given
    found = session.scalar(communities.where(Region.code == jurisdiction))
    return found or ""


def _decide_one(session: Session, record: Incoming) -> Decision:
    by_id = None
    if record.id_number:
        row = session.execute(
            select(Person.id, Person.merged_into_id).where(Person.id_number == record.id_number)
        ).first()
        by_id = None if row is None else (row.merged_into_id or row.id)
    by_phone: list[Candidate] = []
    if by_id is None and record.phone:
        on_phone = select(Person.id, Person.id_type, Person.name, Person.region_code).where(
            Person.merged_into_id.is_(None),
            or_(
                Person.phone == record.phone,
                (Person.id_type == PHONE_ID_TYPE) & (Person.id_number == record.phone),
            ),
        )
        by_phone = _as_candidates(session.execute(on_phone).all())
    by_name: list[Candidate] = []
    if by_id is None and record.name_key and record.address_key and record.region_code:
        named = (
            select(
                Person.id,
                Person.id_type,
                Person.name,
                Person.region_code,
                Address.building,
                Address.unit,
                Address.room,
            )
            .outerjoin(Address, Address.id == Person.address_id)
            .where(
                Person.merged_into_id.is_(None),
                Person.region_code == record.region_code,
                Person.name.in_({record.name, record.name_key} - {""}),
            )
        )
        by_name = _as_candidates(session.execute(named).all())
    return decide(record, by_id, by_phone, by_name)


def _incoming(row: dict[str, Any]) -> Incoming:
    """A checked row (:class:`CheckedPeople` columns and ``region_code``)."""
    return Incoming(
        row["id_number"],
        row["phone"],
        row["name_key"],
        row["address_key"],
        row["region_code"],
        row["name"],
    )


def _as_candidates(rows: Sequence[Any]) -> list[Candidate]:
    """Candidates from (id, id_type, name, region_code[, building, unit, room]) rows."""
    tuples = [tuple(row) for row in rows]
    if not tuples:
        return []
    names = text_keys(pa.array([t[2] for t in tuples], pa.string())).to_pylist()
    addresses = text_keys(pa.array(["".join(p or "" for p in t[4:7]) for t in tuples])).to_pylist()
    return [
        Candidate(int(t[0]), t[1] != PHONE_ID_TYPE, name, str(t[3]), address)
        for t, name, address in zip(tuples, names, addresses, strict=True)
    ]


def _new_person(row: dict[str, object], region_code: str) -> Person:
    now = clock.now()
    return Person(
        id_type=row["id_type"],
        id_number=row["id_number"] or row["phone"],
        name=row["name"],
        sex=row["sex"] or None,
        birth_date=row["birth_date"],
        phone=row["phone"] or None,
        region_code=region_code,
        relation="",
        resident=False,
        created_at=now,
        updated_at=now,
    )


# --- a file of records ---------------------------------------------------------------


@dataclass
class Matched:
    """Per record: its person (0 while pending), the person's community
    ('' while pending), whether this record created the person, the pending
    reason ('' when decided) and the candidates of each pending record."""

    person: np.ndarray
    region_code: pa.Array
    created: np.ndarray
    pending: np.ndarray
    candidates: dict[int, tuple[int, ...]]


def match_records(
    conn: Connection, records: pa.Table, *, batch_id: int | None, now: datetime
) -> Matched:
    """Match checked records (the :class:`CheckedPeople` columns plus
    ``region_code``, the community a new person goes to, in file order) as
    :func:`match_one` would one after the other, and create the new persons
    with COPY. The caller holds the person table's append lock
    (``bulkio.lock_for_append``): the new ids are reserved."""
    found = _lookups(conn, records)
    decision = decide_bulk(
        _np_bool(pc.not_equal(records.column("id_number"), "")),
        _np_bool(pc.not_equal(records.column("region_code"), "")),
        found.by_id,
        found.phone,
        found.name,
    )
    created = _replay_in_file_order(records, decision, found)
    creators = np.flatnonzero(created)
    new_ids = _create_persons(conn, records.take(pa.array(creators)), batch_id, now)

    def real(person: np.ndarray) -> np.ndarray:
        new = person < 0
        out = person.copy()
        out[new] = new_ids[np.searchsorted(creators, -person[new] - 1)]
        return out

    person = real(decision.person)
    candidates = {
        i: tuple(sorted(real(np.array(people, np.int64)).tolist()))
        for i, people in decision.candidates.items()
        if decision.pending[i]
    }
    known = pc.take(
        found.regions.column("region_code"),
        pc.index_in(pa.array(person), value_set=found.regions.column("person_id")),
    )
    regions = pc.fill_null(
        pc.if_else(pa.array(decision.person < 0), records.column("region_code"), known), ""
    )
    return Matched(person, regions, created, decision.pending, candidates)


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class _Found:
    by_id: np.ndarray  # the person holding each record's identity number, 0 none
    phone: Pairs
    name: Pairs
    regions: pa.Table  # person_id, region_code of every person found


NUMBERS = pa.schema(
    [
        ("key", pa.string()),
        ("person_id", pa.int64()),
        ("id_type", pa.string()),
        ("name", pa.string()),
        ("region_code", pa.string()),
        ("phone", pa.string()),
        ("merged_into_id", pa.int64()),
    ]
)
CANDIDATES = pa.schema(
    [
        ("key", pa.string()),
        ("person_id", pa.int64()),
        ("id_type", pa.string()),
        ("name", pa.string()),
        ("region_code", pa.string()),
        ("building", pa.string()),
        ("unit", pa.string()),
        ("room", pa.string()),
    ]
)
PERSON_COLUMNS = "p.id, p.id_type, p.name, p.region_code"
# The registry's indexes are in memory while a file is matched; PostgreSQL's
# default random_page_cost (4, for spinning disks) makes the planner read all
# of the persons for a few thousand keys (1 million persons, 10,000 phones:
# 0.24 s by a full scan, 0.06 s by the index).
LOOKUP_SETTINGS = {"random_page_cost": "1.1"}


@contextmanager
def _index_lookups(conn: Connection) -> Iterator[None]:
    """PostgreSQL plans the lookups with ``LOOKUP_SETTINGS``; the
    transaction's own settings come back afterwards."""
    if not is_postgres(conn):
        yield
        return
    before = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in LOOKUP_SETTINGS}
    for name, value in LOOKUP_SETTINGS.items():
        conn.execute(text(f"SET LOCAL {name} = '{value}'"))
    try:
        yield
    finally:
        for name, value in before.items():
            conn.execute(text(f"SET LOCAL {name} = '{value}'"))


def _lookups(conn: Connection, records: pa.Table) -> _Found:
    """What the registry holds for the records: the persons holding their
    identity numbers (or their phones as identity numbers: persons known by
    a phone alone), the persons with their phones, and those with their
    names in their communities — one staged join each."""
    with _index_lookups(conn):
        ids = records.column("id_number").combine_chunks()
        by_id, held = _holders(conn, ids, _by_number(conn, ids))
        open_ = by_id == 0

        def given(name: str) -> np.ndarray:
            return _np_bool(pc.not_equal(records.column(name), ""))

        phoned = open_ & given("phone")
        named = open_ & given("name_key") & given("address_key") & given("region_code")
        open_phones = records.column("phone").filter(pa.array(phoned)).combine_chunks()
        phones = pa.concat_tables(
            [
                _phone_candidates(conn, open_phones),
                _known_by_phone(_by_number(conn, open_phones)),
            ]
        )
        names = _name_candidates(conn, records.filter(pa.array(named)))
    regions = pa.concat_tables(
        [t.select(["person_id", "region_code"]) for t in (held, phones, names)]
    )
    return _Found(
        by_id,
        _pairs(records.column("phone"), records, phones, phoned, with_address=False),
        _pairs(_name_keys(records), records, names, named, with_address=True),
        regions,
    )


def _by_number(conn: Connection, keys: pa.Array) -> pa.Table:
    """The persons whose identity number is one of ``keys`` (the records'
    identity numbers, or phones: persons known by a phone alone)."""
    stage = pa.table({"id_number": pc.unique(pc.filter(keys, pc.not_equal(keys, "")))})
    with staged(conn, "stage_match_number", f"id_number {key_text(conn)}", stage):
        return copy_out(
            conn,
            """SELECT s.id_number, p.id, p.id_type, p.name, p.region_code, p.phone,
                p.merged_into_id
            FROM stage_match_number s JOIN person p ON p.id_number = s.id_number""",
            NUMBERS,
        )


def _holders(conn: Connection, ids: pa.Array, numbers: pa.Table) -> tuple[np.ndarray, pa.Table]:
    """The person holding each record's identity number (0: none) — a
    merged person's number leads to the person kept — with their community."""
    merged = pc.is_valid(numbers.column("merged_into_id"))
    kept = numbers.filter(pc.invert(merged)).select(["key", "person_id", "region_code"])
    followed = numbers.filter(merged)
    if followed.num_rows:
        targets = followed.column("merged_into_id").to_pylist()
        rows = conn.execute(
            select(Person.id, Person.region_code).where(Person.id.in_(targets))
        ).all()
        region_of = {int(person): str(region) for person, region in rows}
        followed = pa.table(
            {
                "key": followed.column("key"),
                "person_id": followed.column("merged_into_id"),
                "region_code": pa.array([region_of[t] for t in targets], pa.string()),
            }
        )
        kept = pa.concat_tables([kept, followed.cast(kept.schema)])
    where = pc.index_in(ids, value_set=kept.column("key").combine_chunks())
    person = pc.fill_null(pc.take(kept.column("person_id"), where), 0)
    return np.asarray(person.to_numpy(zero_copy_only=False), np.int64), kept


def _known_by_phone(numbers: pa.Table) -> pa.Table:
    """Persons known by a phone alone (their identity number) whose phone
    was changed since: candidates for that first phone too."""
    alone = pc.and_(
        pc.equal(numbers.column("id_type"), PHONE_ID_TYPE),
        pc.is_null(numbers.column("merged_into_id")),
    )
    moved = pc.or_kleene(
        pc.is_null(numbers.column("phone")),
        pc.not_equal(numbers.column("phone"), numbers.column("key")),
    )
    found = numbers.filter(pc.and_(alone, moved))
    nothing = pa.nulls(found.num_rows, pa.string())
    return pa.table(
        {
            **{c: found.column(c) for c in ("key", "person_id", "id_type", "name", "region_code")},
            "building": nothing,
            "unit": nothing,
            "room": nothing,
        },
        schema=CANDIDATES,
    )


def _phone_candidates(conn: Connection, phones: pa.Array) -> pa.Table:
    """The persons registered with the phones."""
    stage = pa.table({"phone": pc.unique(phones)})
    with staged(conn, "stage_match_phone", f"phone {key_text(conn)}", stage):
        return copy_out(
            conn,
            f"""SELECT s.phone, {PERSON_COLUMNS}, NULL, NULL, NULL FROM stage_match_phone s
            JOIN person p ON p.phone = s.phone AND p.merged_into_id IS NULL""",
            CANDIDATES,
        )


def _name_keys(records: pa.Table) -> pa.Array:
    """Rule 3's join key of each record: its community and its name key."""
    return pc.binary_join_element_wise(
        records.column("region_code"), records.column("name_key"), "\x1f"
    )


def _name_candidates(conn: Connection, rows: pa.Table) -> pa.Table:
    """The persons of the records' communities with their names (as typed
    or as keys), with their addresses; each once."""
    regions = rows.column("region_code").combine_chunks()
    stage = (
        pa.table(
            {
                "region_code": pa.concat_arrays([regions, regions]),
                "name": pa.concat_arrays(
                    [rows.column("name").combine_chunks(), rows.column("name_key").combine_chunks()]
                ),
            }
        )
        .group_by(["region_code", "name"], use_threads=False)
        .aggregate([])
    )
    text = key_text(conn)
    with staged(conn, "stage_match_name", f"region_code {text}, name {text}", stage):
        found = copy_out(
            conn,
            f"""SELECT '', {PERSON_COLUMNS}, a.building, a.unit, a.room
            FROM stage_match_name s
            JOIN person p ON p.name = s.name AND p.region_code = s.region_code
                AND p.merged_into_id IS NULL
            LEFT JOIN address a ON a.id = p.address_id""",
            CANDIDATES,
        )
    first = np.unique(np.asarray(found.column("person_id").to_numpy()), return_index=True)[1]
    found = found.take(pa.array(first))
    keys = pc.binary_join_element_wise(
        found.column("region_code"), text_keys(found.column("name")), "\x1f"
    )
    return found.set_column(0, "key", keys)


def _pairs(
    keys: pa.ChunkedArray | pa.Array,
    records: pa.Table,
    found: pa.Table,
    mask: np.ndarray,
    *,
    with_address: bool,
) -> Pairs:
    """The records under ``mask`` joined to the persons ``found`` on ``keys``,
    with rule 2's name comparisons and rule 3's address comparison."""
    left = pa.table(
        {
            "key": keys,
            "record": pa.array(np.arange(records.num_rows), pa.int64()),
            "record_name": records.column("name_key"),
            "record_address": records.column("address_key"),
        }
    ).filter(pa.array(mask))
    joined = left.join(found, "key", join_type="inner", use_threads=False)
    registered = text_keys(joined.column("name").combine_chunks())
    given = joined.column("record_name").combine_chunks()
    parts = [pc.fill_null(joined.column(c), "") for c in ("building", "unit", "room")]
    address = text_keys(pc.binary_join_element_wise(*parts, "").combine_chunks())
    agrees = np.zeros(joined.num_rows, bool)
    if with_address:
        given_address = joined.column("record_address").to_pylist()
        agrees[:] = [
            address_agrees(g, r) for g, r in zip(given_address, address.to_pylist(), strict=True)
        ]
    same = pc.and_(pc.not_equal(given, ""), pc.equal(given, registered))
    return Pairs(
        record=np.asarray(joined.column("record").to_numpy(), np.int64),
        person=np.asarray(joined.column("person_id").to_numpy(), np.int64),
        documented=_np_bool(pc.not_equal(joined.column("id_type"), PHONE_ID_TYPE)),
        same_name=_np_bool(same),
        names_agree=_np_bool(pc.or_(pc.or_(pc.equal(given, ""), pc.equal(registered, "")), same)),
        address_agrees=agrees,
        keys=pa.table(
            {
                "name_key": registered,
                "region_code": joined.column("region_code"),
                "address_key": address,
            }
        ),
    )


def _replay_in_file_order(records: pa.Table, decision: BulkDecision, found: _Found) -> np.ndarray:
    """Decide again, one after the other, the records whose outcome a person
    created earlier in the same file can change — those sharing an identity
    number or a phone with a record that creates someone (rule 3 cannot see
    new persons: they have no registered address) — so the file ends as
    :func:`match_one` over its rows in order would. The others keep their
    bulk decision. A new person's temporary id is minus one minus the index
    of the record creating it; returns which records create a person."""
    creates = decision.create()
    affected = _shares_key(records.column("id_number"), creates) | _shares_key(
        records.column("phone"), creates
    )
    created: np.ndarray = creates & ~affected
    decision.person[created] = -(np.flatnonzero(created) + 1)
    todo = np.flatnonzero(affected)
    phone_of, name_of = _by_record(found.phone, todo), _by_record(found.name, todo)
    new_ids: dict[str, int] = {}
    new_phones: dict[str, list[Candidate]] = defaultdict(list)
    for i, row in zip(todo.tolist(), records.take(pa.array(todo)).to_pylist(), strict=True):
        record = _incoming(row)
        holder = int(found.by_id[i]) or new_ids.get(record.id_number, 0)
        by_phone = phone_of.get(i, []) + new_phones.get(record.phone, [])
        outcome = decide(record, holder or None, by_phone, name_of.get(i, []))
        decision.pending[i] = outcome.pending
        decision.candidates.pop(i, None)
        decision.person[i] = outcome.person_id or 0
        if outcome.pending:
            decision.candidates[i] = outcome.candidates
        elif outcome.create:
            created[i] = True
            decision.person[i] = -(i + 1)
            if record.id_number:
                new_ids[record.id_number] = -(i + 1)
            if record.phone:
                new_phones[record.phone].append(
                    Candidate(-(i + 1), bool(record.id_number), record.name_key, record.region_code)
                )
    return created


def _shares_key(keys: pa.ChunkedArray, creates: np.ndarray) -> np.ndarray:
    """Records whose key (not empty) is that of a record creating a person
    and occurs more than once in the file."""
    keys = keys.combine_chunks()
    counts = pc.value_counts(keys)
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    shared = pc.filter(keys, pa.array(creates))
    shared = pc.filter(
        shared, pc.and_(pc.is_in(shared, value_set=repeated), pc.not_equal(shared, ""))
    )
    return _np_bool(pc.is_in(keys, value_set=pc.unique(shared)))


def _by_record(pairs: Pairs, records: np.ndarray) -> dict[int, list[Candidate]]:
    """The pairs of ``records`` as candidate lists for :func:`decide`."""
    kept = pairs.keep(np.isin(pairs.record, records))
    found: dict[int, list[Candidate]] = defaultdict(list)
    rows = zip(
        kept.record.tolist(),
        kept.person.tolist(),
        kept.documented.tolist(),
        kept.keys.column("name_key").to_pylist(),
        kept.keys.column("region_code").to_pylist(),
        kept.keys.column("address_key").to_pylist(),
        strict=True,
    )
    for record, person, documented, name, region, address in rows:
        found[record].append(Candidate(person, documented, name, region, address))
    return found


def _create_persons(
    conn: Connection, rows: pa.Table, batch_id: int | None, now: datetime
) -> np.ndarray:
    """Append the new non-resident persons (one per row) and return their ids."""
    ids = reserve_ids(conn, "person", rows.num_rows)
    if rows.num_rows:
        id_number, phone = rows.column("id_number"), rows.column("phone")
        no_phone, no_sex = pc.equal(phone, ""), pc.equal(rows.column("sex"), "")
        person = pa.table(
            {
                "id": ids,
                "id_type": rows.column("id_type"),
                "id_number": pc.if_else(pc.equal(id_number, ""), phone, id_number),
                "name": rows.column("name"),
                "sex": pc.if_else(no_sex, pa.scalar(None, pa.string()), rows.column("sex")),
                "birth_date": rows.column("birth_date"),
                "phone": pc.if_else(no_phone, pa.scalar(None, pa.string()), phone),
                "region_code": rows.column("region_code"),
            }
        )
        constants: dict[str, object] = {
            "relation": "",
            "resident": False,
            "created_at": now,
            "updated_at": now,
        }
        if batch_id is not None:
            constants["import_batch_id"] = batch_id
        copy_in(conn, "person", person, constants)
    return np.asarray(ids.to_numpy(), np.int64)
