"""What a result sets in motion, in set-based statements inside the caller's
transaction (one statement per step however many tubes turned):

- a positive pooled tube: every member under temporary control (临时管控)
  and a single-tube re-sampling task for each, assigned to the member's
  community, due within the policy's hours;
- a positive single tube: a positive person for the tracing capability (the
  person stays under control); a follow-up task it answered is resolved;
- a negative follow-up tube: the task is resolved and the control lifted;
- an invalid follow-up tube: the task is open again (re-sample);
- a positive tube taken during a quarantine stay after a negative one in the
  same facility: a cross-infection alert (:mod:`fangkong.quarantine.alerts`).

Every step stamps its time, so the delay from a pooled result to members
controlled, re-sampled and resolved can be measured."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import pyarrow as pa
from sqlalchemy import Connection, text

from fangkong.bulkio import db_time, staged
from fangkong.policy import get_policy
from fangkong.quarantine.alerts import raise_cross_infection_alerts


def _turned(conn: Connection, tube_ids: list[int]) -> AbstractContextManager[str]:
    """The tubes to act on, as the temporary table ``stage_turned``."""
    rows = pa.table({"tube_id": pa.array(tube_ids, pa.int64())})
    return staged(conn, "stage_turned", "tube_id BIGINT PRIMARY KEY", rows)


def follow_up(
    conn: Connection, positive_tube_ids: list[int], settled: list[int], now: datetime
) -> int:
    """Act on tubes that just received a positive result
    (``positive_tube_ids``) and follow-up tubes whose result just became
    known (``settled``). Returns how many persons were newly put under
    temporary control."""
    at = db_time(conn, now)
    controlled = 0
    if positive_tube_ids:
        with _turned(conn, positive_tube_ids):
            controlled = _control_members(conn, at)
            _create_tasks(conn, at, now)
            _record_positive_persons(conn, at)
        raise_cross_infection_alerts(conn, positive_tube_ids, now)
    if settled:
        with _turned(conn, settled):
            _resolve_tasks(conn, at)
    return controlled


def _control_members(conn: Connection, at: object) -> int:
    """Members of every positive tube of a round not yet controlled for it (a
    tube taken during a quarantine stay needs none: the person is in one)."""
    return conn.execute(
        text(
            """INSERT INTO temporary_control
                (person_id, region_code, round_id, source_tube_id, started_at, end_reason)
            SELECT m.person_id, m.region_code, m.round_id, m.tube_id, :at, ''
            FROM stage_turned s
            JOIN tube_member m ON m.tube_id = s.tube_id
            WHERE m.round_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM temporary_control c
                WHERE c.person_id = m.person_id AND c.source_tube_id = m.tube_id)"""
        ),
        {"at": at},
    ).rowcount


def _create_tasks(conn: Connection, at: object, now: datetime) -> None:
    """A single-tube re-sampling task per member of a positive pooled tube."""
    due = now + timedelta(hours=get_policy().resample_deadline_hours)
    conn.execute(
        text(
            """INSERT INTO follow_up_task
                (kind, person_id, region_code, round_id, source_tube_id, created_at, due_at, state)
            SELECT 'resample', m.person_id, m.region_code, m.round_id, m.tube_id, :at, :due, 'open'
            FROM stage_turned s
            JOIN tube t ON t.id = s.tube_id AND t.pool_size > 1
            JOIN tube_member m ON m.tube_id = t.id
            WHERE NOT EXISTS (
                SELECT 1 FROM follow_up_task f
                WHERE f.person_id = m.person_id AND f.source_tube_id = m.tube_id)"""
        ),
        {"at": at, "due": db_time(conn, due)},
    )


def _record_positive_persons(conn: Connection, at: object) -> None:
    """The person in a positive single tube; ``via_pool_tube_id`` names the
    pooled tube whose follow-up found them."""
    conn.execute(
        text(
            """INSERT INTO positive_person
                (person_id, region_code, round_id, tube_id, via_pool_tube_id, lab_result_id,
                 found_at)
            SELECT m.person_id, m.region_code, m.round_id, t.id, f.source_tube_id,
                (SELECT MIN(r.id) FROM lab_result r
                 WHERE r.tube_id = t.id AND r.result = 'positive'),
                :at
            FROM stage_turned s
            JOIN tube t ON t.id = s.tube_id AND t.pool_size = 1
            JOIN tube_member m ON m.tube_id = t.id
            LEFT JOIN follow_up_task f ON f.id = m.task_id
            WHERE NOT EXISTS (
                SELECT 1 FROM positive_person p
                WHERE p.person_id = m.person_id AND p.tube_id = t.id)"""
        ),
        {"at": at},
    )


def _resolve_tasks(conn: Connection, at: object) -> None:
    """Follow-up tubes with a result: negative lifts the control, positive
    keeps it (the person is now a positive person), invalid reopens the task."""
    conn.execute(
        text(
            """UPDATE follow_up_task SET
                resolved_at = :at,
                outcome = (SELECT t.result FROM tube t JOIN tube_member m ON m.tube_id = t.id
                           WHERE m.task_id = follow_up_task.id ORDER BY t.id DESC LIMIT 1)
            WHERE id IN (SELECT m.task_id FROM stage_turned s
                         JOIN tube_member m ON m.tube_id = s.tube_id
                         WHERE m.task_id IS NOT NULL)"""
        ),
        {"at": at},
    )
    conn.execute(
        text(
            """UPDATE follow_up_task SET state = 'open', done_at = NULL, resolved_at = NULL
            WHERE outcome = 'invalid' AND resolved_at = :at"""
        ),
        {"at": at},
    )
    conn.execute(
        text(
            """UPDATE temporary_control SET ended_at = :at, end_reason = 'negative_resample'
            WHERE ended_at IS NULL AND EXISTS (
                SELECT 1 FROM follow_up_task f
                WHERE f.person_id = temporary_control.person_id
                  AND f.source_tube_id = temporary_control.source_tube_id
                  AND f.outcome = 'negative' AND f.resolved_at = :at)"""
        ),
        {"at": at},
    )
