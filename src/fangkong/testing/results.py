"""Lab results: one by API or many from a lab's file, through the same
:func:`apply_results`.

- A result identical to one already received (same tube, verdict, Ct values,
  lab and time) changes nothing.
- A tube's result is its first negative or positive one; an invalid result
  asks for a re-test, whose result then becomes the tube's.
- A later, different verdict for a tube that has one never overwrites it:
  both results are kept and the tube is flagged (``conflict``) for a person
  to settle with :func:`settle_conflict`.
- Any positive result — even a conflicting one — starts the follow-up at
  once (:mod:`fangkong.testing.followup`): controlling a pool's members on a
  result later found wrong costs hours; missing a true positive costs a
  chain of infections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select, text
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, ensure_in_scope, record_audit, require
from fangkong.bulkio import (
    analyze_after_bulk,
    copy_in,
    copy_out,
    db_time,
    is_postgres,
    key_text,
    lock_for_append,
    reserve_ids,
    staged,
)
from fangkong.errors import Conflict, InvalidInput, NotFound
from fangkong.imports import Reject
from fangkong.testing.followup import follow_up
from fangkong.testing.models import LabResult, Tube
from fangkong.testing.rules import normalize_result, reason

RESULT_ROWS = pa.schema(
    [
        ("row_number", pa.int64()),
        ("barcode", pa.string()),
        ("result", pa.string()),
        ("ct_orf1ab", pa.float64()),
        ("ct_n", pa.float64()),
        ("lab", pa.string()),
        ("tested_at", pa.timestamp("us", "UTC")),
    ]
)
TUBE_SCHEMA = pa.schema(
    [
        ("tube_id", pa.int64()),
        ("barcode", pa.string()),
        ("region_code", pa.string()),
        ("pool_size", pa.int64()),
        ("purpose", pa.string()),
        ("state", pa.string()),
        ("result", pa.string()),
    ]
)
VERDICTS = ("negative", "positive")


@dataclass
class ResultOutcome:
    accepted: int = 0
    unchanged: int = 0
    conflicts: int = 0
    positive_tubes: int = 0
    controlled: int = 0
    rejects: list[Reject] = field(default_factory=list)


def fingerprints(rows: pa.Table) -> pa.Array:
    """Equal for results that say the same thing about the same tube."""

    def text_of(column: str) -> pa.Array:
        values = rows.column(column)
        if pa.types.is_floating(values.type):
            values = pc.round(values, 2)
        return pc.fill_null(pc.cast(values, pa.string()), "")

    return pc.binary_join_element_wise(
        *(text_of(c) for c in ("result", "ct_orf1ab", "ct_n", "lab", "tested_at")), "|"
    )


def _reject(row_number: int, column: str, value: str, key: str) -> Reject:
    zh, en = reason(key)
    return Reject(row_number, column, value, zh, en)


def _known_tubes(conn: Connection, barcodes: pa.Array, jurisdiction: str) -> pa.Table:
    if jurisdiction and not jurisdiction.isdigit():
        raise ValueError(f"not a jurisdiction: {jurisdiction!r}")
    stage = pa.table({"barcode": pc.unique(barcodes)})
    with staged(conn, "stage_barcode", f"barcode {key_text(conn)}", stage):
        return copy_out(
            conn,
            f"""SELECT t.id, t.barcode, t.region_code, t.pool_size, t.purpose, t.state, t.result
            FROM stage_barcode s JOIN tube t ON t.barcode = s.barcode
            WHERE t.region_code LIKE '{jurisdiction}%'""",
            TUBE_SCHEMA,
        )


def _received_fingerprints(conn: Connection, tube_ids: pa.Array) -> set[tuple[int, str]]:
    with staged(
        conn, "stage_tube_id", "tube_id BIGINT", pa.table({"tube_id": pc.unique(tube_ids)})
    ):
        rows = conn.execute(
            text(
                "SELECT r.tube_id, r.fingerprint FROM stage_tube_id s "
                "JOIN lab_result r ON r.tube_id = s.tube_id"
            )
        )
        return {(int(t), str(f)) for t, f in rows}


def apply_results(conn: Connection, actor: Actor, rows: pa.Table, now: datetime) -> ResultOutcome:
    """Record validated result rows (``RESULT_ROWS``) inside the caller's
    transaction and start every follow-up they call for."""
    outcome = ResultOutcome()
    if rows.num_rows == 0:
        return outcome
    lock_for_append(conn, ("lab_result",))
    tubes = _known_tubes(conn, rows.column("barcode"), actor.jurisdiction)
    row_numbers = rows.column("row_number").to_pylist()
    barcodes = rows.column("barcode").to_pylist()
    if tubes.num_rows == 0:  # no tube to take rows from
        pairs = zip(row_numbers, barcodes, strict=True)
        outcome.rejects = [_reject(n, "tube", b, "unknown_tube") for n, b in pairs]
        return outcome
    position = pc.index_in(rows.column("barcode"), value_set=tubes.column("barcode"))
    known = pc.is_valid(position).to_numpy(zero_copy_only=False)
    tube_of = tubes.take(pc.fill_null(position, 0))
    states = tube_of.column("state").to_pylist()
    prints = fingerprints(rows).to_pylist()
    tube_ids = tube_of.column("tube_id").to_pylist()
    seen = _received_fingerprints(conn, pc.filter(tube_of.column("tube_id"), pa.array(known)))
    new_index: list[int] = []
    for i in range(rows.num_rows):
        if not known[i]:
            outcome.rejects.append(_reject(row_numbers[i], "tube", barcodes[i], "unknown_tube"))
        elif states[i] == "open":
            outcome.rejects.append(_reject(row_numbers[i], "tube", barcodes[i], "tube_not_closed"))
        elif (tube_ids[i], prints[i]) in seen:
            outcome.unchanged += 1
        else:
            seen.add((tube_ids[i], prints[i]))
            new_index.append(i)
    if not new_index:
        return outcome
    take = pa.array(new_index, type=pa.int64())
    new = rows.take(take)
    new_tubes = tube_of.take(take)
    _insert_results(conn, new, new_tubes, pc.take(pa.array(prints), take), now)
    outcome.accepted = len(new_index)
    _settle_tubes(conn, new, new_tubes, outcome, now)
    analyze_after_bulk(conn, ("lab_result", "tube"), outcome.accepted)
    return outcome


def _insert_results(
    conn: Connection, new: pa.Table, tubes: pa.Table, prints: pa.Array, now: datetime
) -> None:
    table = pa.table(
        {
            "id": reserve_ids(conn, "lab_result", new.num_rows),
            "tube_id": tubes.column("tube_id"),
            "result": new.column("result"),
            "ct_orf1ab": new.column("ct_orf1ab"),
            "ct_n": new.column("ct_n"),
            "lab": new.column("lab"),
            "tested_at": new.column("tested_at"),
            "fingerprint": prints,
            "region_code": tubes.column("region_code"),
        }
    )
    copy_in(conn, "lab_result", table, {"received_at": now})


def _settle_tubes(
    conn: Connection, new: pa.Table, tubes: pa.Table, outcome: ResultOutcome, now: datetime
) -> None:
    """Each tube's result after the new ones, in the order they were tested."""
    order = pc.sort_indices(
        pa.table({"tube": tubes.column("tube_id"), "at": new.column("tested_at")}),
        sort_keys=[("tube", "ascending"), ("at", "ascending")],
    )
    new, tubes = new.take(order), tubes.take(order)
    current: dict[int, str | None] = {}
    purpose: dict[int, str] = {}
    changes: dict[int, dict[str, object]] = {}
    positives: set[int] = set()
    for tube_id, before, kind, result, tested_at, lab in zip(
        tubes.column("tube_id").to_pylist(),
        tubes.column("result").to_pylist(),
        tubes.column("purpose").to_pylist(),
        new.column("result").to_pylist(),
        new.column("tested_at").to_pylist(),
        new.column("lab").to_pylist(),
        strict=True,
    ):
        now_result = current.setdefault(tube_id, before)
        purpose[tube_id] = kind
        if result == "positive":
            positives.add(tube_id)
        if now_result in (None, "invalid"):
            current[tube_id] = result
            change = changes.setdefault(tube_id, {"conflict": False})
            change.update(result=result, tested_at=tested_at, lab=lab)
        elif result in VERDICTS and result != now_result:  # an invalid re-run contradicts nothing
            changes.setdefault(tube_id, {"conflict": False})["conflict"] = True
    outcome.conflicts = sum(1 for c in changes.values() if c["conflict"])
    _update_tubes(conn, changes, now)
    settled = [t for t, c in changes.items() if "result" in c and purpose[t] == "followup"]
    outcome.positive_tubes = len(positives)
    outcome.controlled = follow_up(conn, sorted(positives), settled, now)


