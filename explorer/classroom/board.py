"""The teacher's view of the class, read from the run store (so it outlives a server restart: runs whose
server went away show as interrupted): one row per student for the leaderboard, their validation curves,
every knob move in the class, and the class's outcomes grouped by the lesson's knob.

Each student is their latest run (a Reset starts a new one). Reading is a handful of queries whatever
the class's size (runs, then start, eval and knob records of those runs in one query each).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

from explorer.classroom.seats import Classroom
from explorer.runs.history import coalesce_events
from explorer.runs.stats import t_interval
from explorer.runs.store import RunStore
from explorer.spec.knobs import LIVE_KNOBS, Config
from explorer.spec.wording import format_value, perplexity, plural

MAX_CURVE_POINTS = 120  # per student: 30 students stay under the charts' row budget
DEFAULTS = Config()


@dataclass(frozen=True)
class Board:
    rows: list[dict]  # the leaderboard, best first
    curves: list[dict]  # {student, run, step, val_loss, teacher}
    moves: list[dict]  # {student, run, step, knob, old, new, what}: the students' own moves, not the lesson's
    sentences: list[str]  # the moves summed up: "12 students turned dropout on between steps 200 and 400"
    outcomes: list[dict]  # {student, group, ppl} for the lesson's comparison
    groups: list[dict]  # {group, mean, lo, hi, n}
    joined: int
    training: int
    waiting: int


def knobs_in_force(config: dict, moves: list[dict]) -> dict:
    """A run's live knobs at its latest step: its start config with its knob moves applied."""
    knobs = {name: config.get(name) for name in LIVE_KNOBS}
    for move in moves:
        knobs[move["knob"]] = move["new"]
    return knobs


def describe_knobs(config: dict, knobs: dict) -> str:
    """'lstm 2×256 · dropout 0.5 · l2 0.001': the model, then the live knobs away from their defaults."""
    model = f"{config.get('cell')} {config.get('layers')}×{config.get('hidden')}"
    moved = [f"{name} {format_value(v)}" for name, v in knobs.items() if v != getattr(DEFAULTS, name, v)]
    return " · ".join([model, *moved])


def what_move_does(knob: str, old, new) -> str:
    """'turned dropout on', 'raised l2', 'switched cell to gru': the phrase the timeline counts students by."""
    if isinstance(new, bool) or (isinstance(new, (int, float)) and isinstance(old, (int, float))):
        if not old and new:
            return f"turned {knob} on"
        if old and not new:
            return f"turned {knob} off"
        return f"raised {knob}" if new > old else f"lowered {knob}"
    return f"set {knob} to {format_value(new)}"


def summarise_moves(moves: list[dict], limit: int = 6) -> list[str]:
    """The class's moves as sentences, the most common first: how many students, and between which steps."""
    by_what: dict[str, list[dict]] = defaultdict(list)
    for move in moves:
        by_what[move["what"]].append(move)
    lines = []
    for what, group in sorted(by_what.items(), key=lambda item: -len({m["run"] for m in item[1]})):
        students = len({m["run"] for m in group})
        lo, hi = min(m["step"] for m in group), max(m["step"] for m in group)
        when = f"at step {lo:,}" if lo == hi else f"between steps {lo:,} and {hi:,}"
        lines.append(f"{plural(students, 'student')} {what} {when}")
    return lines[:limit]


def _ppl(loss) -> float | None:
    return perplexity(loss) if loss is not None and math.isfinite(loss) and loss < 50 else None


def class_board(classroom: Classroom, token: str | None, store: RunStore) -> Board:
    """Everything the teacher page draws; `TeacherOnly` without the teacher's token."""
    classroom.check_teacher(token)
    return _read(classroom, store)


def student_board(classroom: Classroom, store: RunStore, seat) -> list[str]:
    """What a student sees of the class: where they stand, and the top three, named only if the teacher
    has turned names on (else "a classmate"). Read at most once a second for all pages together."""
    rows = [row for row in _read(classroom, store).rows if row["best_ppl"] is not None and not row["teacher"]]
    lines, me = [], seat.session.owner  # the page that joined: its runs' owner in the store
    for rank, row in enumerate(rows[:3], start=1):
        who = "you" if row["owner"] == me else (row["student"] if classroom.show_names else "a classmate")
        lines.append(f"{rank}. {who}: perplexity {row['best_ppl']:.2f}")
    mine = [rank for rank, row in enumerate(rows, start=1) if row["owner"] == me]
    if mine and mine[0] > 3:
        lines.append(f"{mine[0]}. you: perplexity {rows[mine[0] - 1]['best_ppl']:.2f} (of {len(rows)})")
    return lines


