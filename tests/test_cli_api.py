"""CLI verb = API method: every ``modelreg`` command is the ``Catalog`` method of the same name (#17)."""

import pytest

from registry_core import Catalog
from registry_core.cli import build_parser

COMMANDS = build_parser()._subparsers._group_actions[0].choices
#: commands that are not catalog operations: ``ui`` starts the Streamlit server on the catalog
NOT_OPERATIONS = {"ui"}


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - NOT_OPERATIONS))
def test_every_command_has_a_catalog_method_of_the_same_name(command):
    method = getattr(Catalog, command.replace("-", "_"), None)
    assert callable(method), f"modelreg {command} has no Catalog.{command.replace('-', '_')}"


def test_the_named_methods_answer_like_the_old_ones(fraud):
    assert fraud.show("fraud-detector@2") == fraud.get("fraud-detector@2")
    assert fraud.list() == fraud.models()
    assert fraud.list("fraud-detector") == fraud.versions("fraud-detector")
    assert fraud.datasets("transactions") == fraud.dataset_usage("transactions")


def test_datasets_lists_each_dataset_then_the_versions_that_used_one(cli, fraud):
    listing = cli("datasets", "--format", "json").json
    assert [(d["name"], d["versions"]) for d in listing] == [("transactions", 2)]
    usage = cli("datasets", "transactions", "--format", "json").json
    assert [(u["model"], u["version"], u["dataset"], u["stage"]) for u in usage] == [
        ("fraud-detector", 2, "transactions@2026-10", "production"),
        ("fraud-detector", 1, "transactions@2026-09", "archived"),
        ("fraud-detector", 1, "transactions@2026-09-holdout", "archived")]
    csv = cli("datasets", "transactions", "--format", "csv").out.splitlines()
    assert csv[0] == "model,version,dataset,role,stage,deployed" and len(csv) == 4
    table = cli("datasets").out
    assert "transactions" in table and "VERSIONS" in table
    unknown = cli("datasets", "nothing-like-this")
    assert unknown.code == 1 and "'nothing-like-this'" in unknown.err


def test_plan_shows_without_writing_and_names_each_blockers_kind(cli, fraud):
    events = sorted((fraud.root / "models/fraud-detector/events").iterdir())
    refused = cli("plan", "fraud-detector", "2", "production", "--format", "json")
    assert refused.code == 0
    assert refused.json["action"] == "refused"
    assert refused.json["blockers"] == [{"kind": "conflict", "reason": "fraud-detector@2 is already in production"}]
    gated = cli("plan", "fraud-detector", "3", "staging")
    assert gated.code == 0 and "would be refused: gate failed" in gated.out
    assert sorted((fraud.root / "models/fraud-detector/events").iterdir()) == events
