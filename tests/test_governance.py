"""SPEC 1.9: every event file is checked against the policy in force when it was written; one that breaks
it has no effect, ``validate`` names it (exit 1), the problems list and the events view show it.

Forged events are written by hand (tests/builders.py), as a pull request could add them.
"""

import datetime as dt
import subprocess

import pytest
from builders import ALICE, BOB, CAROL, MALLORY, staging_gate

from registry_core import Catalog

FD = "fraud-detector"
REQ_AT = "2026-11-05T12:00:00Z"


@pytest.fixture
def story(fraud_builder):
    """The fraud catalog plus v4 (good on every gate) in staging and bob's pending request v4 -> production."""
    fraud_builder.version(FD, 4, "2026-11-05T10:00:00Z", created_by=BOB, description="v4",
                          artifacts={"model.bin": b"weights v4"},
                          metrics=[{"metric": "roc_auc", "value": 0.90, "dataset": "test"},
                                   {"metric": "roc_auc", "value": 0.88, "dataset": "validation"},
                                   {"metric": "latency_p95_ms", "value": 42.0},
                                   {"metric": "recall", "value": 0.80, "dataset": "test", "slice": "region=eu"}])
    fraud_builder.event(FD, "promote", "2026-11-05T11:00:00Z", ALICE, version=4, stage="staging",
                        gates=[staging_gate(0.88)])
    return fraud_builder


def request(b, at=REQ_AT, by=BOB, **fields):
    return b.event(FD, "request", at, by, version=4, stage="production", reason="better", **fields)


def production(root) -> str:
    return Catalog(root, user=BOB).resolve(f"{FD}@production")["ref"]


def violation(root, ident) -> str | None:
    rows = Catalog(root, user=BOB).sql("SELECT violation FROM events WHERE id = ?", [ident])
    return rows[0]["violation"]


def assert_refused(cli, b, ident, rule):
    """The event has no effect, is an error of validate naming its file and rule, and shows in problems."""
    found = violation(b.root, ident)
    assert found is not None and found.startswith(rule), found
    result = cli("validate")
    assert result.code == 1
    line = next(line for line in (result.out + result.err).splitlines() if ident in line)
    assert f"models/{FD}/events/{ident}.yaml" in line and rule in line
    problems = Catalog(b.root, user=BOB).problems()
    assert any(ident in p["path"] and p["severity"] == "error" for p in problems)


def test_the_legal_story_has_no_violation(cli, story):
    ident = request(story)
    story.event(FD, "approve", "2026-11-05T13:00:00Z", ALICE, version=4, stage="production", request=ident)
    assert violation(story.root, ident) is None
    assert production(story.root) == f"{FD}@4"
    assert cli("validate").code == 0


def test_approval_by_someone_without_a_role_does_not_promote(cli, story):
    ident = request(story)
    forged = story.event(FD, "approve", "2026-11-05T13:00:00Z", MALLORY, version=4, stage="production",
                         request=ident)
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, forged, "approver")
    assert Catalog(story.root).requests()[0]["id"] == ident  # still pending


def test_promotion_to_gated_production_without_request_approval_or_force(cli, story):
    forged = story.event(FD, "promote", "2026-11-05T13:00:00Z", ALICE, version=4, stage="production")
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, forged, "approvals")


def test_request_with_no_approvals_needed_then_self_approved(cli, story):
    ident = request(story, approvals_needed=0)
    answer = story.event(FD, "approve", "2026-11-05T13:00:00Z", BOB, version=4, stage="production", request=ident)
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, ident, "approvals")
    assert violation(story.root, answer).startswith("request: answers request")


def test_self_approval_of_a_proper_request(cli, story):
    ident = request(story)
    answer = story.event(FD, "approve", "2026-11-05T13:00:00Z", " BOB@example.COM ", version=4,
                         stage="production", request=ident)
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, answer, "approver")


def test_identities_compare_trimmed_and_case_folded(cli, story):
    ident = request(story, by="Bob@Example.com")
    story.event(FD, "approve", "2026-11-05T13:00:00Z", " ALICE@example.com", version=4, stage="production",
                request=ident)
    assert production(story.root) == f"{FD}@4"
    assert cli("validate").code == 0


