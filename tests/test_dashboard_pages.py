"""AppTest over every dashboard page and the main interactions (widgets by key), on small real catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from builders import ALICE, BOB, CAROL

from registry_core import Catalog

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = [f"dashboard/pages/{name}.py" for name in ("overview", "versions", "compare", "lineage", "promote",
                                                   "history")]


def app(catalog: Path | None, monkeypatch, user: str = BOB, demo: bool = False):
    from streamlit.testing.v1 import AppTest

    if catalog is not None:
        monkeypatch.setenv("MODELREG_CATALOG", str(catalog))
    monkeypatch.setenv("MODELREG_USER", user)
    if demo:
        monkeypatch.setenv("MODELREG_DEMO_USERS", "1")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [e.value for e in at.error] + [t.value for t in at.toast]
    parts += [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def events(root: Path, model: str = "fraud-detector") -> list[dict]:
    folder = root / "models" / model / "events"
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_fraud_catalog(fraud_builder, monkeypatch, page):
    at = app(fraud_builder.root, monkeypatch)
    at.switch_page(page).run()
    ok(at)
    assert at.title[0].value == Path(page).stem.capitalize()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_an_empty_state(empty_catalog, monkeypatch, page):
    at = app(empty_catalog.root, monkeypatch)
    at.switch_page(page).run()
    ok(at)
    assert "register" in texts(at).lower() or "no lifecycle events" in texts(at).lower()


def test_a_missing_catalog_says_what_to_do(tmp_path, monkeypatch):
    at = app(tmp_path / "nowhere", monkeypatch)
    assert "no catalog at" in at.error[0].value
    assert "modelreg init" in at.info[0].value


@pytest.mark.parametrize("page", PAGES)
def test_broken_files_show_in_the_problems_panel_and_never_crash(fraud_builder, monkeypatch, page):
    fraud_builder.write_yaml("models/fraud-detector/versions/3/manifest.yaml", "model: [unclosed\n")
    fraud_builder.write_yaml("models/fraud-detector/events/garbage.yaml", "id: x\n")
    at = app(fraud_builder.root, monkeypatch)
    at.switch_page(page).run()
    ok(at)
    assert any("error(s)" in w.value for w in at.sidebar.warning)
    if page == "dashboard/pages/overview.py":
        panel = at.expander[0]
        assert panel.label.startswith("Catalog problems: ")
        paths = set(at.dataframe[-1].value["path"])
        assert "models/fraud-detector/versions/3/manifest.yaml" in paths


def test_overview_lists_models_with_stage_holders_and_headline(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch)
    ok(at)
    table = at.dataframe[0].value.set_index("model")
    assert table.loc["fraud-detector", "production"] == "v2"
    assert table.loc["fraud-detector", "headline"] == "roc_auc[test]"
    assert table.loc["fraud-detector", "value"] == pytest.approx(0.88)
    assert [m.value for m in at.metric][:2] == ["2", "4"]


def test_versions_opens_a_version_from_the_url_and_the_selectors(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch)
    at.query_params["model"] = "fraud-detector"
    at.query_params["version"] = "1"
    at.switch_page("dashboard/pages/versions.py").run()
    ok(at)
    assert at.selectbox(key="versions_model").value == "fraud-detector"
    assert at.selectbox(key="versions_version").value == 1
    assert any(s.value == "fraud-detector@1" for s in at.subheader)
    at.selectbox(key="versions_version").set_value(2).run()
    ok(at)
    assert any(s.value == "fraud-detector@2" for s in at.subheader)
    assert ":violet-badge[🏷️ champion]" in texts(at)
    assert at.query_params["version"] == "2"
    at.multiselect(key="versions_stages").set_value(["production"]).run()
    assert list(at.dataframe[0].value["version"]) == [2]


def test_compare_defaults_marks_best_and_moves_the_baseline(candidate, monkeypatch):
    at = app(candidate, monkeypatch)
    at.switch_page("dashboard/pages/compare.py").run()
    at.selectbox(key="compare_model").set_value("fraud-detector").run()
    ok(at)
    # default: production holder, staging holder (none here), newest
    assert at.multiselect(key="compare_versions").value == [2, 4]
    at.multiselect(key="compare_versions").set_value([1, 2, 4]).run()
    at.selectbox(key="compare_baseline").set_value(2).run()
    ok(at)
    table = at.dataframe[0].value.set_index("metric")
    assert "Δ v1" in table.columns and "Δ v4" in table.columns and "Δ v2" not in table.columns
    assert table.loc["roc_auc[test]", "Δ v4"] == pytest.approx(0.02)
    assert table.loc["latency_p95_ms (ms)", "Δ v1"] == pytest.approx(-5.0)
    charts = {c.proto.id.split("-")[-1] if c.proto.id else "" for c in at.get("plotly_chart")}
    assert len(at.get("plotly_chart")) >= 3, charts
    assert "Pareto front" in texts(at)
    differing = at.dataframe[-1].value.set_index("param")
    assert differing.loc["n_estimators", "v4"] == "600"


def test_lineage_shows_graph_links_and_dataset_impact(candidate, monkeypatch):
    at = app(candidate, monkeypatch)
    at.query_params["model"] = "fraud-detector"
    at.query_params["version"] = "2"
    at.switch_page("dashboard/pages/lineage.py").run()
    ok(at)
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"fraud-detector@2"' in dot and '"fraud-detector@4"' in dot and "transactions@2026-10" in dot
    links = {link.proto.label for link in at.get("page_link")}
    assert "parent fraud-detector@1 →" in links and "child fraud-detector@4 →" in links
    assert at.selectbox(key="lineage_dataset").value == "transactions"
    usage = at.dataframe[0].value
    assert set(usage["version"]) == {"fraud-detector@1", "fraud-detector@2", "fraud-detector@4"}


def _confirm(at, reason: str):
    at.text_area(key="dialog_reason").input(reason)
    at.button(key="dialog_confirm").click().run()
    return at


def test_request_approve_and_rollback_through_the_promote_page(candidate, monkeypatch):
    bob = app(candidate, monkeypatch, user=BOB)
    bob.query_params.update({"model": "fraud-detector", "version": "4", "stage": "staging"})
    bob.switch_page("dashboard/pages/promote.py").run()
    ok(bob)
    assert bob.button(key="promote_button").label == "Promote to staging"
    bob.button(key="promote_button").click().run()
    _confirm(bob, "validation looks good")
    ok(bob)
    # success is said plainly, and the picker's label shows the new stage (bug 2)
    assert "Done: Promoted fraud-detector@4 → staging" in bob.success[0].value
    assert "v4 is now :orange-badge[staging]" in texts(bob)
    assert all("·" not in o for o in bob.selectbox(key="promote_version").options)  # no stage to go stale
    assert "fraud-detector@4 is in staging." in texts(bob) and "Not possible" not in texts(bob)

    bob.selectbox(key="promote_stage").set_value("production").run()
    ok(bob)
    assert bob.button(key="promote_button").label == "Request production"
    assert all(g == "✅" for g in bob.dataframe[0].value[""])
    bob.button(key="promote_button").click().run()
    _confirm(bob, "beats v2 on test")
    assert "Request opened: fraud-detector@4 → production awaits approval" in texts(bob)
    request = [e for e in events(candidate) if e["action"] == "request"][-1]
    # the request's gates, as recorded and as they evaluate now, beside its buttons (bug 1)
    (gates,) = [d.value for d in bob.dataframe if "recorded" in d.value.columns]
    assert list(gates.columns[:3]) == ["gate", "recorded", "now"] and len(gates) == len(request["gates"]) > 0
    assert all(v.startswith("✅") for v in gates["recorded"]) and all(v.startswith("✅") for v in gates["now"])
    assert "awaits approval" in texts(bob) and "not evaluated" not in texts(bob)
    assert request["by"] == BOB and request["version"] == 4 and request["reason"] == "beats v2 on test"
    # bob may not approve his own request, and the disabled button says why in the core's words
    approve = bob.button(key=f"approve_{request['id']}")
    assert approve.disabled and "cannot approve it" in approve.help
    assert not bob.button(key=f"cancel_{request['id']}").disabled
    assert bob.button(key="rollback_button").disabled
    assert "is not an approver for production" in bob.button(key="rollback_button").help

    alice = app(candidate, monkeypatch, user=ALICE)
    alice.switch_page("dashboard/pages/promote.py").run()
    assert not alice.button(key=f"approve_{request['id']}").disabled
    alice.text_input(key=f"answer_reason_{request['id']}").input("ok for prod")
    alice.button(key=f"approve_{request['id']}").click().run()
    ok(alice)
    assert "Approved: fraud-detector@4 promoted to production" in texts(alice)
    assert Catalog(candidate).resolve("fraud-detector@production")["version"] == 4

    alice.selectbox(key="promote_model").set_value("fraud-detector").run()
    rollback = alice.button(key="rollback_button")
    assert rollback.label == "Roll back production: v4 → v2" and not rollback.disabled
    rollback.click().run()
    assert "Roll back fraud-detector production" in texts(alice)
    _confirm(alice, "")  # a rollback needs a reason, said in the dashboard's words; nothing is written
    assert "Roll back needs a reason" in texts(alice) and "--reason" not in texts(alice)
    _confirm(alice, "alerts on v4")
    ok(alice)
    assert "Rolled back fraud-detector production: v4 → v2" in texts(alice)
    last = events(candidate)[-1]
    assert (last["action"], last["by"], last["version"], last["rollback_of"]) == ("promote", ALICE, 2, 4)
    assert Catalog(candidate).resolve("fraud-detector@production")["version"] == 2


def test_reject_and_the_dialog_cancel(candidate, monkeypatch):
    Catalog(candidate, user=CAROL).promote("fraud-detector", 4, "staging")
    result = Catalog(candidate, user=CAROL).promote("fraud-detector", 4, "production", reason="try")
    at = app(candidate, monkeypatch, user=ALICE)
    at.switch_page("dashboard/pages/promote.py").run()
    at.button(key=f"reject_{result['request']}").click().run()
    ok(at)
    assert "Request fraud-detector@4 → production: rejected" in texts(at)  # named, not by its id
    assert Catalog(candidate).requests() == []
    at.selectbox(key="promote_model").set_value("fraud-detector").run()
    at.selectbox(key="promote_version").set_value(4).run()
    at.selectbox(key="promote_stage").set_value("production").run()
    at.button(key="promote_button").click().run()
    assert at.text_area(key="dialog_reason") is not None
    at.button(key="dialog_cancel").click().run()
    ok(at)
    assert not at.get("text_area")


def test_files_written_by_others_show_up_on_the_next_run(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch)
    assert at.metric[1].value == "4"
    Catalog(fraud_builder.root, user=CAROL).register("churn", metrics={"test": {"roc_auc": 0.7}})
    at.run()
    assert at.metric[1].value == "5"
    at.button(key="refresh").click().run()
    ok(at)


def test_history_filters_and_csv(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch)
    at.switch_page("dashboard/pages/history.py").run()
    ok(at)
    assert len(at.dataframe[0].value) == 7
    at.multiselect(key="history_actions").set_value(["promote"]).run()
    at.multiselect(key="history_people").set_value([ALICE]).run()
    ok(at)
    table = at.dataframe[0].value
    assert set(table["action"]) == {"promote"} and set(table["by"]) == {ALICE} and len(table) == 3
    assert at.query_params["actions"] == "promote"
    csv = at.get("download_button")[0].proto
    assert csv.label == "Download CSV"
    at.text_input(key="history_search").input("go live").run()
    assert list(at.dataframe[0].value["reason"]) == ["go live"]
    at.selectbox(key="history_model").set_value("fraud-detector").run()
    ok(at)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"v1"' in spec and '"v2"' in spec and "promotion" in spec and "precision" in spec


def test_identity_from_streamlit_sign_in_and_read_only_when_signed_out(fraud_builder, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODELREG_CATALOG", str(fraud_builder.root))
    monkeypatch.setenv("MODELREG_USER", BOB)
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": True, "email": ALICE}
    at.run()
    ok(at)
    assert ALICE in at.sidebar.markdown[1].value and "lead" in at.sidebar.caption[1].value
    at = AppTest.from_file(APP, default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    at.switch_page("dashboard/pages/promote.py").run()
    ok(at)
    assert "read-only" in at.sidebar.markdown[1].value
    assert at.button(key="promote_button").disabled
    assert at.button(key="promote_button").help == "sign in to promote, approve or roll back"


def test_act_as_is_opt_in(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch)
    assert not [s for s in at.sidebar.selectbox if s.key == "demo_user"]
    at = app(fraud_builder.root, monkeypatch, demo=True)
    chooser = at.sidebar.selectbox(key="demo_user")
    assert chooser.options == [BOB, ALICE, CAROL]
    chooser.set_value(ALICE).run()
    ok(at)
    assert ALICE in at.sidebar.markdown[1].value and "demo" in at.sidebar.caption[1].value


class _Headers:
    """Stands in for ``st.context`` (AppTest cannot seed request headers)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def test_a_header_is_trusted_only_when_registry_yaml_names_it(fraud_builder, monkeypatch):
    import streamlit as st

    monkeypatch.setattr(st, "context", _Headers({"X-Forwarded-Email": ALICE}))
    at = app(fraud_builder.root, monkeypatch, user=BOB)
    assert BOB in at.sidebar.markdown[1].value  # not named in registry.yaml: the header is ignored

    registry = fraud_builder.root / "registry.yaml"
    registry.write_text(registry.read_text() + "auth:\n  trusted_header: X-Forwarded-Email\n")
    at = app(fraud_builder.root, monkeypatch, user=BOB)
    ok(at)
    assert ALICE in at.sidebar.markdown[1].value and "header X-Forwarded-Email" in at.sidebar.caption[1].value

    monkeypatch.setattr(st, "context", _Headers({}))
    at = app(fraud_builder.root, monkeypatch, user=BOB)
    at.switch_page("dashboard/pages/promote.py").run()
    ok(at)
    assert "read-only" in at.sidebar.markdown[1].value  # named but absent: not the server's user
    assert "login proxy" in at.button(key="promote_button").help


