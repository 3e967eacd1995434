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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.service import Actor, record_audit
from fangkong.bulkio import copy_in, reserve_ids
from fangkong.errors import InvalidInput
from fangkong.people.models import Address, Person
from fangkong.regions.models import Region
from fangkong.tracing.match_lookups import Found, np_bool, registry_lookups
from fangkong.tracing.match_rules import (
    PHONE_ID_TYPE,
    BulkDecision,
    Candidate,
    Decision,
    Incoming,
    Pairs,
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
    found = registry_lookups(conn, records)
    decision = decide_bulk(
        np_bool(pc.not_equal(records.column("id_number"), "")),
        np_bool(pc.not_equal(records.column("region_code"), "")),
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


def _replay_in_file_order(records: pa.Table, decision: BulkDecision, found: Found) -> np.ndarray:
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
    return np_bool(pc.is_in(keys, value_set=pc.unique(shared)))


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
