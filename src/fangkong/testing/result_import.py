"""``import_results``: a lab's result file (one row per tube), through the
same :func:`fangkong.testing.results.apply_results` as the API. One
transaction: when the counts are printed, every positive pool's members are
already under control with a task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from fangkong import clock
from fangkong.access.rules import Permission
from fangkong.access.service import Actor, require
from fangkong.config import get_settings
from fangkong.imports import (
    CellCheck,
    ImportCounts,
    Reject,
    broken_rejects,
    empty_cells,
    finish_import,
    map_columns,
    open_batch,
    parse_local_times,
    true_where,
)
from fangkong.tabular import StringTable, read_table
from fangkong.testing.results import RESULT_ROWS, apply_results
from fangkong.testing.rules import CT_RANGE, RESULT_ALIASES, reason

RESULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "tube": ("试管条码", "tube", "管码", "条码", "试管编号", "barcode", "tube_barcode"),
    "result": ("检测结果", "result", "结果"),
    "ct_orf1ab": ("ORF1ab基因Ct值", "ct_orf1ab", "orf1ab", "ORF1ab"),
    "ct_n": ("N基因Ct值", "ct_n", "N"),
    "lab": ("检测机构", "lab", "实验室", "laboratory"),
    "tested_at": ("检测时间", "tested_at", "报告时间", "test_time"),
}
REQUIRED = ("tube", "result", "tested_at")


@dataclass
class ResultImportResult(ImportCounts):
    conflicts: int = 0
    positive_tubes: int = 0
    controlled: int = 0

    def more_counts(self) -> dict[str, int]:
        return {
            "conflicts": self.conflicts,
            "positive tubes": self.positive_tubes,
            "newly controlled": self.controlled,
        }


def _cells(table: StringTable, positions: dict[str, int]) -> tuple[pa.Table, list[Reject]]:
    """The rows whose cells all make sense, as ``RESULT_ROWS``, and a reject
    for every other."""
    check = CellCheck(table, positions)

    def refuse(mask: np.ndarray, column: str, values: pa.Array, key: str) -> None:
        check.refuse(mask, column, values, reason(key))

    barcode = check.text("tube")
    refuse(empty_cells(barcode), "tube", barcode, "required")
    raw_result = check.text("result")
    aliases = pa.array(list(RESULT_ALIASES), pa.string())
    verdicts = pa.array(list(RESULT_ALIASES.values()), pa.string())
    position = pc.index_in(pc.utf8_lower(raw_result), value_set=aliases)
    refuse(true_where(pc.is_null(position)), "result", raw_result, "bad_result")
    result = pc.take(verdicts, pc.fill_null(position, 0))
    cts = {}
    for name in ("ct_orf1ab", "ct_n"):
        raw = check.text(name)
        empty = empty_cells(raw)
        parsed = _floats(raw)
        out_of_range = ~empty & (np.isnan(parsed) | (parsed < CT_RANGE[0]) | (parsed > CT_RANGE[1]))
        refuse(out_of_range, name, raw, "bad_ct")
        cts[name] = pa.array(
            np.where(empty | out_of_range, np.nan, parsed), pa.float64(), from_pandas=True
        )
    time_text = check.text("tested_at")
    tested_at = parse_local_times(time_text, get_settings().timezone)
    refuse(empty_cells(time_text), "tested_at", time_text, "required")
    refuse(true_where(pc.is_null(tested_at)), "tested_at", time_text, "bad_time")
    now = pa.scalar(clock.now(), pa.timestamp("us", "UTC"))
    refuse(true_where(pc.greater(tested_at, now)), "tested_at", time_text, "future_time")
    rows = pa.table(
        {
            "row_number": pa.array(table.row_numbers, pa.int64()),
            "barcode": barcode,
            "result": result,
            "ct_orf1ab": cts["ct_orf1ab"],
            "ct_n": cts["ct_n"],
            "lab": check.text("lab"),
            "tested_at": tested_at,
        },
        schema=RESULT_ROWS,
    )
    return rows.filter(pa.array(~check.bad)), check.rejects


def _floats(values: pa.Array) -> np.ndarray:
    """Each cell as a number, NaN where it is not one."""
    numeric = pc.match_substring_regex(values, r"^[+-]?(\d+\.?\d*|\.\d+)$")
    safe = pc.if_else(numeric, values, "nan")
    return np.asarray(pc.cast(safe, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def import_results(
    session: Session, actor: Actor, data: bytes, filename: str
) -> ResultImportResult:
    """Import a lab's result file. Raises ``UnreadableFile`` when nothing can
    be read."""
    require(actor, Permission.TESTING_RESULTS)
    table = read_table(data, filename)
    columns = map_columns(table.headers, RESULT_COLUMNS, REQUIRED)
    batch = open_batch(
        session,
        actor.user_id,
        actor.jurisdiction,
        kind="results",
        data=data,
        filename=filename,
        table=table,
        columns=columns,
    )
    result = ResultImportResult(batch_id=batch.id, notices=list(batch.notices))
    rows, rejects = _cells(table, columns.positions)
    outcome = apply_results(session.connection(), actor, rows, clock.now())
    result.accepted, result.unchanged = outcome.accepted, outcome.unchanged
    result.conflicts, result.positive_tubes = outcome.conflicts, outcome.positive_tubes
    result.controlled = outcome.controlled
    result.rejects = sorted(
        broken_rejects(table) + rejects + outcome.rejects, key=lambda r: r.row_number
    )
    finish_import(session, actor, batch, table, result, "results.import")
    session.commit()
    return result
