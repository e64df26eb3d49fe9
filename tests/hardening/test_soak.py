"""Soak: thousands of random lifecycle events against the replay, and random operations on a real catalog.

The replay (``registry_core.lifecycle.events.replay``) is checked against a small oracle written from SPEC 1.6
alone, and against itself: any order of the same events, and any cut-off time, give the same state as
replaying exactly the events up to that time in id order.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from registry_core import Catalog, RegistryError
from registry_core.format.settings import Settings
from registry_core.lifecycle.events import Event, replay

from .checks import assert_resolve_agrees_with_replay
from .conftest import add_figure

STAGES = [{"name": "staging"}, {"name": "production", "exclusive": True}, {"name": "canary", "exclusive": True},
          {"name": "archived"}]
SETTINGS = Settings(stages=STAGES)
NEEDED = {"production": 2, "canary": 1}
EXCLUSIVE = {"production", "canary"}
USERS = ["ann", "ben", "cat", "dan"]
VERSIONS = st.integers(1, 6)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Oracle:
    """SPEC 1.6 read literally: the state after each event, kept incrementally."""

    def __init__(self) -> None:
        self.stage_of: dict[int, str] = {}
        self.requests: dict[str, dict] = {}
        self.aliases: dict[str, int] = {}

    def move(self, version: int, stage: str) -> None:
        if self.stage_of.get(version) == stage:
            return
        if stage in EXCLUSIVE:
            for other, current in list(self.stage_of.items()):
                if current == stage and other != version:
                    self.stage_of[other] = "archived"
        self.stage_of[version] = stage

    def apply(self, e: Event) -> None:
        if e.action == "promote":
            if e.rollback_of is not None and self.stage_of.get(e.rollback_of) == e.stage:
                self.move(e.rollback_of, "archived")
            self.move(e.version, e.stage)
            if e.request in self.requests and self.requests[e.request]["status"] in ("pending", "approved"):
                self.requests[e.request]["status"] = "promoted"
        elif e.action == "request":
            needed = e.approvals_needed if e.approvals_needed is not None else NEEDED.get(e.stage, 0)
            self.requests[e.id] = {"version": e.version, "stage": e.stage, "by": e.by, "needed": needed,
                                   "approvals": [], "status": "pending"}
        elif e.action in ("approve", "reject", "cancel"):
            request = self.requests.get(e.request)
            if request is None or request["status"] != "pending":
                return
            if e.action == "approve":
                if e.by != request["by"] and e.by not in request["approvals"]:
                    request["approvals"].append(e.by)
                if len(request["approvals"]) >= request["needed"]:
                    request["status"] = "approved"
                    self.move(request["version"], request["stage"])
            else:
                request["status"] = "rejected" if e.action == "reject" else "cancelled"
        elif e.action == "alias":
            if e.version is None:
                self.aliases.pop(e.alias, None)
            else:
                self.aliases[e.alias] = e.version


def summary(state) -> tuple:
    return (dict(state.stage_of), {i: (r.status, tuple(r.approvals)) for i, r in state.requests.items()},
            {a: v for a, (v, _, _) in state.aliases.items()},
            sorted((s.stage, s.version, s.start, s.end) for s in state.spans))


class ReplayMachine(RuleBasedStateMachine):
    """Random events, appended in time order (with occasional clock skew in ``at``)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.oracle = Oracle()
        self.clock = T0

    def add(self, action: str, by: str, **fields) -> None:
        self.clock += dt.timedelta(seconds=1)
        ident = self.clock.strftime("%Y%m%dT%H%M%S.%fZ") + f"-{len(self.events):08x}"
        event = Event(id=ident, at=self.clock, by=by, model="m", action=action, **fields)
        self.events.append(event)
        self.oracle.apply(event)
        add_figure("soak: random events replayed", 1)

    @rule(version=VERSIONS, stage=st.sampled_from(["staging", "production", "canary", "archived"]),
          by=st.sampled_from(USERS))
    def promote(self, version, stage, by):
        self.add("promote", by, version=version, stage=stage)

    @rule(stage=st.sampled_from(["production", "canary"]), by=st.sampled_from(USERS))
    def rollback(self, stage, by):
        state = replay("m", self.events, SETTINGS, NEEDED)
        current, previous = state.holder(stage), state.previous_holder(stage)
        if current is not None and previous is not None:
            self.add("promote", by, version=previous, stage=stage, rollback_of=current)

    @rule(version=VERSIONS, stage=st.sampled_from(["staging", "production", "canary"]), by=st.sampled_from(USERS),
          explicit=st.one_of(st.none(), st.integers(0, 3)))
    def request(self, version, stage, by, explicit):
        self.add("request", by, version=version, stage=stage, approvals_needed=explicit)

    @precondition(lambda self: self.oracle.requests)
    @rule(data=st.data(), action=st.sampled_from(["approve", "approve", "reject", "cancel"]),
          by=st.sampled_from(USERS))
    def answer(self, data, action, by):
        request = data.draw(st.sampled_from(sorted(self.oracle.requests)))
        self.add(action, by, version=self.oracle.requests[request]["version"], request=request)

    @rule(by=st.sampled_from(USERS))
    def answer_unknown_request(self, by):
        self.add("approve", by, version=1, request="20250101T000000.000000Z-deadbeef")

    @rule(version=st.one_of(st.none(), VERSIONS), alias=st.sampled_from(["champion", "challenger"]),
          by=st.sampled_from(USERS))
    def alias(self, version, alias, by):
        self.add("alias", by, version=version, alias=alias)

    @invariant()
    def replay_agrees_with_the_oracle(self):
        state = replay("m", self.events, SETTINGS, NEEDED)
        assert state.stage_of == {v: s for v, s in self.oracle.stage_of.items()}
        assert {i: r.status for i, r in state.requests.items()} == \
            {i: r["status"] for i, r in self.oracle.requests.items()}
        assert {a: v for a, (v, _, _) in state.aliases.items()} == self.oracle.aliases
        for stage in EXCLUSIVE:
            assert len(state.holders(stage)) <= 1
        open_spans = {(s.version, s.stage) for s in state.spans if s.end is None}
        assert open_spans == {(v, s) for v, s in state.stage_of.items() if s not in ("none", "archived")}
        for stage in EXCLUSIVE:  # spans of an exclusive stage never overlap
            spans = sorted((s.start, s.end) for s in state.spans if s.stage == stage)
            assert all(end is not None and end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans))

    @invariant()
    def order_and_cutoff_do_not_matter(self):
        if not self.events:
            return
        shuffled = random.Random(len(self.events)).sample(self.events, len(self.events))
        whole = summary(replay("m", self.events, SETTINGS, NEEDED))
        assert summary(replay("m", shuffled, SETTINGS, NEEDED)) == whole
        cut = random.Random(len(self.events) * 7).randrange(len(self.events))
        at = self.events[cut].at
        assert summary(replay("m", self.events, SETTINGS, NEEDED, until=at)) == \
            summary(replay("m", self.events[: cut + 1], SETTINGS, NEEDED))


