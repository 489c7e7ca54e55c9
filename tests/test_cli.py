"""The CLI as a user runs it: real subprocesses for the error contract, in-process runs for the rest."""

import ast
import hashlib
import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from explorer.faces.cli.main import main
from explorer.runs.store import HOST, RunStore
from explorer.spec.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--hidden",
    "16",
    "--embed",
    "8",
    "--seq-len",
    "16",
    "--batch-size",
    "4",
    "--train-fraction",
    "0.01",
    "--eval-batches",
    "2",
    "--device",
    "cpu",
    "--quiet",
]


def explorer(*args: str) -> subprocess.CompletedProcess:
    """The real command in a fresh process, as a user's shell runs it."""
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=120)


def run_in_process(capsys, *args: str) -> tuple[int, str]:
    """main() in this process (no torch import per case); argparse's own errors arrive as SystemExit."""
    try:
        code = main(list(args))
    except SystemExit as done:
        code = done.code
    return code, capsys.readouterr().err


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "empty": tmp_path / "empty.txt",
        "binary": tmp_path / "img.bin",
        "latin1": tmp_path / "latin.txt",
        "short": tmp_path / "short.txt",
    }
    files["empty"].write_text("")
    files["binary"].write_bytes(bytes(range(256)) * 10)
    files["latin1"].write_bytes("Ça va très bien, merci. ".encode("latin-1") * 200)
    files["short"].write_text("Too short for a batch.")
    return files


