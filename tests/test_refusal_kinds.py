"""A refusal's kind, never its wording, picks the exception and the exit code (#17)."""

import pytest

from registry_core import errors
from registry_core.lifecycle import actions, planning
from registry_core.lifecycle.policy import Decision


@pytest.mark.parametrize(("kind", "error", "code"), [
    (errors.CONFLICT, errors.Conflict, 1), (errors.POLICY, errors.PolicyRefused, 3),
    (errors.GATE, errors.PolicyRefused, 3), (errors.MISSING, errors.NotFound, 1)])
def test_each_kind_has_its_error_and_exit_code(kind, error, code):
    refused = errors.refusal(kind, "whatever the text says: a request for x is already pending; approver")
    assert type(refused) is error and refused.exit_code == code


def test_a_model_named_like_a_policy_word_does_not_turn_not_found_into_a_refusal(cli, empty_catalog):
    empty_catalog.register("approver")   # the rollback message names the model: "no version of approver ..."
    result = cli("rollback", "approver", "--reason", "x")
    assert result.code == 1 and "no version of approver is in production" in result.err


def test_a_policy_refusal_worded_like_a_conflict_still_exits_3(cli, empty_catalog, monkeypatch):
    empty_catalog.register("m")
    monkeypatch.setattr(planning, "may_request", lambda *a: Decision(
        False, "a request for m@1 -> staging is already pending (reworded)"))
    result = cli("promote", "m", "1", "staging")
    assert result.code == 3 and "reworded" in result.err
    assert "a request for" in empty_catalog.plan("m", 1, "staging").reason


def test_a_conflict_worded_like_a_policy_refusal_still_exits_1(cli, empty_catalog, monkeypatch):
    empty_catalog.register("m")
    assert cli("promote", "m", "1", "staging").code == 0
    real = actions.Plan.reason
    monkeypatch.setattr(actions.Plan, "reason", property(lambda self: "approver refused: " + real.fget(self)))
    result = cli("promote", "m", "1", "staging")
    assert result.code == 1 and "approver refused" in result.err


def test_a_rollback_refusal_without_the_word_approver_still_exits_3(cli, empty_catalog, monkeypatch):
    empty_catalog.register("m")
    empty_catalog.register("m")
    for version in ("1", "2"):
        assert cli("promote", "m", version, "production").code == 0
    monkeypatch.setattr(planning, "may_approve", lambda *a: Decision(False, "no, says the reworded rule"))
    result = cli("rollback", "m", "--reason", "x")
    assert result.code == 3 and "reworded rule" in result.err
