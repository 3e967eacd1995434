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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor, record_audit
from fangkong.bulkio import copy_in, copy_out, is_postgres, key_text, reserve_ids, staged
from fangkong.errors import InvalidInput
from fangkong.people.models import Address, Person
from fangkong.regions.models import Region
from fangkong.tracing.match_rules import (
    PHONE_ID_TYPE,
    BulkDecision,
    Candidate,
    Decision,
    Incoming,
    Pairs,
    address_agrees,
    check_people,
    decide,
    decide_bulk,
    text_keys,
)


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


def match_one(session: Session, actor: Actor, jurisdiction: str, record: IncomingPerson) -> Match:
    """Match one record, creating a non-resident person when nobody matches.
    Adds to the caller's transaction (no commit). The creation of a person is
    audited here, as ``actor``'s; what the caller then does with the match is
    the caller's to audit. Stores no pending match (the caller keeps it with
    its channel and source). Raises
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
            record_audit(
                session,
                actor,
                "person.create_nonresident",
                "person",
                person.id,
                region,
                {"id_type": person.id_type, "name": person.name},
            )
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
