"""The product as a new user gets it: the wheel built from this checkout, `pip install`ed into fresh virtual
environments outside it, run from a folder that is no checkout. What is installed here is reused, not downloaded:
each environment's dependencies are a folder of links to this one's (a .pth file names it), and pip installs the
wheel with `--no-index`, so it must find every requirement of the wheel's metadata among them. Two environments:
one with the app and notebooks extras, one without them (there the commands that need one must say which)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.app_server import children_of, free_port, wait_until
from tests.raw_client import RawClient

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])  # this environment's packages: the dependencies, reused
EXTRAS = ("streamlit", "voila")  # what the app and notebooks extras bring that the commands look for
LESSON = "01_overfitting"  # a short lesson (about 25 s on 2 cores)

pytestmark = pytest.mark.slow


@dataclass
class Venv:
    path: Path
    wheel: Path

    def run(self, *args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.path / "bin" / args[0]), *args[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ | env,
        )


def build_wheel(into: Path) -> Path:
    """The wheel of what this checkout holds (tracked files and new ones git does not ignore), built from a copy:
    a build writes build/ and *.egg-info beside its sources, and the checkout is not ours to write in."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    source = into / "source"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(into), str(source)],
        check=True,
        capture_output=True,
    )
    return next(into.glob("explorer-*.whl"))


def make_venv(path: Path, wheel: Path, leave_out: tuple[str, ...], requirement: str) -> Venv:
    """A fresh environment whose dependencies are links to this one's, less explorer itself and `leave_out`;
    `requirement` installed from the wheel with pip, offline."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    links = path / "reused" / "site-packages"  # so named: Streamlit takes a copy outside one for its own source tree
    links.mkdir(parents=True)
    for entry in SITE.iterdir():
        if not entry.name.startswith(("explorer", "__editable__", *leave_out)):
            (links / entry.name).symlink_to(entry)
    site = Path(
        subprocess.check_output(
            [path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "reused.pth").write_text(f"{links}\n")
    subprocess.run(
        [path / "bin" / "python", "-m", "pip", "install", "-q", "--no-index", "--no-compile", requirement],
        check=True,
        capture_output=True,
    )
    return Venv(path, wheel)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def full(wheel, tmp_path_factory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("full") / "venv", wheel, (), f"explorer[app,notebooks] @ {wheel.as_uri()}")


@pytest.fixture(scope="module")
def bare(wheel, tmp_path_factory) -> Venv:
    return make_venv(tmp_path_factory.mktemp("bare") / "venv", wheel, EXTRAS, str(wheel))


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder that is no checkout: nothing of the repository is on the path from here."""
    return tmp_path


def test_the_wheel_holds_every_module_the_lessons_and_the_app_settings(wheel):
    """pyproject.toml lists the packages (two come from top-level folders): a package left off the list, or a
    lesson or setting not shipped, fails here."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name: archive.read(name) for name in archive.namelist()}
    for module in ROOT.glob("explorer/**/*.py"):
        assert module.relative_to(ROOT).as_posix() in shipped, f"{module} is not in the wheel"
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 10
    for notebook in notebooks:
        assert shipped[f"explorer/lessons/{notebook.name}"] == notebook.read_bytes()
    config = (ROOT / ".streamlit" / "config.toml").read_bytes()
    assert shipped["explorer/faces/streamlit/settings/config.toml"] == config
    assert shipped["explorer/corpora/tinyshakespeare.txt"]


def test_the_command_is_the_wheels_and_says_its_version(full, elsewhere):
    where = full.run("python", "-c", "import explorer; print(explorer.__file__)", cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(full.path), where
    version = full.wheel.name.split("-")[1]
    result = full.run("explorer", "--version", cwd=elsewhere)
    assert (result.returncode, result.stdout) == (0, f"explorer {version}\n")


def test_explorer_app_serves_the_app_from_the_wheel(full, elsewhere):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [full.path / "bin" / "explorer", "app", "--port", str(port), "--address", "127.0.0.1", "--no-browser"]
    app = subprocess.Popen(command, cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def status(path: str) -> int | None:
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                return response.status
        except OSError:
            return None

    try:
        assert wait_until(lambda: status("_stcore/health") == 200 or app.poll() is not None, 120, every=0.5)
        assert app.poll() is None, app.stdout.read()
        assert status("") == 200
        server = Path(f"/proc/{children_of(app.pid)[0]}/cmdline").read_bytes().split(b"\0")
        assert str(full.path).encode() in server[4]  # `python -m streamlit run ENTRY`: the wheel's entry file
        page = RawClient(url)
        drawn = page.rerun()
        assert not page.has("exception"), page.texts()
        assert any(kind == "button" and "Train" in part.label for kind, part in drawn)  # the app's script ran
        page.close()
        again = full.run("explorer", "app", "--port", str(port), cwd=elsewhere)
        assert again.returncode == 2
        assert (
            again.stderr
            == f"explorer: error: port {port} is in use (by another server?): choose another with --port N\n"
        )
    finally:
        app.send_signal(signal.SIGTERM)  # the command passes it on to its server
        app.wait(30)
    assert wait_until(lambda: status("_stcore/health") is None, 15)


RUN_LESSON = """
import json, sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell("import explorer; print('EXPLORER', explorer.__file__)"))
NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True).execute()
outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
print(json.dumps({
    "errors": [o.ename + ": " + o.evalue for o in outputs if o.output_type == "error"],
    "text": "".join(o.text for o in outputs if o.output_type == "stream"),
}))
"""


def test_explorer_lessons_writes_the_lessons_and_one_runs_there(full, elsewhere):
    result = full.run("explorer", "lessons", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    folder = elsewhere / "explorer-lessons"
    written = {p.name: p.read_bytes() for p in folder.glob("*.ipynb")}
    assert written == {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    (elsewhere / "run_lesson.py").write_text(RUN_LESSON)
    ran = full.run(
        "python",
        "run_lesson.py",
        str(folder / f"{LESSON}.ipynb"),
        cwd=elsewhere,
        timeout=900,
        EXPLORER_ANSWERS="skip",
    )
    assert ran.returncode == 0, ran.stderr
    outcome = json.loads(ran.stdout.splitlines()[-1])
    assert outcome["errors"] == []
    assert "RESULTS {" in outcome["text"]  # the lesson's numbers (tests/test_notebooks.py checks their claims)
    kernel_explorer = outcome["text"].rsplit("EXPLORER ", 1)[1].strip()
    assert Path(kernel_explorer).is_relative_to(full.path)  # the kernel ran the wheel's explorer


def test_without_the_extras_each_command_names_the_line_that_installs_them(bare, elsewhere):
    assert bare.run("python", "-c", "import streamlit", cwd=elsewhere).returncode == 1  # truly not there
    for command, extra in (("app", "app"), ("class", "app"), ("dashboard", "notebooks")):
        result = bare.run("explorer", command, cwd=elsewhere)
        assert result.returncode == 2 and result.stdout == ""
        needs = "streamlit" if extra == "app" else "voila"
        assert result.stderr == (
            f"explorer: error: explorer {command} needs {needs}, which is not installed: "
            f'pip install "explorer[{extra}]"\n'
        )
    lessons = bare.run("explorer", "lessons", "here", cwd=elsewhere)  # writing the lessons needs no extra
    assert lessons.returncode == 0 and len(list((elsewhere / "here").glob("*.ipynb"))) >= 10