def _update_tubes(conn: Connection, changes: dict[int, dict[str, object]], now: datetime) -> None:
    if not changes:
        return
    stamp = db_time(conn, now)
    with_result = {t: c for t, c in changes.items() if "result" in c}
    if with_result:
        timestamp = "TIMESTAMP WITH TIME ZONE" if is_postgres(conn) else "TIMESTAMP"
        ids = list(with_result)
        rows = pa.table(
            {
                "tube_id": pa.array(ids, pa.int64()),
                "result": pa.array([with_result[t]["result"] for t in ids], pa.string()),
                "tested_at": pa.array(
                    [with_result[t]["tested_at"] for t in ids], pa.timestamp("us", "UTC")
                ),
                "lab": pa.array([with_result[t]["lab"] for t in ids], pa.string()),
                "conflict": pa.array([with_result[t]["conflict"] for t in ids], pa.bool_()),
            }
        )
        columns = (
            f"tube_id BIGINT, result VARCHAR(16), tested_at {timestamp}, lab VARCHAR(100), "
            "conflict BOOLEAN"
        )
        with staged(conn, "stage_tube_result", columns, rows):
            conn.execute(
                text(
                    """UPDATE tube SET result = s.result, tested_at = s.tested_at, lab = s.lab,
                        state = 'tested', result_at = :now,
                        conflict = (tube.conflict OR s.conflict),
                        received_at = COALESCE(tube.received_at, :now)
                    FROM stage_tube_result s WHERE tube.id = s.tube_id"""
                ),
                {"now": stamp},
            )
    flagged = [t for t, c in changes.items() if c["conflict"] and "result" not in c]
    for start in range(0, len(flagged), 1000):
        piece = flagged[start : start + 1000]
        conn.execute(
            text(f"UPDATE tube SET conflict = TRUE WHERE id IN ({', '.join(map(str, piece))})")
        )


