"""SPEC 1.6: current state is a pure replay of the events in id order (property-tested)."""

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core.errors import InvalidInput
from registry_core.format.settings import Settings
from registry_core.lifecycle.events import Event, new_id, parse_event, replay

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
ID, OTHER = "20261001T000000.000000Z-0000000a", "20261001T000000.000000Z-0000000b"
STAGES = ["staging", "production", "archived"]


def make(i: int, action: str, **fields) -> Event:
    at = START + dt.timedelta(hours=i)
    return Event(id=new_id(at), at=at, by=fields.pop("by", "u"), model="m", action=action, **fields)


def promotes(draw_pairs):
    return [make(i, "promote", version=v, stage=s) for i, (v, s) in enumerate(draw_pairs)]


pairs = st.lists(st.tuples(st.integers(1, 5), st.sampled_from(STAGES)), max_size=30)


@settings(max_examples=200)
@given(pairs)
def test_exclusive_stage_never_has_two_holders(moves):
    state = replay("m", promotes(moves), Settings(), {})
    assert len(state.holders("production")) <= 1
    if moves:
        last_version, last_stage = moves[-1]
        assert state.stage(last_version) == last_stage


@settings(max_examples=100)
@given(pairs, st.randoms())
def test_replay_ignores_the_order_files_are_read_in(moves, rnd):
    events = promotes(moves)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    a, b = replay("m", events, Settings(), {}), replay("m", shuffled, Settings(), {})
    assert a.stage_of == b.stage_of and a.since == b.since


@settings(max_examples=100)
@given(pairs, st.integers(0, 30))
def test_replay_until_a_moment_equals_replaying_the_prefix(moves, cut):
    events = promotes(moves)
    until = START + dt.timedelta(hours=cut) - dt.timedelta(minutes=1)
    assert replay("m", events, Settings(), {}, until=until).stage_of == \
        replay("m", events[:cut], Settings(), {}).stage_of


def test_promoting_to_production_archives_the_holder_and_keeps_spans():
    state = replay("m", promotes([(1, "production"), (2, "production")]), Settings(), {})
    assert state.stage_of == {1: "archived", 2: "production"}
    assert [(s.version, s.end is None) for s in state.spans] == [(1, False), (2, True)]
    assert state.previous_holder("production") == 1


def test_requests_need_approvals_from_others():
    request = make(0, "request", version=1, stage="production", by="bob", approvals_needed=2)
    events = [request,
              make(1, "approve", request=request.id, by="bob"),        # the requester: not counted
              make(2, "approve", request=request.id, by="alice"),
              make(3, "approve", request=request.id, by="alice")]      # twice: counted once
    state = replay("m", events, Settings(), {})
    assert state.requests[request.id].approvals == ["alice"] and state.pending()
    state = replay("m", [*events, make(4, "approve", request=request.id, by="carol")], Settings(), {})
    assert not state.pending() and state.stage(1) == "production"


@pytest.mark.parametrize("answer, status", [("reject", "rejected"), ("cancel", "cancelled")])
def test_reject_and_cancel_close_a_request(answer, status):
    request = make(0, "request", version=1, stage="staging", by="bob", approvals_needed=1)
    state = replay("m", [request, make(1, answer, request=request.id, by="alice"),
                         make(2, "approve", request=request.id, by="carol")], Settings(), {})
    assert state.requests[request.id].status == status and state.stage(1) == "none"


def test_alias_points_and_a_null_version_removes():
    events = [make(0, "alias", version=1, alias="champion"), make(1, "alias", version=2, alias="champion")]
    assert replay("m", events, Settings(), {}).aliases["champion"][0] == 2
    assert "champion" not in replay("m", [*events, make(2, "alias", version=None, alias="champion")],
                                    Settings(), {}).aliases


def test_event_ids_sort_in_time_order():
    moments = sorted(START + dt.timedelta(microseconds=random.randrange(10**12)) for _ in range(50))
    ids = [new_id(m) for m in moments]
    assert ids == sorted(ids)


@pytest.mark.parametrize("raw, words", [
    ({"at": "2026-10-01T00:00:00Z", "by": "x", "action": "promote"}, "missing required key 'id'"),
    ({"id": ID, "at": "2026-10-01T00:00:00Z", "by": "x", "action": "fly"}, "unknown action"),
    ({"id": ID, "at": "2026-10-01T00:00:00Z", "by": "x", "action": "promote", "version": 1}, "needs 'version' and"),
    ({"id": ID, "at": "2026-10-01T00:00:00Z", "by": "x", "action": "approve"}, "needs 'request'"),
    ({"id": ID, "at": "2026-10-01T00:00:00Z", "by": "", "action": "alias"}, "'by' must be"),
    ({"id": OTHER, "at": "2026-10-01T00:00:00Z", "by": "x", "action": "alias"}, "does not match the file name"),
])
def test_parse_event_names_the_problem(raw, words):
    with pytest.raises(InvalidInput, match=words):
        parse_event(raw, "m", ID)
