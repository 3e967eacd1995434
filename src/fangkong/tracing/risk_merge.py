"""Merging a channel's matched rows into the risk persons and their
sources, for :func:`fangkong.tracing.risk_import.import_risk_persons`: the
plan of :mod:`fangkong.tracing.risk_plan` written set-based (new records by
``COPY`` with reserved ids, changed ones by a staged ``UPDATE``, one source
per report not yet held), and one audit event per existing risk person the
file changed."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, text

from fangkong.access.service import Actor
from fangkong.bulkio import (
    copy_in,
    copy_out,
    is_postgres,
    key_text,
    reserve_ids,
    staged,
)
from fangkong.policy import get_policy
from fangkong.tracing.matching import Matched
from fangkong.tracing.risk_plan import (
    CHANGED,
    RISK_SCHEMA,
    TIMES,
    Changes,
    RiskPlan,
    micros,
    np_bool,
    plan_risks,
    record_changes,
    timestamps,
)

if TYPE_CHECKING:  # the import's result, which the merge fills in
    from fangkong.tracing.risk_import import RiskImportResult


def report_fingerprints(rows: pa.Table, channel: str) -> pa.Array:
    """:func:`~fangkong.tracing.rules.report_fingerprint` of every row: the
    same key text, built over whole columns, hashed once per distinct report
    (a test holds the two equal through ``note_risk_person``)."""
    seconds = pc.cast(rows.column("reported_at"), pa.timestamp("s", "UTC"), safe=False)
    written = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S+00:00")  # isoformat, in UTC
    keys = pc.binary_join_element_wise(
        channel, rows.column("source"), rows.column("category"), written, "\x1f"
    )
    encoded = pc.dictionary_encode(keys).combine_chunks()
    prints = [hashlib.sha256(k.encode()).hexdigest() for k in encoded.dictionary.to_pylist()]
    return pa.array(prints, pa.string()).take(encoded.indices)


def _existing_risks(conn: Connection, persons: np.ndarray) -> pa.Table:
    stage = pa.table({"person_id": pa.array(np.unique(persons), pa.int64())})
    columns = ", ".join(f"r.{name}" for name in RISK_SCHEMA.names)
    with staged(conn, "stage_risk_person", "person_id BIGINT", stage):
        return copy_out(
            conn,
            f"SELECT {columns} FROM stage_risk_person s "
            "JOIN risk_person r ON r.person_id = s.person_id",
            RISK_SCHEMA,
        )


def merge_risks(
    conn: Connection,
    rows: pa.Table,
    matched: Matched,
    channel: str,
    batch_id: int,
    now: datetime,
    result: RiskImportResult,
    jurisdiction: str,
) -> Changes:
    """Upsert the risk persons of the matched rows and add their new
    sources; returns the changes of existing risk persons (for the audit).
    A person registered in another jurisdiction gets the report in their
    own county's list (where they must be found), and the uploader's count
    of new risk persons leaves them out: it must not tell whether that
    county had them already."""
    at = np.flatnonzero(matched.person != 0)
    reports = rows.take(pa.array(at))
    person = matched.person[at]
    plan = plan_risks(
        person,
        np.asarray(reports.column("rank").to_numpy()),
        micros(reports.column("reported_at")),
        micros(reports.column("last_exposure_at")),
        _existing_risks(conn, person),
        now,
        get_policy(),
    )
    fresh = np.flatnonzero(~plan.exists)
    first_record = np.zeros(len(plan.person), np.int64)
    first_record[plan.record_group[::-1]] = np.arange(len(person))[::-1]
    regions = matched.region_code.take(pa.array(at)).to_numpy(zero_copy_only=False)
    plan.new["region_code"][fresh] = regions[first_record[fresh]]
    mine = np.fromiter(
        (str(r).startswith(jurisdiction) for r in regions[first_record[fresh]]), bool, len(fresh)
    )
    result.new_risk_persons = int(mine.sum())
    plan.new["id"][fresh] = np.asarray(reserve_ids(conn, "risk_person", len(fresh)), np.int64)
    with ThreadPoolExecutor(1) as worker:  # hashing while the server inserts
        prints = worker.submit(report_fingerprints, reports, channel)
        _insert_risks(conn, plan, fresh, now)
        _update_risks(conn, plan, now)
        _add_sources(conn, reports, prints.result(), plan, channel, batch_id, now, result)
    return record_changes(plan)


def _insert_risks(conn: Connection, plan: RiskPlan, fresh: np.ndarray, now: datetime) -> None:
    new = {name: values[fresh] for name, values in plan.new.items()}
    table = pa.table(
        {
            "id": pa.array(new["id"], pa.int64()),
            "person_id": pa.array(plan.person[fresh], pa.int64()),
            "region_code": pa.array(new["region_code"], pa.string()),
            "category": pa.array(new["category"], pa.string()),
            "measure": pa.array(new["measure"], pa.string()),
            "last_exposure_at": timestamps(new["last_exposure_at"]),
            "deadline_at": timestamps(new["deadline_at"]),
        }
    )
    constants = {"status": "to_find", "identified_at": now, "updated_at": now}
    copy_in(conn, "risk_person", table, {**constants, "release_reason": ""})


def _update_risks(conn: Connection, plan: RiskPlan, now: datetime) -> None:
    """One ``UPDATE ... FROM`` of the existing risk persons the file changed."""
    if not plan.changed.any():
        return
    columns = {"id": pa.array(plan.new["id"][plan.changed], pa.int64())}
    for name in CHANGED:
        values = plan.new[name][plan.changed]
        columns[name] = timestamps(values) if name in TIMES else pa.array(values, pa.string())
    time_type = "TIMESTAMPTZ" if is_postgres(conn) else "TIMESTAMP"
    definitions = ", ".join(f"{name} {time_type if name in TIMES else 'TEXT'}" for name in CHANGED)
    with staged(conn, "stage_risk_changed", f"id BIGINT, {definitions}", pa.table(columns)):
        sets = ", ".join(f"{name} = c.{name}" for name in CHANGED)
        conn.execute(
            text(
                f"UPDATE risk_person SET {sets}, updated_at = :now "
                "FROM stage_risk_changed c WHERE risk_person.id = c.id"
            ),
            {"now": now if is_postgres(conn) else now.replace(tzinfo=None).isoformat(sep=" ")},
        )


def _add_sources(
    conn: Connection,
    reports: pa.Table,
    prints: pa.Array,
    plan: RiskPlan,
    channel: str,
    batch_id: int,
    now: datetime,
    result: RiskImportResult,
) -> None:
    """A source per report not yet known for its risk person (from before,
    or from an earlier row of the file); the others are unchanged.
    ``prints``: the reports' fingerprints."""
    risk = plan.new["id"][plan.record_group]
    keys = pc.binary_join_element_wise(pc.cast(pa.array(risk), pa.string()), prints, "\x1f")
    codes = np.asarray(pc.dictionary_encode(keys).indices)
    first = np.zeros(len(codes), bool)
    first[np.unique(codes, return_index=True)[1]] = True
    old = plan.exists[plan.record_group]
    if old.any():
        known = _known_sources(conn, pa.array(risk[old], pa.int64()), prints.filter(pa.array(old)))
        seen = np_bool(pc.is_in(keys.filter(pa.array(old)), value_set=known))
        first[np.flatnonzero(old)[seen]] = False
    result.accepted = int(first.sum())
    result.unchanged += len(first) - result.accepted
    take = pa.array(np.flatnonzero(first))
    sources = pa.table(
        {
            "risk_person_id": pa.array(risk, pa.int64()).take(take),
            "region_code": pa.array(plan.new["region_code"][plan.record_group], pa.string()).take(
                take
            ),
            "source": reports.column("source").take(take),
            "category": reports.column("category").take(take),
            "reported_at": reports.column("reported_at").take(take),
            "fingerprint": prints.take(take),
        }
    )
    constants = {"channel": channel, "import_batch_id": batch_id, "received_at": now}
    copy_in(conn, "risk_source", sources, constants)