def record_lab_result(
    session: Session,
    actor: Actor,
    *,
    barcode: str,
    result: str,
    tested_at: datetime,
    lab: str,
    ct_orf1ab: float | None = None,
    ct_n: float | None = None,
) -> ResultOutcome:
    """One result from a lab's system (the API)."""
    require(actor, Permission.TESTING_RESULTS)
    verdict = normalize_result(result)  # the words a result file may use, too
    if verdict is None:
        zh, en = reason("bad_result")
        raise InvalidInput("result", f"{zh} ({en})")
    result = verdict
    for name, ct in (("ct_orf1ab", ct_orf1ab), ("ct_n", ct_n)):
        if ct is not None and not 0 <= ct <= 50:
            zh, en = reason("bad_ct")
            raise InvalidInput(name, f"{zh} ({en})")
    if tested_at.tzinfo is None:
        raise InvalidInput("tested_at", "give the time zone (e.g. 2022-03-14T08:30:00+08:00)")
    if tested_at > clock.now():
        zh, en = reason("future_time")
        raise InvalidInput("tested_at", f"{zh} ({en})")
    now = clock.now()
    rows = pa.Table.from_pylist(
        [
            {
                "row_number": 1,
                "barcode": barcode.strip(),
                "result": result,
                "ct_orf1ab": ct_orf1ab,
                "ct_n": ct_n,
                "lab": lab.strip(),
                "tested_at": tested_at,
            }
        ],
        schema=RESULT_ROWS,
    )
    outcome = apply_results(session.connection(), actor, rows, now)
    if outcome.rejects:
        reject = outcome.rejects[0]
        if reject.reason_en.startswith("no tube"):
            raise NotFound(f"tube {barcode} not found")
        raise Conflict(f"{reject.reason_zh} ({reject.reason_en})")
    if outcome.accepted:
        record_audit(
            session,
            actor,
            "tube.result",
            "tube",
            barcode.strip(),
            session.scalar(select(Tube.region_code).where(Tube.barcode == barcode.strip())),
            {"result": result, "ct_orf1ab": ct_orf1ab, "ct_n": ct_n, "lab": lab},
        )
    session.commit()
    return outcome