def test_the_first_open_of_an_unindexed_catalog_builds_its_index(fraud_builder, monkeypatch):
    import shutil

    shutil.rmtree(fraud_builder.root / ".modelreg", ignore_errors=True)
    at = app(fraud_builder.root, monkeypatch)
    ok(at)
    assert "fraud-detector" in texts(at) + str([d.value for d in at.dataframe])
    assert Catalog(fraud_builder.root).indexed


def test_the_default_target_is_the_next_stage_and_never_archived(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch, user=ALICE)
    at.query_params.update({"model": "fraud-detector", "version": "2"})  # the production holder
    at.switch_page("dashboard/pages/promote.py").run()
    ok(at)
    assert at.selectbox(key="promote_stage").value == "production"
    assert "fraud-detector@2 is in production." in texts(at)
    assert not [b for b in at.button if b.key == "promote_button"]  # nothing one confirm away
    at.selectbox(key="promote_version").set_value(3).run()
    assert at.selectbox(key="promote_stage").value != "archived"


def test_bad_deep_links_say_what_was_not_found(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch, user=ALICE)
    at.query_params.update({"model": "nope"})
    at.switch_page("dashboard/pages/versions.py").run()
    ok(at)
    assert "Model 'nope' from the link was not found" in " ".join(w.value for w in at.warning)
    at = app(fraud_builder.root, monkeypatch, user=ALICE)
    at.query_params.update({"model": "fraud-detector", "version": "999"})
    at.switch_page("dashboard/pages/versions.py").run()
    assert "Version '999' from the link was not found" in " ".join(w.value for w in at.warning)
    at = app(fraud_builder.root, monkeypatch, user=ALICE)
    at.query_params.update({"model": "fraud-detector", "version": "2", "stage": "prod"})
    at.switch_page("dashboard/pages/promote.py").run()
    assert "Target stage 'prod' from the link was not found" in " ".join(w.value for w in at.warning)
    assert at.selectbox(key="promote_stage").value == "production"  # the next stage, never archived
    assert "archived" not in " ".join(s.value for s in at.success)


