"""The run store with real processes and a real SQLite file: kill -9, concurrent writers, the CLI."""

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from explorer.faces.cli.main import main
from explorer.runs.store import SCHEMA_VERSION, RunStore, RunWriter, StoreError
from tests.conftest import tiny, wait_until
from tests.test_cli import TINY


def train_process(store, *args: str) -> subprocess.Popen:
    """`explorer train` as a user starts it, in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "explorer", "train", *TINY, "--store", str(store), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_of_a_training_process_keeps_its_records_and_marks_it_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    proc = train_process(path, "--steps", "1000000", "--eval-every", "5")
    store = RunStore(path)
    assert wait_until(lambda: store.runs() and store.runs()[0]["steps"] >= 20, timeout=60)
    run_id = store.runs()[0]["id"]
    assert store.run(run_id)["status"] == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    run = store.run(run_id)
    records = list(store.records(run_id))
    assert run["status"] == "interrupted" and run["steps"] >= 20
    assert [r["step"] for r in records if r["kind"] == "step"] == list(range(1, run["steps"] + 1))
    assert run["best_val_loss"] == min(r["val_loss"] for r in records if r["kind"] == "eval")


def _open_at_once(path, barrier, answers) -> None:
    barrier.wait()
    try:
        RunStore(path).runs()
        answers.put("ok")
    except StoreError as err:
        answers.put(str(err))


def test_processes_opening_a_new_store_at_the_same_moment_all_get_in(tmp_path):
    """SQLite refuses the switch to WAL at once (no busy wait) while another process creates the
    file: seen in CI as "database is locked" from one of three `explorer train` processes."""
    fork = multiprocessing.get_context("fork")
    for attempt in range(20):
        path, barrier, answers = tmp_path / f"runs{attempt}.sqlite", fork.Barrier(8), fork.Queue()
        procs = [fork.Process(target=_open_at_once, args=(path, barrier, answers)) for _ in range(8)]
        for proc in procs:
            proc.start()
        assert [answers.get(timeout=60) for _ in procs] == ["ok"] * 8
        for proc in procs:
            proc.join(10)


def test_three_processes_writing_one_store_lose_nothing(tmp_path):
    path = tmp_path / "runs.sqlite"
    procs = [
        train_process(path, "--steps", "150", "--eval-every", "10", "--seed", str(seed), "--threads", "1")
        for seed in range(3)
    ]
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr.read()
        assert "locked" not in proc.stderr.read()
    store = RunStore(path)
    runs = store.runs()
    assert len(runs) == 3 and {r["status"] for r in runs} == {"finished"}
    for run in runs:
        kinds = [r["kind"] for r in store.records(run["id"])]
        assert kinds.count("step") == 150 and kinds.count("eval") == 15 and kinds[0] == "start"
        assert run["steps"] == 150 and run["config"]["seed"] in (0, 1, 2)


def test_a_writer_is_at_most_a_flush_interval_behind(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run(tiny().to_dict(), "test")
    writer = RunWriter(store, run_id, flush_s=0.2)
    writer.add({"kind": "step", "step": 1, "train_loss": 1.0})
    assert list(store.records(run_id)) == []  # batched...
    time.sleep(0.25)
    writer.add({"kind": "step", "step": 2, "train_loss": 1.0})
    assert [r["step"] for r in store.records(run_id)] == [1, 2]  # ...but never more than 0.2 s behind


def test_the_schema_is_versioned_and_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer explorer"):
        RunStore(path)


def test_an_older_store_is_migrated_with_its_runs(tmp_path):
    from explorer.runs.store import MIGRATIONS

    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1] + ";PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO runs (id, name, created, updated, status, source, config) VALUES ('abc', 'old', 1, 1, "
        "'finished', 'cli', '{}')"
    )
    db.executemany(
        "INSERT INTO records VALUES ('abc', ?, 'step', ?, 0, ?)",
        [(i, i + 1, json.dumps({"kind": "step", "step": i + 1})) for i in range(5)],
    )
    db.commit()
    db.close()
    store = RunStore(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert [r["step"] for r in store.records("abc")] == [1, 2, 3, 4, 5]
    assert store.run("abc")["name"] == "old" and store.run("abc")["test_loss"] is None  # never scored on the test


def test_a_long_run_loads_thinned_for_charts(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = store.create_run(tiny().to_dict(), "test")
    records = [{"kind": "start", "config": tiny().to_dict()}]
    for step in range(1, 20_001):
        records.append(
            {"kind": "step", "step": step, "train_loss": 1.0, **({"grad_hist": [0] * 4} if step % 10 == 0 else {})}
        )
        if step % 25 == 0:
            records.append(
                {"kind": "eval", "step": step, "val_loss": 2.0, "gap": 0.1, "best_val_loss": 2.0, "best_step": step}
            )
    store.append(run_id, records, 0)
    snap = store.load_snapshot(run_id, max_points=1000)
    assert 900 <= len(snap.steps) <= 1001 and snap.steps[-1]["step"] == 20_000 and snap.steps[0]["step"] <= 20
    assert len(snap.evals) <= 801 and snap.evals[-1]["step"] == 20_000
    assert len(snap.details) <= 201 and all("grad_hist" in r for r in snap.details)


def test_cli_runs_list_show_export_rm_and_prune(tmp_path, capsys):
    path = str(tmp_path / "runs.sqlite")
    assert main(["train", *TINY, "--steps", "8", "--eval-every", "4", "--store", path, "--name", "first"]) == 0
    assert main(["train", *TINY, "--steps", "4", "--store", path, "--no-store"]) == 0  # not stored
    capsys.readouterr()
    assert main(["runs", "--json", "--store", path]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 1
    run = runs[0]
    assert {"id", "name", "status", "steps", "best_val_loss", "created", "config"} <= set(run)
    assert (run["name"], run["status"], run["steps"], run["source"]) == ("first", "finished", 8, "cli")
    assert main(["runs", "--store", path]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "name", "status"] and run["id"] in table[1]
    assert main(["runs", "show", run["id"][:4], "--store", path]) == 0
    assert "hidden=16" in capsys.readouterr().out
    out = tmp_path / "run.jsonl"
    assert main(["runs", "export", run["id"], "--format", "jsonl", "-o", str(out), "--store", path]) == 0
    assert [json.loads(line)["kind"] for line in out.read_text().splitlines()].count("step") == 8
    assert main(["runs", "export", run["id"], "--format", "csv", "--store", path]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("step,epoch,train_loss,val_loss") and len(csv) == 9
    assert main(["runs", "show", "nope", "--store", path]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["runs", "prune", "--store", path]) == 0  # a finished run stays
    assert "removed 0 runs" in capsys.readouterr().out
    assert main(["runs", "rm", run["id"], "--store", path]) == 0
    assert RunStore(path).runs() == []


def test_the_default_store_is_under_explorer_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path / "home"))
    assert main(["train", *TINY, "--steps", "3"]) == 0
    assert (tmp_path / "home" / "runs.sqlite").is_file()
    assert RunStore().runs()[0]["steps"] == 3


def test_an_unwritable_store_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["runs", "--store", str(blocker / "runs.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("explorer: error: cannot open the run store")


def test_a_paused_worker_run_killed_with_its_page_is_interrupted(tmp_path):
    """A page (here: a plain Python process holding a LiveRun) is killed; its worker follows it within
    10 s and the run is listed as interrupted."""
    path = tmp_path / "runs.sqlite"
    script = (
        "import sys, time\n"
        "from explorer.runs.live import LiveRun\n"
        "from tests.conftest import tiny\n"
        "if __name__ == '__main__':\n"
        f"    run = LiveRun(store={str(path)!r})\n"
        "    run.start(tiny())\n"
        "    print(run.pid, flush=True)\n"
        "    time.sleep(600)\n"
    )
    page = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    worker_pid = int(page.stdout.readline())
    store = RunStore(path)
    assert wait_until(lambda: store.runs() and store.runs()[0]["steps"] > 0, timeout=30)
    page.send_signal(signal.SIGKILL)
    page.wait(10)
    from explorer.runs.store import process_alive

    assert wait_until(lambda: not process_alive(worker_pid, None), timeout=10)
    assert wait_until(lambda: store.runs()[0]["status"] == "interrupted", timeout=5)
