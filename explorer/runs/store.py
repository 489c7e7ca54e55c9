"""The run store: every run from the CLI, the app, a notebook or the dashboard, in one SQLite file.

Why SQLite: it ships with Python, needs no server, and in WAL mode many processes can write one file at
once (each worker writes its own run; readers never block writers). Writes are batched by `RunWriter`
(at most `FLUSH_S` behind), so a killed process loses at most its last second. A run whose process died
without saying so (kill -9, a power cut) is found by `reap()`: its process is gone, so it is
`interrupted`.

Records are the metrics contract of docs/records.md, stored as JSON one row each; `load_snapshot` thins them
in SQL so a 100k-step run charts as quickly as a short one.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from explorer.runs.history import Snapshot, coalesce_events
from explorer.spec.errors import ExplorerError

SCHEMA_VERSION = 5
FLUSH_S = 1.0
OPEN_TIMEOUT_S = 60.0
ACTIVE = ("running", "paused")
ENDED = ("finished", "early_stop", "diverged", "stopped", "interrupted", "error")
STATUSES = ACTIVE + ENDED
HOST = socket.gethostname()

MIGRATIONS = {  # version -> SQL that brings the previous version to it
    1: """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
        status TEXT NOT NULL, source TEXT NOT NULL, owner TEXT, host TEXT, pid INTEGER, pid_start INTEGER,
        parent_id TEXT, branch_step INTEGER, sweep TEXT, class_name TEXT, message TEXT,
        config TEXT NOT NULL, steps INTEGER NOT NULL DEFAULT 0, best_val_loss REAL, best_step INTEGER,
        last_val_loss REAL, final_gap REAL);
    CREATE INDEX runs_created ON runs (created);
    CREATE TABLE records (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, step INTEGER NOT NULL,
        detail INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
    CREATE INDEX records_by_kind ON records (run_id, kind, step);
    """,
    # A rowid table: its index scans read only the rows they keep (WITHOUT ROWID re-read the table for
    # every index entry, so a 100k-step run took 334 ms to chart instead of 84).
    2: """
    CREATE TABLE records_v2 (
        run_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, step INTEGER NOT NULL,
        detail INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY (run_id, seq));
    INSERT INTO records_v2 SELECT run_id, seq, kind, step, detail, data FROM records;
    DROP TABLE records;
    ALTER TABLE records_v2 RENAME TO records;
    CREATE INDEX records_by_kind ON records (run_id, kind, step, detail);
    """,
    # A sweep's trial says which arm it belongs to (label, knobs, schedule): arms that differ only by a
    # knob moved mid-run cannot be told apart from their configs.
    3: """
    ALTER TABLE runs ADD COLUMN arm TEXT;
    CREATE INDEX runs_by_sweep ON runs (sweep);
    """,
    # What a class keeps across a server restart (its lesson, each seat's name and predictions), by class name.
    4: """
    CREATE TABLE class_state (
        class_name TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (class_name, key));
    """,
    # A sweep's trial ends with the score on the test split of the model it keeps (after early stopping's restore):
    # the honest comparison between arms, which validation losses that chose the kept model are not.
    5: """
    ALTER TABLE runs ADD COLUMN test_loss REAL;
    """,
}


class StoreError(ExplorerError):
    pass


def default_path() -> Path:
    return Path(os.environ.get("EXPLORER_HOME") or Path.home() / ".explorer").expanduser() / "runs.sqlite"


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (Linux), or None where there is none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), so a recycled pid is not taken for our process."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def process_alive(pid: int | None, start: int | None) -> bool:
    """True while the process runs (a zombie, dead but not yet reaped, counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc (not Linux): os.kill is all we know
    return fields[0] != "Z" and (start is None or int(fields[19]) == start)


class RunStore:
    """One connection to the store file. Safe to share between threads of one process (a lock
    serialises them); each process opens its own."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._enter_wal()
            self._db.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the run store {self.path}: {err}") from None
        self._lock = threading.RLock()
        self._migrate()

    def _enter_wal(self) -> None:
        """Switch the file to WAL. SQLite answers "database is locked" at once, without waiting
        out busy_timeout, when another process opens a new file at the same moment, so retry."""
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------------------------ schema
    def _migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, one step at a time, each in its own transaction."""
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer explorer (schema {version}); upgrade explorer")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                with self._transaction():
                    if self._db.execute("PRAGMA user_version").fetchone()[0] >= target:
                        continue  # another process migrated it while we waited for the lock
                    for statement in filter(str.strip, MIGRATIONS[target].split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {target}")

    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                store._db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, *_):
                store._db.execute("ROLLBACK" if kind else "COMMIT")

        return _Tx()

    # ------------------------------------------------------------------------------------ writing
    def save_class_state(self, class_name: str, key: str, value: dict) -> None:
        """One piece of a class's state ("lesson", "seat:<key>"), replacing what was saved under that key."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO class_state (class_name, key, value, updated) VALUES (?,?,?,?)",
                (class_name, key, json.dumps(value), time.time()),
            )

    def class_state(self, class_name: str, newer_than: float = 0.0) -> dict[str, dict]:
        """A class's saved state, {key: value}, of what was saved after `newer_than` (a time.time())."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM class_state WHERE class_name = ? AND updated > ?", (class_name, newer_than)
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def create_run(
        self,
        config: dict,
        source: str,
        name: str | None = None,
        owner: str | None = None,
        parent_id: str | None = None,
        branch_step: int | None = None,
        sweep: str | None = None,
        class_name: str | None = None,
        status: str = "running",
        pid: int | None = None,
        arm: dict | None = None,
    ) -> str:
        run_id = uuid.uuid4().hex[:10]
        pid = pid or os.getpid()
        now = time.time()
        name = name or f"{source} {config.get('cell', '')} {config.get('layers', '')}×{config.get('hidden', '')}"
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (id, name, created, updated, status, source, owner, host, pid, pid_start, "
                "parent_id, branch_step, sweep, class_name, config, arm) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    name,
                    now,
                    now,
                    status,
                    source,
                    owner,
                    HOST,
                    pid,
                    process_start(pid),
                    parent_id,
                    branch_step,
                    sweep,
                    class_name,
                    json.dumps(config, sort_keys=True),
                    None if arm is None else json.dumps(arm, sort_keys=True),
                ),
            )
        return run_id

    def append(self, run_id: str, records: list[dict], first_seq: int) -> None:
        """Add records (numbered from `first_seq`) and fold them into the run's summary, atomically."""
        if not records:
            return
        rows, summary = [], {}
        status = None
        for seq, record in enumerate(records, start=first_seq):
            kind = record["kind"]
            rows.append((run_id, seq, kind, record.get("step", 0), int("grad_hist" in record), json.dumps(record)))
            if kind == "step":
                summary["steps"] = record["step"]
            elif kind == "eval":
                summary["last_val_loss"] = _finite(record["val_loss"])
                summary["final_gap"] = _finite(record["gap"])
                if "best_val_loss" in record:
                    summary["best_val_loss"] = _finite(record["best_val_loss"])
                    summary["best_step"] = record["best_step"]
            elif kind == "test":
                summary["test_loss"] = _finite(record["test_loss"])
            elif kind == "event" and record["event"] in ("diverged", "early_stop", "finished"):
                status = record["event"]
        sets = ", ".join(f"{key} = ?" for key in summary)
        with self._lock, self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?,?,?,?)", rows)
            self._db.execute(
                f"UPDATE runs SET updated = ?{', ' + sets if sets else ''}"
                f"{', status = ?' if status else ''} WHERE id = ?",
                (time.time(), *summary.values(), *([status] if status else []), run_id),
            )

    def set_status(self, run_id: str, status: str, message: str | None = None, only_if_active: bool = False) -> None:
        """`only_if_active`: leave a run alone that has already ended (an ending must not overwrite another)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        active = f" AND status IN {ACTIVE}" if only_if_active else ""
        with self._lock:
            self._db.execute(
                f"UPDATE runs SET status = ?, message = COALESCE(?, message), updated = ? WHERE id = ?{active}",
                (status, message, time.time(), run_id),
            )

    def remove(self, run_ids: Iterable[str]) -> int:
        ids = list(run_ids)
        with self._lock, self._transaction():
            for run_id in ids:
                self._db.execute("DELETE FROM records WHERE run_id = ?", (run_id,))
            removed = sum(self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount for run_id in ids)
        return removed

    def prune(
        self, statuses: Iterable[str] = ("interrupted", "stopped", "error", "diverged"), older_than_s: float = 0.0
    ) -> list[str]:
        """Remove ended runs with one of `statuses` older than `older_than_s` seconds; returns their ids."""
        self.reap()
        statuses = list(statuses)
        with self._lock:
            rows = self._db.execute(
                f"SELECT id FROM runs WHERE status IN ({','.join('?' * len(statuses))}) AND updated < ?",
                (*statuses, time.time() - older_than_s),
            ).fetchall()
        ids = [row[0] for row in rows]
        self.remove(ids)
        return ids

    def reap(self) -> list[str]:
        """Mark `interrupted` every active run on this host whose process is gone (killed, crashed)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, pid, pid_start FROM runs WHERE status IN ({','.join('?' * len(ACTIVE))}) AND host = ?",
                (*ACTIVE, HOST),
            ).fetchall()
        dead = [run_id for run_id, pid, start in rows if not process_alive(pid, start)]
        for run_id in dead:
            self.set_status(run_id, "interrupted", "its process ended without finishing (killed or crashed)")
        return dead

    # ------------------------------------------------------------------------------------ reading
    def runs(self, limit: int | None = None, **where: Any) -> list[dict]:
        """Run summaries, newest first; `where` filters on columns (status="running", sweep="x", ...)."""
        self.reap()
        clauses = " AND ".join(f"{key} = ?" for key in where)
        sql = f"SELECT * FROM runs {'WHERE ' + clauses if clauses else ''} ORDER BY created DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            cursor = self._db.execute(sql, tuple(where.values()))
            names = [d[0] for d in cursor.description]
            return [_summary(dict(zip(names, row))) for row in cursor.fetchall()]

    def run(self, run_id: str) -> dict:
        """One run's summary; `run_id` may be a unique prefix."""
        self.reap()
        with self._lock:
            cursor = self._db.execute("SELECT * FROM runs WHERE id LIKE ? ORDER BY created", (run_id + "%",))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.path} (see `explorer runs`)")
        if len(rows) > 1:
            raise StoreError(f"{run_id!r} matches {len(rows)} runs: give more of the id")
        return _summary(dict(zip(names, rows[0])))

    def records(self, run_id: str) -> Iterator[dict]:
        """Every record of a run in order, a burst of knob moves already folded into one change."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM records WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        records = [json.loads(row[0]) for row in rows]
        kept = {id(e) for e in coalesce_events([r for r in records if r["kind"] == "event"])}
        return (r for r in records if r["kind"] != "event" or id(r) in kept)

    def records_of(self, run_ids: Iterable[str], kind: str = "eval") -> dict[str, list[dict]]:
        """Every record of one kind of these runs, in step order: the curves a sweep's statistics or a
        class's board need, in one query rather than a snapshot each (knob events as recorded: a burst
        of moves is several)."""
        ids = list(run_ids)
        out: dict[str, list[dict]] = {run_id: [] for run_id in ids}
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite's limit on parameters
                chunk = ids[start : start + 500]
                rows = self._db.execute(
                    f"SELECT run_id, data FROM records WHERE kind = ? AND run_id IN ({','.join('?' * len(chunk))})"
                    " ORDER BY run_id, seq",
                    (kind, *chunk),
                ).fetchall()
                for run_id, data in rows:
                    out[run_id].append(json.loads(data))
        return out

    def load_snapshot(self, run_id: str, max_points: int = 2000) -> Snapshot:
        """A run as the charts want it: thinned in SQL to about `max_points` records per series."""
        summary = self.run(run_id)
        run_id = summary["id"]
        with self._lock:
            start = self._db.execute(
                "SELECT data FROM records WHERE run_id = ? AND kind = 'start' ORDER BY step, seq LIMIT 1", (run_id,)
            ).fetchone()
            steps = self._thinned(run_id, "step", max_points, detail_only=False)
            details = self._thinned(run_id, "step", max_points // 5, detail_only=True)
            evals = self._thinned(run_id, "eval", max_points, detail_only=False)
            events = [
                json.loads(row[0])
                for row in self._db.execute(
                    "SELECT data FROM records WHERE run_id = ? AND kind = 'event' ORDER BY step, seq", (run_id,)
                )
            ]
        return Snapshot(
            summary["name"], json.loads(start[0]) if start else None, steps, details, evals, coalesce_events(events)
        )

    def _thinned(self, run_id: str, kind: str, n: int, detail_only: bool) -> list[dict]:
        detail = " AND detail = 1" if detail_only else ""
        count, last = self._db.execute(
            f"SELECT count(*), max(step) FROM records WHERE run_id = ? AND kind = ?{detail}", (run_id, kind)
        ).fetchone()
        if not count:
            return []
        stride = max(1, math.ceil(count / max(1, n)))
        # Records come every `spacing` steps: keep every stride-th, and always the last. The plain step series
        # takes the steps just after a multiple, which are never the (large) detail records.
        offset = 0
        if stride > 1:
            stride *= max(1, round(last / count))
            offset = 0 if detail_only or kind != "step" else 1
        rows = self._db.execute(
            f"SELECT data FROM records WHERE run_id = ? AND kind = ?{detail} AND (step % ? = ? OR step = ?) "
            f"ORDER BY step",
            (run_id, kind, stride, offset, last),
        ).fetchall()
        return [json.loads(row[0]) for row in rows]


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _summary(row: dict) -> dict:
    row["config"] = json.loads(row["config"])
    row["arm"] = json.loads(row["arm"]) if row.get("arm") else None
    return row


class RunWriter:
    """Buffers a run's records and writes them at most `flush_s` apart (and on `flush()`)."""

    def __init__(self, store: RunStore, run_id: str, flush_s: float = FLUSH_S):
        self.store, self.run_id, self.flush_s = store, run_id, flush_s
        self._buffer: list[dict] = []
        self._seq = 0
        self._last = time.monotonic()

    def add(self, record: dict) -> None:
        self._buffer.append(record)
        if time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if self._buffer:
            buffer, self._buffer = self._buffer, []
            self.store.append(self.run_id, buffer, self._seq)
            self._seq += len(buffer)
