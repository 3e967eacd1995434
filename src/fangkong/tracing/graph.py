"""The exposure graph as arrays, pure (no I/O): secondary contacts and
clusters of cases, computed with vectorized NumPy over a whole wave's graph
(half a million risk persons, a million edges) in well under a second.

Persons are their registry ids (``int64``); an edge ``source -> target`` is
an :class:`~fangkong.tracing.models.Exposure` (``source`` may have infected
``target``). Times are ``int64`` microseconds since the Unix epoch, with
:data:`MISSING_TIME` for an unknown time (it compares below every real one).

**Secondary contacts** (次密接, "a close contact of a close contact") are the
persons exposed to an *active close contact* who are neither cases nor close
contacts themselves. An active close contact is a close-contact risk person
not released — or released because they became a case: the persons exposed
to them stay at least secondary until the new case's investigation names
them close, rather than being let go the moment the risk grew.

**Clusters** are the connected components of the graph whose vertices are
the cases and whose edges are the exposures between two cases (transmission
links established by investigations, and case-to-case exposures), with
their size and first and latest confirmation. Direction is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Ids = NDArray[np.int64]
Times = NDArray[np.int64]
MISSING_TIME = np.iinfo(np.int64).min


def ids(values: object) -> Ids:
    return np.asarray(values, dtype=np.int64).reshape(-1)


@dataclass(frozen=True)
class Edges:
    """Exposure edges, one entry per edge in each array."""

    source: Ids
    target: Ids
    recorded_at: Times  # when the edge entered the system
    last_exposure_at: Times  # MISSING_TIME when not known

    @classmethod
    def of(
        cls,
        source: object,
        target: object,
        recorded_at: object = None,
        last_exposure_at: object = None,
    ) -> Edges:
        src, dst = ids(source), ids(target)
        if src.shape != dst.shape:
            raise ValueError("an edge needs a source and a target")
        zeros = np.zeros(src.shape, np.int64)
        missing = np.full(src.shape, MISSING_TIME, np.int64)
        recorded = zeros if recorded_at is None else ids(recorded_at)
        last = missing if last_exposure_at is None else ids(last_exposure_at)
        return cls(src, dst, recorded, last)


@dataclass(frozen=True)
class ActiveCloseContacts:
    """The persons whose exposees are secondary contacts, with the time each
    was (last) identified as a close contact."""

    person_id: Ids
    identified_at: Times

    @classmethod
    def of(cls, person_id: object, identified_at: object = None) -> ActiveCloseContacts:
        person = ids(person_id)
        when = np.zeros(person.shape, np.int64) if identified_at is None else ids(identified_at)
        order = np.argsort(person, kind="stable")
        return cls(person[order], when[order])


@dataclass(frozen=True)
class SecondaryContacts:
    """One row per secondary contact, sorted by person id."""

    person_id: Ids
    close_contact_id: Ids  # the active close contact with the newest evidence
    evidence_at: Times  # the newest of (edge recorded, close contact identified)
    newest_edge_at: Times  # when the newest edge from an active close contact was recorded
    last_exposure_at: Times  # the latest exposure to any active close contact

    def __len__(self) -> int:
        return int(self.person_id.size)


def members(sorted_ids: Ids, values: Ids) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """Whether each value is in ``sorted_ids`` (ascending), and where."""
    if sorted_ids.size == 0:
        return np.zeros(values.shape, np.bool_), np.zeros(values.shape, np.intp)
    where = np.searchsorted(sorted_ids, values)
    clipped = np.minimum(where, sorted_ids.size - 1)
    return sorted_ids[clipped] == values, clipped


def secondary_contacts(
    edges: Edges, close: ActiveCloseContacts, excluded: Ids
) -> SecondaryContacts:
    """Persons exposed to an active close contact, less ``excluded`` (the
    cases and the close contacts not released)."""
    from_close, where = members(close.person_id, edges.source)
    barred, _ = members(np.unique(excluded), edges.target)
    keep = from_close & ~barred
    source, target = edges.source[keep], edges.target[keep]
    evidence = np.maximum(edges.recorded_at[keep], close.identified_at[where[keep]])
    last = edges.last_exposure_at[keep]
    if target.size == 0:
        empty = np.zeros(0, np.int64)
        return SecondaryContacts(empty, empty.copy(), empty.copy(), empty.copy(), empty.copy())
    order = np.lexsort((source, evidence, target))  # by target, then newest evidence last
    target, source, evidence, last = target[order], source[order], evidence[order], last[order]
    recorded = edges.recorded_at[keep][order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    ends = np.r_[starts[1:], target.size] - 1
    return SecondaryContacts(
        person_id=target[starts],
        close_contact_id=source[ends],
        evidence_at=evidence[ends],
        newest_edge_at=np.maximum.reduceat(recorded, starts),
        last_exposure_at=np.maximum.reduceat(last, starts),
    )


def connected_components(count: int, u: NDArray[np.intp], v: NDArray[np.intp]) -> NDArray[np.intp]:
    """The component of each of ``count`` vertices given undirected edges
    ``u[i] - v[i]`` (vertex indices), as the smallest vertex index in it.

    Vectorized union-find: every round hooks the larger of the two roots of
    each edge that still joins two trees onto the smaller (the roots only
    ever point down, so no cycle forms), then compresses every path fully;
    the number of trees falls each round until no edge joins two."""
    parent = np.arange(count, dtype=np.intp)
    u, v = np.asarray(u, np.intp), np.asarray(v, np.intp)
    while u.size:
        pu, pv = parent[u], parent[v]
        joins = pu != pv
        if not joins.any():
            break
        u, v, pu, pv = u[joins], v[joins], pu[joins], pv[joins]
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


@dataclass(frozen=True)
class CaseClusters:
    """Every case in exactly one cluster (singletons included); clusters are
    numbered from 0 by first confirmation, then by smallest person id."""

    person_id: Ids  # the case persons, ascending
    cluster: Ids  # the cluster of each
    size: Ids  # per cluster
    first_confirmed_at: Times  # per cluster
    latest_confirmed_at: Times  # per cluster
    edge_source: Ids  # the edges between two cases ...
    edge_target: Ids
    edge_cluster: Ids  # ... and the cluster each lies in
    edge_index: Ids  # each one's position in the edges given

    def __len__(self) -> int:
        return int(self.size.size)


def case_clusters(case_person_id: object, confirmed_at: object, edges: Edges) -> CaseClusters:
    """Connected components over the cases and the edges between two cases."""
    persons, when = ids(case_person_id), ids(confirmed_at)
    order = np.argsort(persons, kind="stable")
    persons, when = persons[order], when[order]
    if persons.size and np.any(persons[1:] == persons[:-1]):
        raise ValueError("a person is one case at most")
    src_in, src_at = members(persons, edges.source)
    dst_in, dst_at = members(persons, edges.target)
    among = src_in & dst_in
    u, v = src_at[among], dst_at[among]
    roots = connected_components(persons.size, u, v)
    root_ids, component = np.unique(roots, return_inverse=True)
    k = root_ids.size
    size = np.bincount(component, minlength=k).astype(np.int64)
    first = np.full(k, np.iinfo(np.int64).max, np.int64)
    latest = np.full(k, MISSING_TIME, np.int64)
    np.minimum.at(first, component, when)
    np.maximum.at(latest, component, when)
    # number the clusters by first confirmation, then by their smallest person
    smallest = np.full(k, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(smallest, component, persons)
    rank = np.empty(k, np.int64)
    rank[np.lexsort((smallest, first))] = np.arange(k)
    numbered = np.argsort(rank)
    return CaseClusters(
        person_id=persons,
        cluster=rank[component],
        size=size[numbered],
        first_confirmed_at=first[numbered],
        latest_confirmed_at=latest[numbered],
        edge_source=edges.source[among],
        edge_target=edges.target[among],
        edge_cluster=rank[component[u]],
        edge_index=np.flatnonzero(among).astype(np.int64),
    )


# --- keeping the secondary-contact records in line with the graph ------------------

CLOSE, SECONDARY, COMPANION, GENERAL = 0, 1, 2, 3  # category ranks (tracing/rules.py)
NO_CATEGORY = -1


@dataclass(frozen=True)
class RiskRecords:
    """Risk-person records, sorted by person id (one per person)."""

    risk_id: Ids
    person_id: Ids
    rank: Ids  # category rank: CLOSE, SECONDARY, COMPANION, GENERAL
    released: NDArray[np.bool_]
    became_case: NDArray[np.bool_]  # released with reason 'became_case'
    let_go: NDArray[np.bool_]  # released with reason 'not_a_contact' (by the graph)
    identified_at: Times
    released_at: Times  # MISSING_TIME while not released
    last_exposure_at: Times  # MISSING_TIME when not known

    @classmethod
    def of(cls, **columns: object) -> RiskRecords:
        person = ids(columns["person_id"])
        n = person.size
        order = np.argsort(person, kind="stable")

        def numbers(name: str, default: int) -> Ids:
            value = columns.get(name)
            full = np.full(n, default, np.int64) if value is None else ids(value)
            return full[order]

        def flags(name: str) -> NDArray[np.bool_]:
            value = columns.get(name)
            full = np.zeros(n, np.bool_) if value is None else np.asarray(value, np.bool_)
            return full.reshape(-1)[order]

        return cls(
            risk_id=numbers("risk_id", 0),
            person_id=person[order],
            rank=numbers("rank", GENERAL),
            released=flags("released"),
            became_case=flags("became_case"),
            let_go=flags("let_go"),
            identified_at=numbers("identified_at", 0),
            released_at=numbers("released_at", MISSING_TIME),
            last_exposure_at=numbers("last_exposure_at", MISSING_TIME),
        )


def active_close_contacts(records: RiskRecords) -> ActiveCloseContacts:
    """Close contacts not released, or released because they became cases."""
    active = (records.rank == CLOSE) & (~records.released | records.became_case)
    return ActiveCloseContacts.of(records.person_id[active], records.identified_at[active])


def not_secondary(records: RiskRecords, case_person_id: Ids) -> Ids:
    """Who cannot be a secondary contact: the cases and the close contacts
    not released."""
    close = records.person_id[(records.rank == CLOSE) & ~records.released]
    return np.union1d(ids(case_person_id), close)


CREATE, UPGRADE, REOPEN = 0, 1, 2
NO_ACTION = -1


@dataclass(frozen=True)
class RefreshPlan:
    """What makes the records match the graph: ``add`` rows of the secondary
    contacts with what to do for each (CREATE a record, UPGRADE a companion
    or general contact, REOPEN a released record), and ``leaving``: the
    records held as secondary that the graph no longer supports."""

    add_person_id: Ids
    add_close_contact_id: Ids
    add_action: Ids
    add_risk_id: Ids  # the record raised or opened again; 0 for CREATE
    add_last_exposure_at: Times  # the later of the record's and the graph's
    leaving_risk_id: Ids


def plan_refresh(
    secondary: SecondaryContacts, records: RiskRecords, considered: Ids | None = None
) -> RefreshPlan:
    """Compare the graph's secondary contacts with the records. Only the
    persons in ``considered`` (all when None) may leave.

    A released record is opened again only on evidence newer than its
    release: one the graph let go (``not_a_contact``) when a close contact
    was identified or an edge recorded after it; one released by a person
    (the measure completed, an error) only for an exposure recorded after
    it — a close contact reported again is no new exposure of theirs."""
    has, at = members(records.person_id, secondary.person_id)
    released = has & records.released[at]
    create = ~has
    upgrade = has & ~released & (records.rank[at] > SECONDARY)
    released_at = records.released_at[at]
    reopen = released & (
        (records.let_go[at] & (released_at < secondary.evidence_at))
        | (released_at < secondary.newest_edge_at)
    )
    action = np.select([create, upgrade, reopen], [CREATE, UPGRADE, REOPEN], NO_ACTION)
    chosen = action != NO_ACTION
    last = np.where(
        has,
        np.maximum(secondary.last_exposure_at, records.last_exposure_at[at]),
        secondary.last_exposure_at,
    )
    held = (records.rank == SECONDARY) & ~records.released
    still, _ = members(secondary.person_id, records.person_id)
    leaving = held & ~still
    if considered is not None:
        leaving &= members(np.unique(ids(considered)), records.person_id)[0]
    return RefreshPlan(
        add_person_id=secondary.person_id[chosen],
        add_close_contact_id=secondary.close_contact_id[chosen],
        add_action=action[chosen].astype(np.int64),
        add_risk_id=np.where(has, records.risk_id[at], 0)[chosen],
        add_last_exposure_at=last[chosen],
        leaving_risk_id=records.risk_id[leaving],
    )


def category_left(leaving_risk_id: Ids, source_risk_id: Ids, source_rank: Ids) -> Ids:
    """For each record leaving the secondary category, the most serious
    category (rank) its other reports gave, or NO_CATEGORY when the graph was
    its only reason: such a record is released, the others keep what the
    other channels reported."""
    keys = ids(leaving_risk_id)
    best = np.full(keys.size, np.iinfo(np.int64).max, np.int64)
    order = np.argsort(keys, kind="stable")
    found, where = members(keys[order], ids(source_risk_id))
    np.minimum.at(best, order[where[found]], ids(source_rank)[found])
    return np.where(best == np.iinfo(np.int64).max, NO_CATEGORY, best)
