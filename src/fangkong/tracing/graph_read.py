"""Reading the exposure graph from the database in bulk, for the
secondary-contact refresh (:mod:`fangkong.tracing.graph_service`): the edges,
the risk records and the cases as NumPy arrays for the pure rules of
:mod:`fangkong.tracing.graph` (``COPY`` on PostgreSQL), either the whole
graph or the part around given persons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from fangkong.bulkio import copy_out, staged
from fangkong.tracing.graph import (
    MISSING_TIME,
    Edges,
    Ids,
    RefreshPlan,
    RiskRecords,
    Times,
    active_close_contacts,
    ids,
    not_secondary,
    plan_refresh,
    secondary_contacts,
)
from fangkong.tracing.rules import CATEGORY_RANK

CATEGORY_BY_RANK = {rank: category for category, rank in CATEGORY_RANK.items()}
CATEGORY_ORDER = pa.array([CATEGORY_BY_RANK[rank] for rank in sorted(CATEGORY_BY_RANK)])
TIME = pa.timestamp("us", tz="UTC")
EDGE_SCHEMA = pa.schema(
    [
        ("source", pa.int64()),
        ("target", pa.int64()),
        ("recorded_at", TIME),
        ("last_exposure_at", TIME),
        ("region_code", pa.string()),  # the exposed person's, kept current (registry_moves)
    ]
)
RISK_SCHEMA = pa.schema(
    [
        ("risk_id", pa.int64()),
        ("person_id", pa.int64()),
        ("category", pa.string()),
        ("status", pa.string()),
        ("release_reason", pa.string()),
        ("identified_at", TIME),
        ("released_at", TIME),
        ("last_exposure_at", TIME),
    ]
)
RISK_COLUMNS = (
    "r.id, r.person_id, r.category, r.status, r.release_reason, r.identified_at, "
    "r.released_at, r.last_exposure_at"
)
PERSONS = pa.schema([("person_id", pa.int64())])
EDGES_QUERY = (
    "SELECT e.source_person_id, e.person_id, e.recorded_at, e.last_exposure_at, e.region_code "
)


def micros_of(column: pa.ChunkedArray) -> Times:
    """A time column as microseconds since the epoch (MISSING_TIME for none)."""
    as_int = pc.fill_null(column.cast(pa.int64()), MISSING_TIME)
    return np.asarray(as_int.to_numpy(), np.int64)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def time_of(micros: int) -> datetime | None:
    return None if micros == MISSING_TIME else _moment(micros)


def _edges(table: pa.Table) -> Edges:
    return Edges.of(
        table.column("source").to_numpy(),
        table.column("target").to_numpy(),
        micros_of(table.column("recorded_at")),
        micros_of(table.column("last_exposure_at")),
    )


def _records(table: pa.Table) -> RiskRecords:
    rank = pc.index_in(table.column("category"), value_set=CATEGORY_ORDER)
    return RiskRecords.of(
        risk_id=table.column("risk_id").to_numpy(),
        person_id=table.column("person_id").to_numpy(),
        rank=rank.to_numpy(),
        released=pc.equal(table.column("status"), "released").to_numpy(),
        became_case=pc.equal(table.column("release_reason"), "became_case").to_numpy(),
        let_go=pc.equal(table.column("release_reason"), "not_a_contact").to_numpy(),
        identified_at=micros_of(table.column("identified_at")),
        released_at=micros_of(table.column("released_at")),
        last_exposure_at=micros_of(table.column("last_exposure_at")),
    )


def _persons(table: pa.Table) -> Ids:
    return ids(table.column("person_id").to_numpy())


def _person_table(person_ids: Ids) -> pa.Table:
    return pa.table({"person_id": pa.array(np.unique(person_ids), pa.int64())})


@dataclass(frozen=True)
class Graph:
    edges: Edges
    exposed: pa.Table  # the edges' exposed persons and their regions (person_id, region_code)
    records: RiskRecords
    case_persons: Ids
    considered: Ids | None  # the persons whose in-edges were all read; None: everyone

    def regions_of(self, person_ids: Ids) -> pa.Array:
        """The registry region of each of ``person_ids``, exposed persons of
        the graph. Every exposure carries its exposed person's current
        region, so all of a person's edges agree
        (:mod:`fangkong.tracing.registry_moves`) and the registry need not
        be read: a lookup per new secondary contact was a sixth of a first
        whole-graph refresh (benchmarks/RESULTS.md, "Tracing")."""
        persons = self.exposed.column("person_id").combine_chunks()
        at = pc.index_in(pa.array(person_ids, pa.int64()), value_set=persons)
        assert at.null_count == 0  # secondary contacts are targets of edges read with them
        return self.exposed.column("region_code").take(at).combine_chunks()


def _graph(edges: pa.Table, records: pa.Table, cases: pa.Table, considered: Ids | None) -> Graph:
    exposed = pa.table(
        {"person_id": edges.column("target"), "region_code": edges.column("region_code")}
    )
    return Graph(_edges(edges), exposed, _records(records), _persons(cases), considered)


def read_whole(conn: Connection) -> Graph:
    return _graph(
        copy_out(conn, EDGES_QUERY + "FROM exposure e", EDGE_SCHEMA),
        copy_out(conn, f"SELECT {RISK_COLUMNS} FROM risk_person r", RISK_SCHEMA),
        copy_out(conn, "SELECT person_id FROM tracing_case", PERSONS),
        None,
    )


def read_around(conn: Connection, person_ids: Ids) -> Graph:
    """The persons given, those exposed to them, every edge into these, and
    the records of everyone on those edges."""
    with staged(
        conn, "stage_graph_around", "person_id BIGINT PRIMARY KEY", _person_table(person_ids)
    ):
        considered = _persons(
            copy_out(
                conn,
                "SELECT person_id FROM stage_graph_around UNION SELECT e.person_id "
                "FROM exposure e JOIN stage_graph_around a ON a.person_id = e.source_person_id",
                PERSONS,
            )
        )
    rows = _person_table(considered)
    with staged(conn, "stage_graph_considered", "person_id BIGINT PRIMARY KEY", rows):
        into = "FROM exposure e JOIN stage_graph_considered c ON c.person_id = e.person_id"
        edges = copy_out(conn, EDGES_QUERY + into, EDGE_SCHEMA)
        records = copy_out(
            conn,
            f"SELECT {RISK_COLUMNS} FROM risk_person r WHERE r.person_id IN "
            f"(SELECT person_id FROM stage_graph_considered "
            f"UNION SELECT e.source_person_id {into})",
            RISK_SCHEMA,
        )
        cases = copy_out(
            conn,
            "SELECT t.person_id FROM tracing_case t "
            "JOIN stage_graph_considered c ON c.person_id = t.person_id",
            PERSONS,
        )
    return _graph(edges, records, cases, considered)


def plan_of(graph: Graph) -> RefreshPlan:
    found = secondary_contacts(
        graph.edges,
        active_close_contacts(graph.records),
        not_secondary(graph.records, graph.case_persons),
    )
    return plan_refresh(found, graph.records, graph.considered)