def test_approval_dated_before_its_request(cli, story):
    ident = request(story)
    # the id sorts after the request (later id), but 'at' says it came first
    answer = "20261105T120001.000000Z-0000abcd"
    story.write_yaml(f"models/{FD}/events/{answer}.yaml",
                     {"id": answer, "at": "2026-11-05T11:59:00Z", "by": ALICE, "action": "approve", "version": 4,
                      "stage": "production", "request": ident})
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, answer, "time")


def test_promotion_dated_before_the_version_existed(cli, story):
    forged = story.event(FD, "promote", "2026-11-05T09:00:00Z", ALICE, version=4, stage="production",
                         forced=True, reason="early")
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, forged, "time")


def test_a_future_id_neither_takes_effect_nor_hijacks_later_promotions(cli, story):
    ident = "20991231T235959.999999Z-ffffffff"
    story.write_yaml(f"models/{FD}/events/{ident}.yaml",
                     {"id": ident, "at": "2099-12-31T23:59:59.999999Z", "by": ALICE, "action": "promote",
                      "version": 1, "stage": "production", "forced": True, "reason": "mine forever"})
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, ident, "time")
    result = cli("promote", FD, "4", "production", "--force", "--reason", "hotfix", user=ALICE)
    assert result.code == 0, result.err
    assert production(story.root) == f"{FD}@4"
    assert cli("rollback", FD, "--reason", "back", user=ALICE).code == 0
    assert production(story.root) == f"{FD}@2"


def test_forced_by_a_non_approver_or_without_reason(cli, story):
    by_bob = story.event(FD, "promote", "2026-11-05T13:00:00Z", BOB, version=4, stage="production", forced=True,
                         reason="trust me")
    no_reason = story.event(FD, "promote", "2026-11-05T14:00:00Z", ALICE, version=4, stage="production",
                            forced=True)
    assert production(story.root) == f"{FD}@2"
    assert_refused(cli, story, by_bob, "forced")
    assert violation(story.root, no_reason).startswith("forced: a forced promotion needs a reason")


def test_forged_gate_values_are_caught(cli, fraud_builder):
    # v3 fails the staging gate (0.79); a promote claiming it passed with 0.85
    forged = fraud_builder.event(FD, "promote", "2026-11-02T00:00:00Z", CAROL, version=3, stage="staging",
                                 gates=[staging_gate(0.85)])
    assert Catalog(fraud_builder.root).resolve(f"{FD}@3")["stage"] == "none"
    assert_refused(cli, fraud_builder, forged, "gates")


def test_rollback_and_alias_need_their_roles(cli, story):
    rollback = story.event(FD, "promote", "2026-11-05T13:00:00Z", BOB, version=1, stage="production",
                           rollback_of=2, reason="oops")
    alias = story.event(FD, "alias", "2026-11-05T14:00:00Z", CAROL, version=3, alias="champion")
    assert production(story.root) == f"{FD}@2"
    assert Catalog(story.root).resolve(f"{FD}@champion")["version"] == 2
    assert_refused(cli, story, rollback, "rollback")
    assert violation(story.root, alias).startswith("alias setter")


def test_resolve_at_a_past_moment_ignores_violations(story):
    request(story)
    story.event(FD, "promote", "2026-11-05T13:00:00Z", MALLORY, version=3, stage="production", forced=True,
                reason="x")
    cat = Catalog(story.root)
    assert cat.resolve(f"{FD}@production", at="2026-11-06T00:00:00Z")["version"] == 2


def test_promote_through_the_cli_records_what_the_replay_accepts(cli, story):
    assert cli("promote", FD, "4", "production", "--reason", "ok").code == 0
    assert cli("approve", FD, Catalog(story.root).requests()[0]["id"], user=ALICE).code == 0
    assert production(story.root) == f"{FD}@4"
    assert cli("rollback", FD, "--reason", "regression", user=ALICE).code == 0
    assert cli("alias", FD, "4", "champion", user=ALICE).code == 0
    assert cli("validate").code == 0
    history = Catalog(story.root).sql("SELECT count(*) AS n FROM events WHERE violation IS NOT NULL")
    assert history[0]["n"] == 0


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_in_git_the_policy_is_the_one_at_the_commit_that_added_the_event(cli, story):
    root = story.root
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "story")
    # mallory approves while she holds no role; later she is made a lead: her old approval stays invalid
    ident = request(story)
    forged = story.event(FD, "approve", "2026-11-05T13:00:00Z", MALLORY, version=4, stage="production",
                         request=ident)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "approve")
    registry = (root / "registry.yaml").read_text()
    (root / "registry.yaml").write_text(registry.replace("lead: [alice@example.com]",
                                                         "lead: [alice@example.com, mallory@example.com]"))
    git(root, "commit", "-qam", "mallory is a lead now")
    assert production(root) == f"{FD}@2"
    assert violation(root, forged).startswith("approver")
    # an uncommitted event is judged by the current files: now mallory may approve
    second = request(story, at="2026-11-06T12:00:00Z")
    assert violation(root, second) is None