def _known_sources(conn: Connection, risk: pa.Array, prints: pa.Array) -> pa.Array:
    """The (risk person, fingerprint) keys among these that have a source already."""
    stage = pa.table({"risk_person_id": risk, "fingerprint": prints})
    with staged(
        conn, "stage_source", f"risk_person_id BIGINT, fingerprint {key_text(conn)}", stage
    ):
        found = copy_out(
            conn,
            """SELECT s.risk_person_id, s.fingerprint FROM stage_source s JOIN risk_source r
            ON r.risk_person_id = s.risk_person_id AND r.fingerprint = s.fingerprint""",
            pa.schema([("risk_person_id", pa.int64()), ("fingerprint", pa.string())]),
        )
    return pc.binary_join_element_wise(
        pc.cast(found.column("risk_person_id"), pa.string()), found.column("fingerprint"), "\x1f"
    ).combine_chunks()


def audit_changes(
    conn: Connection, actor: Actor, batch_id: int, now: datetime, changes: Changes
) -> None:
    """One audit event per existing risk person the file changed (COPY)."""
    if not changes:
        return
    events = pa.table(
        {
            "object_id": [str(risk_id) for risk_id, _, _ in changes],
            "region_code": [region for _, region, _ in changes],
            "changes": [
                json.dumps({**diff, "import_batch": batch_id}, ensure_ascii=False)
                for _, _, diff in changes
            ],
        }
    )
    constants: dict[str, object] = {
        "at": now,
        "actor_label": actor.username,
        "action": "risk_person.update",
        "object_type": "risk_person",
    }
    if actor.user_id is not None:
        constants["actor_id"] = actor.user_id
    copy_in(conn, "audit_event", events, constants)