TestReplaySoak = ReplayMachine.TestCase
TestReplaySoak.pytestmark = [pytest.mark.time_limit(300)]
# derandomize: the same examples on every run, so the figures in docs/robustness.md reproduce exactly.
TestReplaySoak.settings = settings(max_examples=60, stateful_step_count=80, deadline=None, derandomize=True,
                                   database=None, suppress_health_check=list(HealthCheck))


class CatalogMachine(RuleBasedStateMachine):
    """Random operations by random users on a real catalog: files, index, views and replay must agree."""

    def __init__(self) -> None:
        super().__init__()
        self.versions = 0

    @initialize()
    def catalog(self):
        import tempfile
        from pathlib import Path

        self.root = Path(tempfile.mkdtemp(prefix="soak-"))
        Catalog.init(self.root, user="ann")
        registry = (self.root / "registry.yaml").read_text().replace(
            "policies: {}", "policies:\n  production:\n    approvals: 1\n    approvers: [lead]\n").replace(
            "roles: {}", "roles:\n  lead: [ann, ben]\n")
        (self.root / "registry.yaml").write_text(registry)
        self.cat = {user: Catalog(self.root, user=user) for user in USERS}
        self.cat["ann"].register("m", metrics={"auc": 0.5})
        self.versions = 1

    def op(self, call) -> None:
        add_figure("soak: operations on a real catalog", 1)
        try:
            call()
        except RegistryError:  # refusals are fine; anything else is a bug
            pass

    @rule(by=st.sampled_from(USERS))
    def register(self, by):
        self.op(lambda: self.cat[by].register("m", metrics={"auc": random.random()}))
        self.versions = len(self.cat["ann"].versions("m"))

    @rule(data=st.data(), by=st.sampled_from(USERS))
    def log_metrics(self, data, by):
        version = data.draw(st.integers(1, self.versions))
        self.op(lambda: self.cat[by].log_metrics(f"m@{version}", {"loss": 0.1}, dataset="live"))

    @rule(data=st.data(), stage=st.sampled_from(["staging", "production", "archived"]), by=st.sampled_from(USERS),
          force=st.booleans())
    def promote(self, data, stage, by, force):
        version = data.draw(st.integers(1, self.versions))
        self.op(lambda: self.cat[by].promote("m", version, stage, reason="soak", force=force))

    @rule(data=st.data(), action=st.sampled_from(["approve", "reject", "cancel"]), by=st.sampled_from(USERS))
    def answer(self, data, action, by):
        pending = self.cat[by].requests("m")
        if pending:
            request = data.draw(st.sampled_from([r["id"] for r in pending]))
            self.op(lambda: getattr(self.cat[by], action)("m", request))

    @rule(by=st.sampled_from(USERS))
    def rollback(self, by):
        self.op(lambda: self.cat[by].rollback("m", "production", reason="soak"))

    @rule(data=st.data(), by=st.sampled_from(USERS), remove=st.booleans())
    def alias(self, data, by, remove):
        version = data.draw(st.integers(1, self.versions))
        self.op(lambda: self.cat[by].alias("m", version, "champion", remove=remove))

    @invariant()
    def views_match_the_replay_of_the_files(self):
        if not hasattr(self, "cat"):
            return
        cat = self.cat["ann"]
        state = cat.state("m")
        stages = {r["version"]: r["stage"] for r in cat.sql("SELECT version, stage FROM versions WHERE model = 'm'")}
        assert stages == {v: state.stage(v) for v in stages}
        assert len(state.holders("production")) <= 1
        assert {r["id"] for r in cat.requests("m")} == {r.id for r in state.pending()}
        assert len(cat.history("m")) == len(list((self.root / "models/m/events").glob("*.yaml")))
        assert_resolve_agrees_with_replay(cat, "m", ["champion"])

    def teardown(self):
        if hasattr(self, "cat"):
            assert self.cat["ann"].validate() == []
            import shutil

            shutil.rmtree(self.root, ignore_errors=True)


TestCatalogSoak = CatalogMachine.TestCase
TestCatalogSoak.pytestmark = [pytest.mark.time_limit(300)]
TestCatalogSoak.settings = settings(max_examples=3, stateful_step_count=25, deadline=None, derandomize=True,
                                    database=None, suppress_health_check=list(HealthCheck))
