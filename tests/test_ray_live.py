"""Live runs on a real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head and more nodes,
each its own raylet and worker processes), steered through the same LiveRun as a local run: where they land, what
comes back to the store, knobs, pause and resume through the actor, a node that leaves, and the faults a teacher can
meet (Ray missing, an unreachable address, a node with another explorer or none)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from explorer.classroom.seats import Classroom
from explorer.core.checkpoint import branch_steps
from explorer.runs.live import LiveRun
from explorer.runs.store import RunStore
from explorer.spec.errors import ExplorerError
from tests.conftest import tiny, wait_until

NODE = {"num_cpus": 2, "include_dashboard": False}


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (raylets, GCS, Ray's workers, our workers), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def shut_down(runs: list[LiveRun], cluster: Cluster, before: set[int]) -> None:
    """Every run, the driver's connection and the cluster's processes: none left behind."""
    for run in runs:
        run.close()
    ray.shutdown()
    cluster.shutdown()
    assert wait_until(lambda: not set(descendants(os.getpid())) - before, timeout=60), "Ray processes left behind"


def cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


# ------------------------------------------------------------------------------------ faults, each one line
def test_ray_missing_or_no_cluster_is_one_line_and_exit_2(tmp_path):
    no_ray = tmp_path / "no-ray" / "ray"
    no_ray.mkdir(parents=True)
    (no_ray / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")  # a Python without Ray
    env = os.environ | {"PYTHONPATH": str(no_ray.parent)}
    missing = cli("app", "--ray", "auto", "--port", "8597", "--no-browser", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "explorer: error: --ray needs Ray, which is not installed: pip install 'explorer[cluster]'"
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": str(tmp_path / "ray")}
    nothing = cli("class", "--ray", "auto", "--port", "8597", "--name", "ray-test", env=env)
    assert nothing.returncode == 2 and len(nothing.stderr.strip().splitlines()) == 1
    assert "this machine has joined no Ray cluster" in nothing.stderr


def test_an_unreachable_address_is_one_line_and_exit_2_within_a_minute():
    began = time.monotonic()
    result = cli("class", "--ray", "127.0.0.1:1", "--port", "8597", "--name", "ray-test")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in result.stderr
    assert time.monotonic() - began < 60  # Ray's own retries went on for over ten minutes


def test_a_node_without_explorer_or_with_another_is_refused_in_one_line(tmp_path, monkeypatch):
    """A node whose Python finds no explorer, then one whose explorer's code differs: the run is refused in one line
    and nothing trains there. Ray puts the driver's folder first on its workers' path, so the driver works from an
    empty folder here, as a server on another machine would be to the node."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    missing, other = tmp_path / "missing", tmp_path / "other"
    (missing / "explorer").mkdir(parents=True)
    (missing / "explorer" / "__init__.py").write_text(  # as on a machine without it (where an editable install's
        "raise ModuleNotFoundError(\"No module named 'explorer'\", name='explorer')\n"  # finder would fill gaps)
    )
    source = Path(__file__).resolve().parents[1] / "explorer"
    shutil.copytree(source, other / "explorer", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "explorer" / "__init__.py", "a") as file:
        file.write("# another version\n")
    before = set(descendants(os.getpid()))
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 0})  # every run on the odd node
    runs = []
    try:
        for folder, words in ((missing, "explorer is missing there, or another version"), (other, "has explorer")):
            monkeypatch.setenv("PYTHONPATH", str(folder))  # the node's processes find this explorer first
            node = cluster.add_node(num_cpus=1)
            monkeypatch.delenv("PYTHONPATH")
            run = LiveRun(tiny(), store=tmp_path / "runs.sqlite", ray=cluster.address, warm=False)
            runs.append(run)
            with pytest.raises(ExplorerError) as refused:
                run.start()
            assert words in str(refused.value) and "\n" not in str(refused.value)
            assert run.status == "idle" and not RunStore(tmp_path / "runs.sqlite").runs()
            cluster.remove_node(node)
    finally:
        shut_down(runs, cluster, before)


# ------------------------------------------------------------------------------------ a cluster of two nodes
@pytest.fixture(scope="module")
def cluster():
    """A head and a second node, two CPUs each; torn down with every process it started."""
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # no token to read on this one machine
    before = set(descendants(os.getpid()))
    cluster = Cluster(initialize_head=True, head_node_args=NODE)
    cluster.add_node(**NODE)
    yield cluster
    shut_down([], cluster, before)
    if saved is None:
        os.environ.pop("RAY_AUTH_MODE", None)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "runs.sqlite"