@pytest.mark.parametrize(
    "args, words",
    [
        (["--corpus", "/no/such/file.txt"], "corpus file not found"),
        (["--corpus", "{empty}"], "corpus file is empty"),
        (["--corpus", "{binary}"], "looks binary"),
        (["--corpus", "{latin1}"], "not UTF-8"),
        (["--corpus", "{short}"], "one batch needs"),
        (["--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["--l2", "-0.1"], "l2 must be in"),
        (["--clip", "-1"], "clip must be in"),
        (["--cell", "transformer"], "invalid choice: 'transformer'"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--at", "10", "wobble=1"], "unknown knob 'wobble'"),
        (["--at", "10", "hidden=3"], "hidden is fixed"),
        (["--at", "ten", "dropout=0.1"], "--at needs a whole step number"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, bad_files, args, words):
    args = [a.format(**bad_files) for a in args]
    code, err = run_in_process(capsys, "train", *TINY, "--steps", "2", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("explorer: error:"), err
    assert words in lines[0]


def test_a_real_process_shows_no_traceback_for_a_mistake(bad_files):
    result = explorer("train", *TINY, "--corpus", str(bad_files["binary"]))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"explorer: error: corpus file looks binary (it contains NUL bytes), not text: {bad_files['binary']}"
    ]


def test_at_changes_a_live_knob_from_exactly_that_step(tmp_path):
    out = tmp_path / "m.jsonl"
    assert (
        main(
            [
                "train",
                *TINY,
                "--steps",
                "12",
                "--eval-every",
                "4",
                "--at",
                "7",
                "dropout=0.5",
                "--at",
                "9",
                "batchnorm=on",
                "--metrics-out",
                str(out),
            ]
        )
        == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    steps = {r["step"]: r for r in records if r["kind"] == "step"}
    assert len(steps) == 12 and records[0]["kind"] == "start"
    assert [steps[s]["dropout"] for s in (6, 7, 12)] == [0.0, 0.5, 0.5]
    assert [steps[s]["batchnorm"] for s in (8, 9)] == [False, True]
    for r in steps.values():
        assert {"train_loss", "grad_norm", "clipped", "l2", "l1", "clip", "lr"} <= set(r)
    evals = [r for r in records if r["kind"] == "eval"]
    assert [e["step"] for e in evals] == [4, 8, 12] and all("val_ppl" in e for e in evals)


def test_train_save_then_sample(tmp_path):
    ckpt = tmp_path / "model.pt"
    assert main(["train", *TINY, "--steps", "5", "--save", str(ckpt)]) == 0
    result = explorer("sample", "--checkpoint", str(ckpt), "--prompt", "ROMEO:", "--length", "40")
    assert result.returncode == 0 and result.stdout.startswith("ROMEO:")
    assert len(result.stdout.rstrip("\n")) == len("ROMEO:") + 40
    bad = explorer("sample", "--checkpoint", str(tmp_path / "missing.pt"))
    assert bad.returncode == 2 and "checkpoint not found" in bad.stderr
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    assert main(["sample", "--checkpoint", str(tmp_path / "junk.pt")]) == 2


def test_presets_lists_every_preset_with_a_line():
    result = explorer("presets")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == list(PRESETS)
    assert {"overfit", "dropout", "l2", "exploding", "clip", "batchnorm", "early-stop"} <= set(names)


def test_flags_override_a_preset(tmp_path):
    out = tmp_path / "m.jsonl"
    assert main(["train", "--preset", "dropout", *TINY, "--steps", "2", "--metrics-out", str(out)]) == 0
    start = json.loads(out.read_text().splitlines()[0])
    assert start["config"]["dropout"] == 0.5 and start["config"]["hidden"] == 16


def test_the_end_of_a_run_says_bits_per_character_and_the_test_score(capsys):
    loud = [a for a in TINY if a != "--quiet"]
    code, err = run_in_process(capsys, "train", *loud, "--steps", "6", "--eval-every", "3", "--no-store")
    lines = err.strip().splitlines()
    assert code == 0
    assert re.fullmatch(r"finished 6 steps; best validation loss \d\.\d{3} \(\d\.\d{3} bpc\) at step [36]", lines[-3])
    cadence = r"instruments: details every [\d,]+ steps, memorisation every [\d,]+; [\d.]+% of training"
    assert re.fullmatch(cadence, lines[-2])
    assert re.fullmatch(r"test loss \d\.\d{3} \(\d\.\d{3} bpc\) on [\d,]+ test tokens", lines[-1])
    code, err = run_in_process(
        capsys, "train", *loud, "--level", "word", "--train-fraction", "0.05", "--steps", "3", "--no-store"
    )
    assert code == 0 and re.fullmatch(
        r"test loss \d+\.\d{3} \(perplexity [\d.]+\) on [\d,]+ test tokens", err.strip().splitlines()[-1]
    )


def test_the_run_says_when_the_slower_cell_is_on_and_when_nothing_was_evaluated(capsys):
    loud = [a for a in TINY if a != "--quiet"]
    code, err = run_in_process(capsys, "train", *loud, "--steps", "2", "--recurrent-dropout", "0.3", "--no-store")
    lines = err.strip().splitlines()
    assert code == 0 and lines[0] == "explicit cell (recurrent dropout): slower than the fused LSTM"
    assert "finished 2 steps; no evaluation (--eval-every" in lines[-3] and "inf" not in err
    code, err = run_in_process(capsys, "train", *loud, "--steps", "2", "--eval-every", "1", "--no-store")
    assert "explicit" not in err


def test_an_old_flag_value_still_works_under_its_new_name(tmp_path):
    out = tmp_path / "m.jsonl"
    args = ["train", *TINY, "--steps", "4", "--dropout", "0.2", "--dropout-kind", "variational", "--no-store"]
    assert main([*args, "--at", "3", "dropout_kind=standard", "--metrics-out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["config"]["dropout_kind"] == "locked"
    assert [r["dropout_kind"] for r in records if r["kind"] == "step"] == ["locked", "locked", "standard", "standard"]


def test_a_sigterm_to_the_class_command_alone_stops_its_server(tmp_path):
    """`kill PID` (a service manager, `docker stop`) signals the command, not its process group: the server
    it started must stop with it, not go on serving the class as an orphan, and its students' runs (hosted in its
    worker processes) are in the store as interrupted."""
    import os
    import signal
    import urllib.request

    from explorer.runs.store import RunStore
    from tests.app_server import children_of, free_port, tiny_query, wait_until
    from tests.raw_client import RawClient, text

    port = free_port()
    env = os.environ | {"EXPLORER_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "explorer", "class", "--address", "127.0.0.1", "--port", str(port)]
    cli = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def serving() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        assert wait_until(serving, 90, every=0.5), "the class server did not start"
        students = []
        for name in ("Ada", "Bo", "Cy"):
            client = RawClient(f"http://127.0.0.1:{port}/", tiny_query())
            client.rerun()
            client.click("join", join_name=text(name))
            client.click("train")
            students.append(client)
        store = RunStore(str(tmp_path / "runs.sqlite"))
        assert wait_until(lambda: len(store.runs(status="running")) == 3, 60), store.runs()
        children, family = children_of(cli.pid), []
        assert children, "the class command runs its server as a child"
        while children:  # the server, its forkserver, the processes that host the runs
            family += children
            children = [grandchild for child in children for grandchild in children_of(child)]
        assert len(family) >= 3
        cli.send_signal(signal.SIGTERM)
        cli.wait(30)
        assert wait_until(lambda: not serving() and not any(os.path.exists(f"/proc/{pid}") for pid in family), 15)
        assert [run["status"] for run in store.runs()] == ["interrupted"] * 3
    finally:
        if cli.poll() is None:
            cli.kill()


def test_the_entry_file_shipped_in_the_package_runs_what_streamlit_app_py_runs():
    """`explorer app` and `class` give `streamlit run` the package's entry.py; a checkout's `streamlit run
    streamlit_app.py` runs the top-level file. Both must start the same app."""
    from explorer.faces.cli.shipped import STREAMLIT_ENTRY

    def code(path: Path) -> list[str]:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        return [ast.unparse(node) for node in body[1:]]  # all but the docstring

    assert code(STREAMLIT_ENTRY) == code(ROOT / "streamlit_app.py")


def test_the_app_and_the_class_run_with_the_settings_of_the_one_config_file():
    from explorer.core.data import MAX_UPLOAD_MIB
    from explorer.faces.cli.serve_commands import streamlit_command
    from explorer.faces.cli.shipped import streamlit_settings

    assert streamlit_settings() == ROOT / ".streamlit" / "config.toml"  # in a checkout: the file Streamlit reads
    command = streamlit_command("--server.port", "9999")
    assert command[-2:] == ["--server.port", "9999"]
    assert f"--server.maxUploadSize={MAX_UPLOAD_MIB}" in command  # the server refuses what explorer would
    assert {"--runner.postScriptGC=false", "--client.toolbarMode=minimal", "--browser.gatherUsageStats=false"} < set(
        command
    )


def test_lessons_are_written_updated_and_an_edited_one_is_kept(tmp_path, capsys):
    target = tmp_path / "lessons"
    shipped = {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert main(["lessons", str(target)]) == 0
    written = {p.name: p.read_bytes() for p in target.glob("*.ipynb")}
    assert written == shipped and "dashboard.ipynb" in written and len(written) >= 10
    assert capsys.readouterr().out.startswith(f"lessons in {target}: {len(shipped)} new")

    manifest = target / ".explorer-lessons.json"
    older = b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}'  # as an older explorer wrote it
    (target / "02_dropout.ipynb").write_bytes(older)
    record = json.loads(manifest.read_text())
    record["written"]["02_dropout.ipynb"] = hashlib.sha256(older).hexdigest()
    manifest.write_text(json.dumps(record))
    edited = shipped["01_overfitting.ipynb"].replace(b"Overfitting", b"Overfitting, my class's version")
    (target / "01_overfitting.ipynb").write_bytes(edited)
    mine = target / "my_notes.ipynb"
    mine.write_text("{}")

    code, err = run_in_process(capsys, "lessons", str(target))
    assert code == 2 and err.count("\n") == 1 and "01_overfitting.ipynb" in err and "--force" in err
    assert (target / "01_overfitting.ipynb").read_bytes() == edited  # the teacher's edit is kept
    assert (target / "02_dropout.ipynb").read_bytes() == shipped["02_dropout.ipynb"]  # unedited: updated
    code, err = run_in_process(capsys, "lessons", str(target))
    assert code == 2 and "01_overfitting.ipynb" in err  # still kept, still said
    assert main(["lessons", str(target), "--force"]) == 0
    assert {p.name: p.read_bytes() for p in target.glob("[0-9][0-9]_*.ipynb")} == {
        k: v for k, v in shipped.items() if k[:2].isdigit()
    }
    assert mine.read_text() == "{}"  # a notebook explorer never wrote is never touched
    assert not list(target.glob(".*.partial"))

    (tmp_path / "a-file").write_text("")
    code, err = run_in_process(capsys, "lessons", str(tmp_path / "a-file"))
    assert code == 2 and err == f"explorer: error: {tmp_path / 'a-file'} is a file: give a folder for the lessons\n"


def test_a_port_in_use_or_a_bad_address_is_one_line_before_any_server_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in (["app", "--port", port], ["class", "--address", "127.0.0.1", "--port", port]):
            result = explorer(*command)
            assert (
                result.returncode == 2 and result.stdout == ""
            )  # the class prints no links for a server it cannot start
            assert (
                result.stderr
                == f"explorer: error: port {port} is in use (by another server?): choose another with --port N\n"
            )
    result = explorer("dashboard", "--port", "70000")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--port must be between" in result.stderr
    result = explorer("app", "--address", "192.0.2.1")  # a documentation address: never this machine's
    assert result.returncode == 2 and result.stderr.startswith("explorer: error: cannot listen on 192.0.2.1: ")
    assert result.stderr.count("\n") == 1


def test_the_dashboard_command_serves_the_dashboard_notebook(tmp_path):
    from tests.app_server import free_port, wait_until

    port = free_port()
    command = [sys.executable, "-m", "explorer", "dashboard", "--port", str(port), "--address", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--no-browser"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def page() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                return response.read().decode()
        except OSError:
            return None

    try:
        html = wait_until(page, 120, every=0.5)
        assert html and "jupyter-widgets" in html, server.stderr.read1().decode() if server.poll() is not None else ""
        assert "Traceback" not in html
    finally:
        server.terminate()
        assert server.wait(30) is not None


def test_a_class_already_served_here_is_refused_in_one_line(tmp_path):
    """Two servers for one class would each give out its seats and set its lesson: the second is refused
    before it prints a link; a claim whose process has ended (a crashed server) does not count."""
    import os

    from explorer.classroom.seats import claim_class

    env = os.environ | {"EXPLORER_HOME": str(tmp_path)}
    claim_class("7B", tmp_path / "runs.sqlite")  # this test's process serves 7B
    command = [sys.executable, "-m", "explorer", "class", "--name", "7B", "--address", "127.0.0.1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"explorer: error: class '7B' is already being served here (process {os.getpid()}): stop that one, or "
        "pick another --name"
    ]
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    RunStore(tmp_path / "runs.sqlite").save_class_state(
        "8C", "server", {"host": HOST, "pid": int(ended.stdout), "start": None}
    )
    claim_class("8C", tmp_path / "runs.sqlite")  # that server is gone: the class is free