def test_in_git_an_event_dated_after_its_commit_is_future(story, monkeypatch):
    """Within 5 minutes of now, but committed a month earlier: judged against its commit's time."""
    root = story.root
    git(root, "init", "-q")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ident = story.event(FD, "promote", soon, ALICE, version=4, stage="production", forced=True, reason="r")
    assert violation(root, ident) is None
    git(root, "add", "-A")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-11-06T00:00:00+00:00")
    git(root, "commit", "-qm", "story")
    (root / "models" / FD / "model.yaml").write_text("name: fraud-detector\n")  # the index sees a change
    assert violation(root, ident).startswith("time")


def test_diff_marks_and_lists_violations(cli, story):
    root = story.root
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "story")
    git(root, "checkout", "-q", "-b", "feature")
    ident = request(story)
    forged = story.event(FD, "approve", "2026-11-05T13:00:00Z", MALLORY, version=4, stage="production",
                         request=ident)
    result = cli("diff", "main", "--format", "json")
    assert result.code == 0, result.err
    assert [(v["id"], v["path"]) for v in result.json["violations"]] == [
        (forged, f"models/{FD}/events/{forged}.yaml")]
    assert result.json["violations"][0]["rule"].startswith("approver")
    text = cli("diff", "main").out
    assert "⛔ approve (no effect: breaks the policy)" in text
    assert f"`models/{FD}/events/{forged}.yaml` (approve by {MALLORY})" in text


def test_require_signed_checks_signatures_and_authors(cli, fraud_builder, tmp_path):
    """SSH-signed commits: the story signed by alice passes; an unsigned commit and a signed one whose
    author is not the event's 'by' are errors."""
    root = fraud_builder.root
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", ALICE, "-f", str(key)], check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"{ALICE} {(tmp_path / 'key.pub').read_text()}")
    git(root, "init", "-q")
    for name, value in (("user.email", ALICE), ("user.name", "alice"), ("gpg.format", "ssh"),
                        ("user.signingkey", str(key)), ("gpg.ssh.allowedSignersFile", str(signers))):
        git(root, "config", name, value)
    # the story's events are by alice and bob: commit bob's under his name, unsigned
    git(root, "add", "-A")
    git(root, "commit", "-qS", "-m", "story, signed by alice")
    assert cli("validate").code == 0
    signed = cli("validate", "--require-signed")
    assert signed.code == 1
    bob_events = {e["id"] for e in Catalog(root).history(FD) if e["by"] == BOB}
    lines = [line for line in signed.out.splitlines() if line.startswith("error:")]
    assert {line.split("/events/")[1].split(".yaml")[0] for line in lines} == bob_events
    assert all("authored by alice@example.com" in line for line in lines)
    unsigned = fraud_builder.event(FD, "alias", "2026-11-02T00:00:00Z", ALICE, version=1, alias="champion")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "unsigned")
    out = cli("validate", "--require-signed").out
    assert f"{unsigned}.yaml: signed: commit" in out and "has no valid signature" in out


def test_promote_says_when_its_own_event_would_have_no_effect(cli, fraud_builder):
    """This machine's clock behind the version's created_at (another machine's clock): nothing is left."""
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fraud_builder.version("churn", 2, ahead, metrics=[{"metric": "roc_auc", "value": 0.9, "dataset": "validation"}])
    before = sorted((fraud_builder.root / "models/churn").rglob("*.yaml"))
    result = cli("promote", "churn", "2", "staging", user=ALICE)
    assert result.code == 1 and "would have no effect (time: dated" in result.err and "clock" in result.err
    assert sorted((fraud_builder.root / "models/churn").rglob("*.yaml")) == before
