"""Synthetic mass-testing files: the sampling records handhelds would upload
for a round, and the results a lab would send back, for demos, tests and
benchmarks. Deterministic for a seed.

Neighbours are pooled together, as at a real site: persons are queued in
registry order (community, building, household), a share of them does not
come (``coverage``), infants below the exemption age are not sampled, and
every ``pool_size`` consecutive persons share a tube. Each person is
infected with probability ``prevalence``; a tube with an infected swab tests
positive (a perfect assay), with Ct values typical of a positive."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection

from fangkong.bulkio import copy_out

SAMPLE_HEADER = ("tube", "pool_size", "id_number", "sampled_at", "site")
RESULT_HEADER = ("tube", "result", "ct_orf1ab", "ct_n", "lab", "tested_at")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def sampling_records(
    persons: pa.Table,
    *,
    pool_size: int,
    tube_prefix: str,
    started_at: datetime,
    window_hours: float = 12,
    coverage: float = 0.97,
    infant_cutoff: date | None = None,
    seed: int = 1,
) -> pa.Table:
    """``persons`` has ``id_number`` and ``birth_date``, in queue order;
    ``started_at`` is local time (naive). Columns: ``SAMPLE_HEADER``."""
    rng = np.random.default_rng(seed)
    come = rng.random(persons.num_rows) < coverage
    if infant_cutoff is not None:
        born = pc.fill_null(
            pc.greater(persons.column("birth_date"), pa.scalar(infant_cutoff)), False
        )
        come &= ~np.asarray(born)
    queue = persons.column("id_number").filter(pa.array(come))
    count = len(queue)
    tube_index = np.arange(count) // pool_size
    tubes = max(int(tube_index[-1]) + 1, 1) if count else 0
    seconds = np.sort(rng.random(tubes) * window_hours * 3600) if tubes else np.zeros(0)
    tube_time = np.datetime64(started_at.replace(tzinfo=None), "s") + seconds.astype(
        "timedelta64[s]"
    )
    times = pc.strftime(pa.array(tube_time[tube_index], pa.timestamp("s")), format=TIME_FORMAT)
    width = max(len(str(tubes)), 7)
    barcodes = pa.array([f"{tube_prefix}{i:0{width}d}" for i in range(tubes)], pa.string())
    return pa.table(
        {
            "tube": barcodes.take(pa.array(tube_index)),
            "pool_size": pa.repeat(pa.scalar(str(pool_size)), count),
            "id_number": queue,
            "sampled_at": times,
            "site": pa.repeat(pa.scalar(""), count),
        }
    )


def lab_results(
    samples: pa.Table,
    *,
    prevalence: float,
    lab: str = "合成检测实验室 Synthetic Lab",
    hours_after: float = 4,
    seed: int = 1,
) -> tuple[pa.Table, pa.Array]:
    """One result per tube of ``samples`` and the identity numbers of the
    infected. Columns: ``RESULT_HEADER``."""
    rng = np.random.default_rng(seed)
    infected = rng.random(samples.num_rows) < prevalence
    tube_codes = pc.dictionary_encode(samples.column("tube")).combine_chunks()
    index = tube_codes.indices.to_numpy()
    positive = np.zeros(len(tube_codes.dictionary), dtype=bool)
    np.logical_or.at(positive, index, infected)
    first = np.unique(index, return_index=True)[1]
    sampled = pc.strptime(
        samples.column("sampled_at").take(pa.array(first)), format=TIME_FORMAT, unit="s"
    )
    tested = pc.add(sampled, pa.scalar(timedelta(hours=hours_after), pa.duration("s")))
    n = len(positive)
    ct = np.round(rng.uniform(22, 36, size=(2, n)), 1)
    results = pa.table(
        {
            "tube": tube_codes.dictionary,
            "result": pa.array(np.where(positive, "positive", "negative")),
            "ct_orf1ab": pa.array(np.where(positive, ct[0].astype(str), "")),
            "ct_n": pa.array(np.where(positive, ct[1].astype(str), "")),
            "lab": pa.repeat(pa.scalar(lab), n),
            "tested_at": pc.strftime(tested, format=TIME_FORMAT),
        }
    )
    return results, samples.column("id_number").filter(pa.array(infected))


def round_population(conn: Connection, prefixes: list[str]) -> pa.Table:
    """The registry's persons of a round's areas (``id_number``,
    ``birth_date``) in queue order: community, address, household."""
    areas = " OR ".join(f"p.region_code LIKE '{p}%'" for p in prefixes if p.isdigit())
    return copy_out(
        conn,
        f"""SELECT p.id_number, p.birth_date FROM person p
        WHERE p.merged_into_id IS NULL AND ({areas or "FALSE"})
        ORDER BY p.region_code, p.address_id, p.household_id, p.id""",
        pa.schema([("id_number", pa.string()), ("birth_date", pa.date32())]),
    )


def write_csv(table: pa.Table, path: Path) -> None:
    """As a spreadsheet saves it: UTF-8 with a BOM, every cell as text."""
    with path.open("wb") as out:
        out.write("\ufeff".encode())
        pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(quoting_style="needed"))
