"""What must hold on any damaged catalog: the damage is named, the rest keeps working, nothing leaks."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from registry_core import Catalog, NotFound, RegistryError
from registry_core.cli import main

from .corpus import ALICE, BOB, INTACT, INTACT_VERSIONS, SECRET, Case

# Commands a user, a CI job and an auditor run; none may crash, whatever the catalog holds.
QUICK_COMMANDS = [["list"], ["resolve", "fraud@production"], ["show", "victim@latest", "--format", "json"]]
READ_COMMANDS = [
    ["list"], ["list", "fraud"], ["list", "--format", "json"], ["list", "victim"],
    ["query", "SELECT model, count(*) AS n FROM versions GROUP BY model ORDER BY model"],
    ["query", "SELECT * FROM metrics"], ["query", "SELECT * FROM events"],
    ["resolve", "fraud@production", "--format", "json"], ["resolve", "victim@latest"],
    ["show", "fraud@production"], ["show", "victim@latest", "--format", "json"],
    ["compare", "fraud@1", "fraud@2", "fraud@3"], ["lineage", "fraud@3", "--format", "dot"],
    ["history"], ["requests"], ["verify", "fraud@production"], ["verify"], ["gc", "--dry-run", "--older-than", "0"],
]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(root: Path, *args: str, user: str = BOB) -> CliResult:
    """``modelreg --catalog ROOT --user USER ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--catalog", str(root), "--user", user, *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


@dataclass
class Outcome:
    """Everything one case produced, for the assertions and the report."""

    problems: list[dict] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.texts)


def check_writes(root: Path, registry_broken: bool) -> None:
    """Writes to healthy models still work, unless registry.yaml is broken: then lifecycle writes are refused."""
    try:
        Catalog(root, user=ALICE).promote("churn", 1, "staging", reason="still works")
        assert not registry_broken, "a lifecycle write went through on a broken registry.yaml"
    except RegistryError as exc:
        assert registry_broken and "registry.yaml" in str(exc), exc
    Catalog(root, user=BOB).register("churn", metrics={"test": {"roc_auc": 0.71}})


def check_rest(cat: Catalog, outcome: Outcome, commands: list[list[str]]) -> None:
    """The healthy models answer as before, through the API and the CLI, and nothing crashes."""
    for ref, version in INTACT.items():
        assert cat.resolve(ref)["version"] == version, ref
    for model, versions in INTACT_VERSIONS.items():
        assert sorted(v["version"] for v in cat.versions(model)) == versions
    frame = cat.query("SELECT model, count(*) AS n FROM versions WHERE model IN ('fraud', 'churn') GROUP BY model")
    assert dict(zip(frame["model"], frame["n"])) == {"fraud": 3, "churn": 1}
    assert len(cat.requests("fraud")) == 1
    for call in (lambda: cat.get("victim@latest"), cat.models):
        try:
            outcome.texts.append(json.dumps(call(), default=str))
        except RegistryError as exc:  # the victim may be gone; refusing is fine, crashing is not
            outcome.texts.append(str(exc))
    for args in commands:
        result = run_cli(cat.root, *args)
        outcome.texts += [result.out, result.err]
        assert result.code in (0, 1) and "unexpected" not in result.err, (args, result)
        if "victim" not in " ".join(args) and args[0] not in ("verify", "gc"):
            assert result.code == 0, (args, result)


def matching(problems: list[dict], case: Case) -> list[dict]:
    return [p for p in problems if case.path in p["path"] and re.search(case.message, p["message"])
            and p["severity"] == case.severity]


def check_case(case: Case, root: Path) -> Outcome:
    """Run the readers over a damaged catalog and assert the contract; returns what was seen.

    A quick set of CLI commands runs here (the API calls behind the others run anyway); every read
    command runs on the catalog holding all the cases at once, with :func:`check_writes`.
    """
    outcome = Outcome()
    cat = Catalog(root, user=BOB)
    command = run_cli(root, case.via, "--format", "json")  # what a user sees is what the test checks
    outcome.texts += [command.out, command.err]
    assert "unexpected" not in command.err, command.err
    if case.via == "verify":
        outcome.problems = [{"path": r["path"], "severity": "error", "message": r["message"]}
                            for r in json.loads(command.out) if not r["ok"]]
    else:
        outcome.problems = json.loads(command.out)
    assert matching(outcome.problems, case), f"{case.id}: no problem on {case.path!r} matching " \
                                             f"{case.message!r} ({case.severity}) in {outcome.problems}"
    errors = [p for p in outcome.problems if p["severity"] == "error"]
    assert command.code == (1 if errors else 0), command

    check_rest(cat, outcome, QUICK_COMMANDS)
    if case.kind == "registry":
        check_writes(root, registry_broken=any(p["path"] == "registry.yaml" for p in errors))

    assert SECRET not in outcome.text(), f"{case.id}: the secret outside the catalog leaked into the output"
    return outcome


APP = Path(__file__).resolve().parents[2] / "app.py"
TEXT_ELEMENTS = ("markdown", "caption", "error", "warning", "info", "success", "code", "json", "text", "title",
                 "header", "subheader", "metric", "exception")


def check_dashboard(root: Path) -> list[str]:
    """Open every page of the dashboard on ``root``: none may raise; returns the pages' text."""
    from streamlit.testing.v1 import AppTest

    previous = os.environ.get("MODELREG_CATALOG")
    os.environ["MODELREG_CATALOG"] = str(root)
    try:
        return _open_pages(AppTest.from_file(str(APP), default_timeout=30))
    finally:
        if previous is None:
            os.environ.pop("MODELREG_CATALOG", None)
        else:
            os.environ["MODELREG_CATALOG"] = previous


def _open_pages(at) -> list[str]:
    at.run()
    texts = []
    pages = sorted(p.relative_to(APP.parent).as_posix() for p in (APP.parent / "dashboard" / "pages").glob("*.py"))
    for page in [None, *pages]:
        if page is not None:
            at.switch_page(page).run()
        assert not at.exception, f"{page or 'app.py'}: {[e.value for e in at.exception]}"
        for kind in TEXT_ELEMENTS:
            texts += [str(getattr(e, "value", "")) for e in at.get(kind)]
        texts += [e.value.to_string() for e in at.dataframe]
    return texts


def resolve_outcome(cat: Catalog, ref: str, at: dt.datetime | None) -> tuple:
    try:
        found = cat.resolve(ref, at=at)
    except NotFound:
        return ("not found",)
    return found["version"], found["stage"], found["path"], found["artifacts"]


def assert_resolve_agrees_with_replay(cat: Catalog, model: str, aliases: list[str]) -> None:
    """``resolve`` answers from the index's replayed tables; ``resolve(at=...)`` replays the events itself:
    after the last event, every reference must resolve the same either way."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    count = len(cat.sql("SELECT version FROM _versions WHERE model = ?", [model]))
    selectors = [*cat.settings.stage_names, "none", "latest", *aliases, "no-such-alias",
                 *(str(v) for v in range(1, count + 2))]
    for selector in selectors:
        ref = f"{model}@{selector}"
        assert resolve_outcome(cat, ref, None) == resolve_outcome(cat, ref, later), ref