def test_history_shows_rollbacks_and_overlapping_holders_in_their_own_lanes(candidate, monkeypatch):
    from dashboard.widgets import trail_csv

    lead = Catalog(candidate, user=ALICE)
    lead.promote("fraud-detector", 4, "staging", reason="good")
    lead.promote("fraud-detector", 3, "staging", reason="try it too", force=True)  # staging holds two
    rolled = lead.rollback("fraud-detector", "production", "alerts")
    at = app(candidate, monkeypatch, user=ALICE)
    at.switch_page("dashboard/pages/history.py").run()
    ok(at)
    assert "rollback" in at.multiselect(key="history_actions").options
    at.multiselect(key="history_actions").set_value(["rollback"]).run()
    table = at.dataframe[0].value
    assert list(table["action"]) == ["rollback"] and list(table["rollback_of"]) == [rolled["replaced"]]
    csv = trail_csv(lead.history("fraud-detector"))
    header, first = csv.splitlines()[:2]
    assert "rollback_of" in header.split(",")
    assert first.split(",")[0] == lead.history("fraud-detector")[0]["at"].isoformat()  # seconds kept
    at.selectbox(key="history_model").set_value("fraud-detector").run()
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"staging (2)"' in spec  # the second staging holder has its own lane
    assert '"range"' in spec  # zoomed to the events, not to today