CACHE_S = 1.0  # 30 pages refreshing every 2 s read the store about once a second between them


def _read(classroom: Classroom, store: RunStore) -> Board:
    """The class's board at most CACHE_S old. One page reads the store at a time: while it does, the
    others take the last board rather than queue up behind it (30 pages each reading once they found the
    cache stale made a read take seconds, and so the next one stale before it was done)."""
    last = classroom.board_read
    if last is not None and time.monotonic() - last[0] < CACHE_S:
        return last[1]
    if not classroom.board_lock.acquire(blocking=last is None):
        return last[1]
    try:
        if (last := classroom.board_read) is not None and time.monotonic() - last[0] < CACHE_S:
            return last[1]  # another page read it while this one waited for the first board
        board = _read_now(classroom, store)
        classroom.board_read = (time.monotonic(), board)  # stamped when read: a slow read is not stale at once
        return board
    finally:
        classroom.board_lock.release()


def _read_now(classroom: Classroom, store: RunStore) -> Board:
    lesson = classroom.lesson
    latest: dict[str, dict] = {}
    for run in store.runs(class_name=classroom.name):  # newest first: each student's first is their latest
        latest.setdefault(run["owner"] or run["id"], run)
    runs = list(latest.values())
    ids = [run["id"] for run in runs]
    starts, evals, events = (store.records_of(ids, kind) for kind in ("start", "eval", "event"))
    rows, curves, moves, outcomes = [], [], [], []
    for run in runs:
        rid, student, teacher = run["id"], run["name"], run["source"] == "teacher"
        knob_moves = [e for e in coalesce_events(events[rid]) if e["event"] == "knob"]
        knobs = knobs_in_force(run["config"], knob_moves)
        own_moves = [e for e in knob_moves if e.get("by") != "lesson"]  # the teacher's lesson moved the others
        params = starts[rid][0]["parameters"] if starts[rid] else None
        best = _ppl(run["best_val_loss"])
        rows.append(
            {
                "student": student,
                "run": rid,
                "owner": run["owner"],
                "teacher": teacher,
                "status": run["status"],
                "best_ppl": best,
                "gap": run["final_gap"],
                "steps": run["steps"],
                "params": params,
                "within_limit": lesson.max_params is None or (params is not None and params <= lesson.max_params),
                "knobs": describe_knobs(run["config"], knobs),
            }
        )
        points = evals[rid][:: max(1, math.ceil(len(evals[rid]) / MAX_CURVE_POINTS))]
        curves += [
            {"student": student, "run": rid, "step": e["step"], "val_loss": e["val_loss"], "teacher": teacher}
            for e in points
        ]
        moves += [
            {
                "student": student,
                "run": rid,
                "step": e["step"],
                "knob": e["knob"],
                "old": e["old"],
                "new": e["new"],
                "what": what_move_does(e["knob"], e["old"], e["new"]),
            }
            for e in own_moves
        ]
        if best is not None and not teacher:
            value = knobs.get(lesson.compare_by, run["config"].get(lesson.compare_by))
            outcomes.append({"student": student, "group": f"{lesson.compare_by} {format_value(value)}", "ppl": best})
    teachers = {row["run"] for row in rows if row["teacher"]}
    rows.sort(key=lambda r: (not r["within_limit"], r["best_ppl"] is None, r["best_ppl"] or 0.0))
    groups = []
    for group in sorted({o["group"] for o in outcomes}):
        interval = t_interval([o["ppl"] for o in outcomes if o["group"] == group])
        groups.append({"group": group, "mean": interval.mean, "lo": interval.lo, "hi": interval.hi, "n": interval.n})
    return Board(
        rows=rows,
        curves=curves,
        moves=moves,
        sentences=summarise_moves([m for m in moves if m["run"] not in teachers]),
        outcomes=outcomes,
        groups=groups,
        joined=classroom.joined(),
        training=classroom.training(),
        waiting=classroom.waiting(),
    )
