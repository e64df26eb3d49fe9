"""The core is pure: importing it loads no UI library, and the CLI starts without pandas."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

UI = ("streamlit", "plotly")


def loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_importing_registry_core_loads_no_ui_library():
    modules = loaded_after("import registry_core; from registry_core import Catalog")
    assert [m for m in modules if m.split(".")[0] in UI] == []


def test_importing_the_cli_does_not_load_pandas_or_ui():
    modules = loaded_after("import registry_core.cli")
    assert [m for m in modules if m.split(".")[0] in ("pandas", *UI)] == []


def test_every_core_module_imports_without_ui():
    import pkgutil

    import registry_core

    names = [m.name for m in pkgutil.walk_packages(registry_core.__path__, "registry_core.")]
    assert len(names) > 30
    modules = loaded_after("; ".join(f"import {n}" for n in names))
    assert [m for m in modules if m.split(".")[0] in UI] == []


ROOT = Path(__file__).resolve().parent.parent


def test_the_layer_contracts_hold():
    """pyproject.toml's import-linter contracts: each layer imports only the layers below it (docs/architecture.md)."""
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_core_module_is_in_a_layer():
    import pkgutil

    import registry_core

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    named = [m.strip() for layer in layers for m in re.split(r"[:|]", layer)]
    modules = [m.name for m in pkgutil.walk_packages(registry_core.__path__, "registry_core.") if not m.ispkg]
    outside = [m for m in modules if not any(m == n or m.startswith(n + ".") for n in named)]
    assert outside == [], "add these modules to a layer in pyproject.toml [tool.importlinter]"


# An SQL statement in a string literal: a query (SELECT ... FROM a view) or a statement that changes a database.
SQL_STATEMENT = re.compile(r"\bSELECT\b[\s\S]*?\bFROM\s+_?[A-Za-z_{]|\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET"
                           r"|CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|SCHEMA))\b")
# Where SQL may live: the index (reader.py asks every question; generation, extract, derive, views and
# filters build the index itself), and Catalog.query, the sandbox that runs the user's own SQL.
SQL_HOMES = ("registry_core/index/",)
SQL_SANDBOX = {("registry_core/catalog.py", "query")}


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string literal of ``path`` holding an SQL statement, outside the sandbox."""
    import ast

    tree = ast.parse(path.read_text(), str(path))
    relative = path.relative_to(ROOT).as_posix()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (relative, node.name) in SQL_SANDBOX:
            skip.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):  # an f-string: its constant parts around placeholders
            text = "{}".join(v.value if isinstance(v, ast.Constant) else "" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL_STATEMENT.search(text):
            found.append((node.lineno, text.strip().splitlines()[0]))
    return found


def client_and_core_files() -> list[Path]:
    files = [*sorted((ROOT / "registry_core").rglob("*.py")), *sorted((ROOT / "dashboard").rglob("*.py")),
             ROOT / "app.py"]
    return [f for f in files if not f.relative_to(ROOT).as_posix().startswith(SQL_HOMES)]


def test_no_sql_outside_the_index():
    """Every SQL string the core and the dashboard run lives in registry_core/index/ (the Reader, for
    questions); only Catalog.query runs SQL of its own, the user's (docs/architecture.md)."""
    found = {f"{path.relative_to(ROOT)}:{line}": text for path in client_and_core_files()
             for line, text in sql_strings(path)}
    assert found == {}, "move these into a method of registry_core/index/reader.Reader"


def test_the_sql_check_finds_sql():
    """The check above can fail: it sees the Reader's queries, f-strings included, and the sandbox's."""
    reader = sql_strings(ROOT / "registry_core/index/reader.py")
    assert len(reader) > 20
    assert any("{}" in text for _, text in reader)  # an f-string query
    catalog = ROOT / "registry_core/catalog.py"
    assert "CREATE SCHEMA" in catalog.read_text() and sql_strings(catalog) == []
    assert SQL_STATEMENT.search("SELECT id FROM _violations WHERE model = ?")
    assert not SQL_STATEMENT.search("one SELECT over models, versions, metrics")