def test_versions_table_pins_version_and_stage_and_leads_with_the_headline(candidate, monkeypatch):
    at = app(candidate, monkeypatch, user=ALICE)
    at.query_params.update({"model": "fraud-detector", "version": "2"})
    at.switch_page("dashboard/pages/versions.py").run()
    ok(at)
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["version", "stage", "roc_auc[test]"]
    assert "None" not in table.astype(str).to_string().split()  # empty cells stay empty
    at.text_input(key="versions_filter").input("roc_auc[test] >= 0.9 and n_estimators = 600").run()
    ok(at)
    assert list(at.dataframe[0].value["version"]) == [4]
    at.text_input(key="versions_filter").input("roc_auc[test] >> high").run()
    assert "cannot read" in at.error[0].value or "not a number" in at.error[0].value
    # "Compare →" from the production holder compares it with the others, not with itself alone (bug 9)
    (link,) = [p for p in at.get("page_link") if p.proto.label == "Compare →"]
    assert link.proto.query_string == "model=fraud-detector&versions=2%2C4"


def test_an_alias_is_moved_from_the_version_page_by_its_setters_only(candidate, monkeypatch):
    bob = app(candidate, monkeypatch, user=BOB)
    bob.query_params.update({"model": "fraud-detector", "version": "4"})
    bob.switch_page("dashboard/pages/versions.py").run()
    assert "alias_name" not in [s.key for s in bob.selectbox]  # a closed editor draws nothing (lazy)
    bob.session_state["versions_aliases"] = True  # open it
    bob.run()
    bob.selectbox(key="alias_name").set_value("champion").run()
    ok(bob)
    assert bob.button(key="alias_set").disabled and "may not move alias champion" in bob.button(key="alias_set").help
    alice = app(candidate, monkeypatch, user=ALICE)
    alice.query_params.update({"model": "fraud-detector", "version": "4"})
    alice.session_state["versions_aliases"] = True
    alice.switch_page("dashboard/pages/versions.py").run()
    alice.selectbox(key="alias_name").set_value("champion").run()
    alice.button(key="alias_set").click().run()
    ok(alice)
    assert Catalog(candidate).resolve("fraud-detector@champion")["version"] == 4
    assert "Done: Alias champion of fraud-detector now points at v4" in alice.success[0].value


