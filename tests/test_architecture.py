"""The house's rules, checked (docs/architecture.md): the import contract in pyproject.toml, views without torch,
no module reaching into another's private names, and modules and functions small enough to read in one sitting."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "explorer"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 600, 80


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_the_import_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and "5 kept" in result.stdout


def test_the_views_load_without_torch():
    views = [f"explorer.views.{p.stem}" for p in (PACKAGE / "views").glob("*.py") if p.stem != "__init__"]
    loaded = "[m for m in ('torch', 'streamlit') if m in sys.modules]"
    code = f"import sys\nfor m in {views!r}: __import__(m)\nprint({loaded})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_no_module_imports_another_modules_private_names():
    offences = []
    for path in python_files("explorer", "tests", "benchmarks", "notebooks"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("explorer"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                offences += [f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{name}" for name in private]
    assert not offences, offences


def test_modules_and_functions_stay_readable_in_one_sitting():
    long_modules, long_functions = [], []
    for path in python_files("explorer") + [ROOT / "streamlit_app.py"]:
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long_modules, long_modules
    assert not long_functions, long_functions
