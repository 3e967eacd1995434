"""What the registry holds for a file of incoming records, for
:func:`fangkong.tracing.matching.match_records`: the persons holding their
identity numbers, those registered with their phones, and those with their
names in their communities, each read by one staged join (``COPY`` on
PostgreSQL) and paired with the records as rule candidates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select, text

from fangkong.bulkio import copy_out, is_postgres, key_text, staged
from fangkong.people.models import Person
from fangkong.tracing.match_rules import (
    PHONE_ID_TYPE,
    Pairs,
    address_agrees,
    text_keys,
)


def np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class Found:
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


def registry_lookups(conn: Connection, records: pa.Table) -> Found:
    """What the registry holds for the records: the persons holding their
    identity numbers (or their phones as identity numbers: persons known by
    a phone alone), the persons with their phones, and those with their
    names in their communities — one staged join each."""
    with _index_lookups(conn):
        ids = records.column("id_number").combine_chunks()
        by_id, held = _holders(conn, ids, _by_number(conn, ids))
        open_ = by_id == 0

        def given(name: str) -> np.ndarray:
            return np_bool(pc.not_equal(records.column(name), ""))

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
    return Found(
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
        documented=np_bool(pc.not_equal(joined.column("id_type"), PHONE_ID_TYPE)),
        same_name=np_bool(same),
        names_agree=np_bool(pc.or_(pc.or_(pc.equal(given, ""), pc.equal(registered, "")), same)),
        address_agrees=agrees,
        keys=pa.table(
            {
                "name_key": registered,
                "region_code": joined.column("region_code"),
                "address_key": address,
            }
        ),
    )