def settle_conflict(session: Session, actor: Actor, *, barcode: str, result_id: int) -> None:
    """A person decides which of a tube's conflicting results stands."""
    require(actor, Permission.TESTING_RESOLVE)
    tube = session.scalar(select(Tube).where(Tube.barcode == barcode.strip()))
    if tube is None:
        raise NotFound(f"tube {barcode} not found")
    ensure_in_scope(actor, tube.region_code, "tube")
    chosen = session.get(LabResult, result_id)
    if chosen is None or chosen.tube_id != tube.id:
        raise InvalidInput("result_id", "not a result of this tube")
    if not tube.conflict:
        raise Conflict("this tube has no conflicting results")
    before = tube.result
    tube.result, tube.tested_at, tube.lab, tube.conflict = (
        chosen.result,
        chosen.tested_at,
        chosen.lab,
        False,
    )
    record_audit(
        session,
        actor,
        "tube.settle_conflict",
        "tube",
        tube.barcode,
        tube.region_code,
        {"result": [before, chosen.result], "lab_result": result_id},
    )
    session.flush()
    # A positive that now stands starts the follow-up if it had not begun; a
    # follow-up tube's task takes the standing result (a negative lifts the
    # control). A pool settled negative keeps its members' controls and
    # tasks: their own single tubes resolve them.
    turned = [tube.id] if chosen.result == "positive" and before != "positive" else []
    settled = [tube.id] if tube.purpose == "followup" else []
    follow_up(session.connection(), turned, settled, clock.now())
    session.commit()


def receive_tubes(session: Session, actor: Actor, *, barcodes: list[str], lab: str) -> int:
    """A lab scans tubes in (collected → received); returns how many changed."""
    require(actor, Permission.TESTING_RESULTS)
    clean = sorted({b.strip() for b in barcodes if b.strip()})
    if not clean:
        raise InvalidInput("barcodes", "no barcode given")
    tubes = session.scalars(select(Tube).where(Tube.barcode.in_(clean))).all()
    found = {t.barcode for t in tubes if t.region_code.startswith(actor.jurisdiction)}
    missing = [b for b in clean if b not in found]
    if missing:
        raise InvalidInput("barcodes", f"unknown tube(s): {', '.join(missing[:10])}")
    now = clock.now()
    changed = 0
    for tube in tubes:
        if tube.state == "collected":
            tube.state, tube.received_at, tube.lab = "received", now, lab.strip()
            changed += 1
    if changed:
        record_audit(
            session,
            actor,
            "tube.receive",
            "lab",
            lab.strip(),
            actor.jurisdiction or None,
            {"tubes": changed},
        )
    session.commit()
    return changed