def test_a_demo_catalog_offers_its_identities_and_a_real_one_does_not(fraud_builder, monkeypatch):
    at = app(fraud_builder.root, monkeypatch, user="newcomer@example.com")
    assert not [s for s in at.sidebar.selectbox if s.key == "demo_user"]
    registry = fraud_builder.root / "registry.yaml"
    registry.write_text(registry.read_text() + "demo: true\n")
    at = app(fraud_builder.root, monkeypatch, user="newcomer@example.com")
    ok(at)
    assert "A demo catalog" in at.sidebar.info[0].value and ALICE in at.sidebar.info[0].value
    chooser = at.sidebar.selectbox(key="demo_user")
    chooser.set_value(ALICE).run()
    ok(at)
    assert ALICE in at.sidebar.markdown[1].value and "demo catalog" in at.sidebar.caption[1].value


def test_the_bundled_demo_catalog_is_marked_demo():
    from registry_core import Catalog as Cat

    assert Cat(Path(APP).parent / "catalog").settings.demo is True
def test_violations_show_as_problems_and_edits_in_the_version_page(fraud_builder, monkeypatch):
    forged = fraud_builder.event("fraud-detector", "promote", "2026-11-02T00:00:00Z", "mallory@example.com",
                                 version=3, stage="production", forced=True, reason="mine")
    Catalog(fraud_builder.root, user=BOB).describe("fraud-detector@2", "Velocity features, re-described")
    Catalog(fraud_builder.root, user=BOB).tag("fraud-detector@2", {"ticket": "RISK-9"})
    at = app(fraud_builder.root, monkeypatch)
    ok(at)
    paths = set(at.dataframe[-1].value["path"])
    assert f"models/fraud-detector/events/{forged}.yaml" in paths
    at.query_params["model"] = "fraud-detector"
    at.query_params["version"] = "2"
    at.switch_page("dashboard/pages/versions.py").run()
    ok(at)
    shown = texts(at)
    assert "Velocity features, re-described" in shown and "tags: ticket=RISK-9" in shown
