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