def live(cluster, store_path, **kwargs) -> LiveRun:
    return LiveRun(store=store_path, ray=cluster.address, source="test", **kwargs)


def start_all(runs: list[LiveRun]) -> None:
    """Every run's Train at once, as a class presses them (Ray starts their actors side by side)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        list(pool.map(lambda run: run.start(tiny(steps=100_000)), runs))


def test_runs_land_on_both_nodes_train_and_their_records_are_in_the_store(cluster, store_path):
    runs = [live(cluster, store_path, owner=f"student {i}") for i in range(4)]
    try:
        start_all(runs)
        assert {run.node for run in runs} == {node.node_id for node in cluster.list_all_nodes()}  # 4 CPUs, 4 runs
        assert all(run.device == "cpu" and run.status == "running" for run in runs)  # no GPU: CUDA was not chosen
        extra = live(cluster, store_path)
        runs.append(extra)
        assert wait_until(lambda: ray.available_resources().get("CPU", 0) < 1, timeout=10)
        with pytest.raises(ExplorerError, match="the Ray cluster has no CPU free for this run"):
            extra.start(tiny())  # one line, at once: not held back in Ray's queue with nothing on the page
        assert wait_until(lambda: all(run.snapshot().last_step >= 30 for run in runs[:4]), timeout=60)
        store = RunStore(store_path)
        assert wait_until(lambda: all(store.run(run.run_id)["steps"] >= 30 for run in runs[:4]), timeout=10)
        first = runs[0]
        first.stop()
        stored = [r for r in store.records(first.run_id) if r["kind"] == "step"]
        assert [r["step"] for r in stored] == list(range(1, first.snapshot().last_step + 1))  # every step, once
        assert store.run(first.run_id)["status"] == "stopped" and store.run(first.run_id)["owner"] == "student 0"
        assert store.run(runs[1].run_id)["status"] == "running"
        first.close()  # its actor's CPU comes back a moment later: a run started at once waits for it, not refused
        extra.start(tiny(steps=100_000))
        assert extra.status == "running"
    finally:
        for run in runs:
            run.close()


def test_knobs_pause_resume_a_single_step_and_a_sample_go_through_the_actor(cluster, store_path):
    run = live(cluster, store_path)
    try:
        run.start(tiny(steps=100_000))
        assert wait_until(lambda: run.snapshot().last_step >= 5, timeout=60)
        run.set_knobs(dropout=0.4)
        assert wait_until(lambda: run.snapshot().knob_changes(), timeout=10)
        change = run.snapshot().knob_changes()[0]
        assert (change["old"], change["new"]) == (0.0, 0.4)
        run.pause()
        assert wait_until(lambda: RunStore(store_path).run(run.run_id)["status"] == "paused", timeout=10)
        held = run.snapshot().last_step
        time.sleep(1.0)  # a paused run takes no step, however long it waits
        assert run.snapshot().last_step == held and run.status == "paused"
        run.step_once()
        assert wait_until(lambda: run.snapshot().last_step == held + 1, timeout=10)
        assert isinstance(run.sample(length=20), str)
        run.resume()
        assert wait_until(lambda: run.snapshot().last_step > held + 10, timeout=10)
        run.stop()
        knobs = [r for r in RunStore(store_path).records(run.run_id) if r["kind"] == "event" and r["event"] == "knob"]
        assert [(e["step"], e["knob"], e["new"]) for e in knobs] == [(change["step"], "dropout", 0.4)]
    finally:
        run.close()


def test_a_class_on_ray_lets_as_many_train_as_the_cluster_has_cpus(cluster, store_path):
    room = Classroom("7R", store_path=str(store_path), ray=cluster.address)
    assert room.max_runs == 4 and room.limit_by == "the Ray cluster's CPUs"
    assert Classroom("7S", store_path=str(store_path), ray=cluster.address, max_runs=2).max_runs == 2


def test_a_node_that_leaves_interrupts_only_its_runs_which_go_on_from_their_last_checkpoint(cluster, store_path):
    third = cluster.add_node(**NODE)
    runs = [live(cluster, store_path, owner=f"student {i}") for i in range(6)]
    try:
        start_all(runs)
        leaving = [run for run in runs if run.node == third.node_id]
        staying = [run for run in runs if run.node != third.node_id]
        assert len(leaving) == 2 and len(staying) == 4  # six CPUs, six runs: two on each node
        assert wait_until(lambda: all(branch_steps(store_path, run.run_id) for run in leaving), timeout=60)
        # the machine vanishes (its processes killed, as at a power cut): its actors are seen lost at once, while
        # the cluster marks the node dead only after missed health checks (about 20 s)
        cluster.remove_node(third, allow_graceful=False)
        assert wait_until(lambda: all(run.status == "interrupted" for run in leaving), timeout=60)
        store = RunStore(store_path)
        for run in leaving:
            assert run.error.startswith("The machine training this run") and "\n" not in run.error
            assert "left the cluster" in run.error and store.run(run.run_id)["status"] == "interrupted"
            assert store.run(run.run_id)["message"] == run.error
        going = {run: run.snapshot().last_step for run in staying}
        assert wait_until(lambda: all(run.snapshot().last_step > going[run] + 5 for run in staying), timeout=30)
        assert all(run.status == "running" and store.run(run.run_id)["status"] == "running" for run in staying)
        for run in staying[:2]:
            run.stop()  # two CPUs free for the two interrupted runs
        assert wait_until(lambda: ray.available_resources().get("CPU", 0) >= 2, timeout=30)  # as Ray sees them
        for run in leaving:
            parent, kept = run.run_id, max(branch_steps(store_path, run.run_id))
            run.train()  # the page's Train: on, from the last checkpoint the server kept, on a node still there
            assert run.status == "running" and run.node != third.node_id and run.run_id != parent
            assert (store.run(run.run_id)["parent_id"], store.run(run.run_id)["branch_step"]) == (parent, kept)
            assert run.snapshot().steps[0]["step"] < kept  # its curves from the start, then on past the checkpoint
            assert wait_until(lambda r=run, k=kept: r.snapshot().last_step > k + 5, timeout=30)
    finally:
        for run in runs:
            run.close()


# ------------------------------------------------------------------------------------ a class in the browser
def test_a_class_on_ray_in_the_browser_where_a_node_leaves_says_so_on_its_students_page_only(tmp_path):
    """`explorer class --ray`'s server (EXPLORER_RAY) on a head and a second node of one CPU each: two students'
    runs train one on each node; the second node leaves, and only the student whose run trained there reads that
    her run was interrupted, while the other's goes on, until the server stops."""
    from playwright.sync_api import sync_playwright

    from tests.app_server import StreamlitServer, launch_chromium, status_text, step_of, tiny_query

    before = set(descendants(os.getpid()))
    cluster = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 1})
    second = cluster.add_node(num_cpus=1)
    env = {
        "EXPLORER_CLASS": "7R",
        "EXPLORER_CLASS_TOKEN": "test-teacher-token-0123456789",
        "EXPLORER_HOME": str(tmp_path),
        "EXPLORER_RAY": cluster.address,
        "RAY_AUTH_MODE": "disabled",
    }
    try:
        with StreamlitServer(env=env) as server, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            pages = []
            for name in ("Ada", "Cy"):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.set_default_timeout(60_000)
                page.goto(server.link(**tiny_query()))
                page.locator(".st-key-join_name input").fill(name)
                page.get_by_role("button", name="Join the class").click()
                page.get_by_role("button", name="▶ Train", exact=True).click(timeout=90_000)
                pages.append(page)
            assert wait_until(lambda: all(step_of(status_text(page)) >= 20 for page in pages), 120)
            cluster.remove_node(second)
            left = wait_until(lambda: any("left the cluster" in status_text(page) for page in pages), 60)
            assert left, [status_text(page) for page in pages]
            gone = [page for page in pages if "left the cluster" in status_text(page)]
            (staying,) = [page for page in pages if page not in gone]
            assert len(gone) == 1 and status_text(gone[0]).startswith("The machine training this run")
            going = step_of(status_text(staying))
            assert wait_until(lambda: step_of(status_text(staying)) > going + 20, 30), status_text(staying)
            assert status_text(staying).startswith("Training")
            browser.close()
        # the server stopped (SIGTERM): Ray ends its actors, and the run that was training is recorded as interrupted
        runs = RunStore(tmp_path / "runs.sqlite").runs(class_name="7R")
        assert sorted((run["status"], run["message"].split(" (")[0]) for run in runs) == [
            ("interrupted", "The machine training this run"),
            ("interrupted", "the server stopped"),
        ]
    finally:
        cluster.shutdown()
        assert wait_until(lambda: not set(descendants(os.getpid())) - before, timeout=30), "Ray processes left behind"
