"""``import_people``: the registry import use case (CLI, web page and API
all call it). Reads and validates the whole file first, then stages the good
rows and merges them in one transaction: the counts are printed only after
that commit, so every acknowledged row is saved, and an interrupted import
leaves nothing half-done (run it again)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow.compute as pc
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, record_audit, record_audits, require
from fangkong.bulkio import analyze_after_bulk, bulk_cache
from fangkong.errors import NotFound
from fangkong.imports import (
    ColumnMap,
    ImportBatch,
    ImportCounts,
    Reject,
    broken_rejects,
    close_batch,
    open_batch,
    rejects_report,
)
from fangkong.people import bulk, duplicates, first_load
from fangkong.people.columns import FIELD_LABELS, map_headers
from fangkong.people.rules import ValidatedRows, validate_rows
from fangkong.regions.models import Region
from fangkong.tabular import StringTable, read_table
from fangkong.tracing.registry_moves import follow_registry_moves

FIRST_LOAD_MIN_ROWS = 20_000  # below this, dropping and rebuilding indexes costs more than it saves


@dataclass
class ImportResult(ImportCounts):
    inserted: int = 0
    updated: int = 0
    duplicate_suspects: int = 0
    risk_records_moved: int = 0  # tracing records that followed a person to a new community


def _community_codes(session: Session) -> np.ndarray:
    codes = session.scalars(select(Region.code).where(Region.level == "village")).all()
    return np.array(sorted(codes), dtype="<U12")


def import_people(
    session: Session,
    actor: Actor,
    data: bytes,
    filename: str,
    *,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import a registry file. Raises :class:`UnreadableFile` when nothing can
    be read; otherwise returns the counts and the rejected rows."""
    require(actor, Permission.REGISTRY_IMPORT)
    bind = session.get_bind()
    if isinstance(bind, Engine):
        # The staging tables are per connection: hold one for the whole import.
        with bind.connect() as connection, Session(bind=connection, expire_on_commit=False) as own:
            return _import(own, actor, data, filename, progress)
    return _import(session, actor, data, filename, progress)


def _import(
    session: Session,
    actor: Actor,
    data: bytes,
    filename: str,
    progress: Callable[[str], None] | None,
) -> ImportResult:
    table = read_table(data, filename)
    columns = map_headers(table.headers)
    batch = open_batch(
        session,
        actor.user_id,
        actor.jurisdiction,
        kind="people",
        data=data,
        filename=filename,
        table=table,
        columns=columns,
    )
    conn = session.connection()
    community_codes = _community_codes(session)
    result = ImportResult(batch_id=batch.id, notices=list(batch.notices))
    now = clock.now()
    try:
        with ThreadPoolExecutor(1) as worker:
            # Validation is pure: it runs while the server reads what the
            # registry holds in the file's communities.
            validating = worker.submit(
                validate_rows,
                table,
                columns,
                community_codes=community_codes,
                jurisdiction=actor.jurisdiction,
                today=clock.today_local(),
            )
            communities = _file_communities(table, columns, community_codes)
            known = bulk.read_known(conn, communities)
            validated = validating.result()
            pairs = (
                worker.submit(duplicates.find_pairs_in_file, validated.clean)
                if known.registry_empty
                else None
            )
            rejects = broken_rejects(table) + validated.rejects
            result.rejected = validated.rejected_rows + len(table.broken)
            bulk.create_touched(conn)
            _merge(session, actor, batch, now, validated, known, result, rejects)
            result.duplicate_suspects = duplicates.flag_duplicate_suspects(
                conn, batch.id, now, pairs_in_file=pairs.result() if pairs else None
            )
        close_batch(
            session,
            batch,
            accepted=result.accepted,
            unchanged=result.unchanged,
            rejects=rejects,
            table=table,
        )
        record_audit(
            session,
            actor,
            "people.import",
            "import_batch",
            batch.id,
            actor.jurisdiction or None,
            {
                "file": filename,
                "sha256": batch.sha256,
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": result.rejected,
                "risk_records_moved": result.risk_records_moved,
            },
        )
        session.commit()  # the one commit: counts are printed only after it
    except BaseException:
        session.rollback()
        raise
    finally:
        bulk.drop_touched(session.connection())
        session.commit()
    if progress:
        progress(f"{result.inserted + result.updated + result.unchanged} rows saved")
    result.rejects = sorted(rejects, key=lambda r: r.row_number)
    return result


def _file_communities(
    table: StringTable, columns: ColumnMap, community_codes: np.ndarray
) -> list[str]:
    """The existing communities the file names, read before validation (so
    a superset of the good rows' communities)."""
    position = columns.positions.get("region_code")
    if position is None:
        return []
    named = pc.unique(pc.utf8_trim_whitespace(table.columns[position]))
    found: list[str] = np.intersect1d(
        named.to_numpy(zero_copy_only=False), community_codes
    ).tolist()
    return found


def _merge(
    session: Session,
    actor: Actor,
    batch: ImportBatch,
    now: datetime,
    validated: ValidatedRows,
    known: bulk.Known,
    result: ImportResult,
    rejects: list[Reject],
) -> None:
    """Merge the good rows with set-based statements."""
    conn = session.connection()
    clean = validated.clean
    relax = known.registry_empty and clean.num_rows >= FIRST_LOAD_MIN_ROWS
    with bulk_cache(conn):
        defaults_preset = relax and first_load.relax_constraints(conn, batch_id=batch.id, now=now)
        outcome = bulk.merge_rows(
            conn,
            clean,
            known,
            jurisdiction=actor.jurisdiction,
            batch_id=batch.id,
            now=now,
            present=validated.present,
            defaults_preset=defaults_preset,
        )
        if relax:
            first_load.restore_constraints(conn)
        analyze_after_bulk(conn, ("person", "address", "household"), outcome.inserted)
    if outcome.changes:
        record_audits(
            session,
            actor,
            "person.update",
            "person",
            (
                (person_id, region, {**diff, "import_batch": batch.id})
                for person_id, region, diff in outcome.changes
            ),
            at=now,
        )
        moved = {
            person_id: (diff["region_code"][0], diff["region_code"][1])
            for person_id, _, diff in outcome.changes
            if "region_code" in diff
        }
        result.risk_records_moved += follow_registry_moves(
            session, actor, moved, import_batch=batch.id, now=now
        )
    if outcome.foreign_rows:
        label = FIELD_LABELS["id_number"]
        ids = dict(
            zip(
                clean.column("row_number").to_pylist(),
                clean.column("id_number").to_pylist(),
                strict=True,
            )
        )
        for row_number in outcome.foreign_rows:
            rejects.append(
                Reject(
                    row_number,
                    f"{label[0]} ({label[1]})",
                    ids[row_number],
                    "此人已在其他辖区登记，不能由本辖区导入修改；如已迁入，请联系原辖区或上级办理迁移",
                    "this person is registered in another jurisdiction; ask that jurisdiction or "
                    "your supervisor to transfer them",
                )
            )
    result.inserted += outcome.inserted
    result.updated += outcome.updated
    result.accepted += outcome.inserted + outcome.updated
    result.unchanged += outcome.unchanged
    result.rejected += len(outcome.foreign_rows)


def rejects_report_rows(
    session: Session, actor: Actor, batch_id: int
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a registry import's rejects report."""
    require(actor, Permission.REGISTRY_IMPORT)
    batch = session.get(ImportBatch, batch_id)
    if (
        batch is None
        or batch.kind != "people"
        or not batch.jurisdiction.startswith(actor.jurisdiction)
    ):
        raise NotFound("import not found")
    return rejects_report(session, batch)
