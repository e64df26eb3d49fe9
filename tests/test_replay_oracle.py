"""Property test: the core's checked replay against an oracle written from SPEC 1.6 and 1.9.

Hypothesis draws event sequences, legal and illegal (roles, self-approval, forged or missing gates,
missing approvals, wrong ``from``, back-dated answers, promotions before a version exists, future dates,
rollbacks to the wrong version), and the test compares which events break the policy and the state left
by the others.  The oracle below does not import the core's replay or its policy code.
"""

from __future__ import annotations

import datetime as dt
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_core.format.settings import parse_settings
from registry_core.lifecycle.audit import Audit, Facts, Rules
from registry_core.lifecycle.events import Event, replay

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 1, tzinfo=UTC)
NOW = dt.datetime(2026, 12, 1, tzinfo=UTC)
REGISTRY = {
    "format": 1,
    "stages": [{"name": "staging"}, {"name": "production", "exclusive": True}, {"name": "archived"}],
    "policies": {
        "staging": {"gates": [{"metric": "roc_auc", "min": 0.8}]},
        "production": {"from": ["staging"], "approvals": 1, "approvers": ["lead"],
                       "requesters": ["data-scientist", "lead"],
                       "gates": [{"metric": "roc_auc", "vs": "production"}]},
    },
    "aliases": {"champion": {"setters": ["lead"]}},
    "roles": {"lead": ["alice@x.com"], "data-scientist": ["bob@x.com", "carol@x.com"]},
}
AUC = {1: 0.82, 2: 0.86, 3: 0.79, 4: 0.90}
CREATED = {v: T0 + dt.timedelta(days=v) for v in AUC}
USERS = ["alice@x.com", "bob@x.com", "carol@x.com", "mallory@x.com", " ALICE@X.com ", "Bob@x.com"]
FIGURES = {"examples": 0, "events": 0, "violations": 0}


def who(user: str) -> str:
    return user.strip().casefold()


ROLES = {who(u): role for role, users in REGISTRY["roles"].items() for u in users}


# -- the oracle: SPEC 1.6 and 1.9, written out ---------------------------------------------------------
class Oracle:
    def __init__(self) -> None:
        self.stage: dict[int, str] = {}
        self.entries: list[int] = []  # production entries, in order
        self.requests: dict[str, dict] = {}
        self.aliases: dict[str, int | None] = {}
        self.violations: set[str] = set()

    def holder(self) -> int | None:
        return next((v for v in reversed(self.entries) if self.stage.get(v) == "production"), None)

    def previous(self) -> int | None:
        current = self.holder()
        if current is None:
            return None
        last = max(i for i, v in enumerate(self.entries) if v == current)
        return next((v for v in reversed(self.entries[:last]) if v != current), None)

    def gates(self, version: int, stage: str) -> list[dict]:
        if stage == "staging":
            return [{"gate": "roc_auc >= 0.8", "passed": AUC[version] >= 0.8, "value": AUC[version],
                     "baseline": 0.8}]
        if stage == "production":
            holder = self.holder()
            if holder is None:
                return [{"gate": "roc_auc not worse than production", "passed": True, "value": AUC[version],
                         "baseline": None}]
            return [{"gate": "roc_auc not worse than production", "passed": AUC[version] >= AUC[holder],
                     "value": AUC[version], "baseline": AUC[holder]}]
        return []

    def may_request(self, user: str, stage: str) -> bool:
        return stage != "production" or ROLES.get(who(user)) in ("lead", "data-scientist")

    def approver(self, user: str, stage: str) -> bool:
        return stage != "production" or ROLES.get(who(user)) == "lead"

    def origin_ok(self, version: int, stage: str) -> bool:
        return stage != "production" or self.stage.get(version, "none") == "staging"

    @staticmethod
    def same(stored: tuple, fresh: list[dict]) -> bool:
        keys = ("gate", "passed", "value", "baseline")
        return [tuple(g.get(k) for k in keys) for g in stored] == [tuple(g[k] for k in keys) for g in fresh]

    def legal(self, e: Event) -> bool:
        if max(e.at, dt.datetime.strptime(e.id[:22], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)) \
                > NOW + dt.timedelta(minutes=5):
            return False
        if e.action in ("promote", "request", "alias") and e.version is not None and e.at < CREATED[e.version]:
            return False
        if e.action == "promote":
            request = self.requests.get(e.request or "")
            if request and request["status"] == "approved" and (request["version"], request["stage"]) == \
                    (e.version, e.stage):
                return True
            if e.rollback_of is not None:
                return self.approver(e.by, e.stage) and bool(e.reason) and e.rollback_of == self.holder() \
                    and e.version == self.previous()
            if e.forced:
                return self.approver(e.by, e.stage) and bool(e.reason)
            if self.stage.get(e.version) == e.stage:
                return True
            fresh = self.gates(e.version, e.stage)
            return self.may_request(e.by, e.stage) and self.origin_ok(e.version, e.stage) \
                and e.stage != "production" and (not fresh or self.same(e.gates, fresh)) \
                and all(g["passed"] for g in fresh)
        if e.action == "request":
            fresh = self.gates(e.version, e.stage)
            needed = 1 if e.stage == "production" else 0
            return self.may_request(e.by, e.stage) and self.origin_ok(e.version, e.stage) \
                and (e.approvals_needed is None or e.approvals_needed >= needed) \
                and self.stage.get(e.version) != e.stage and (not e.gates or self.same(e.gates, fresh)) \
                and all(g["passed"] for g in fresh)
        if e.action in ("approve", "reject", "cancel"):
            request = self.requests.get(e.request or "")
            if request is None or request["status"] != "pending" or e.at < request["at"]:
                return False
            if e.action == "cancel":
                return who(e.by) == who(request["by"]) or self.approver(e.by, request["stage"])
            if e.action == "reject":
                return self.approver(e.by, request["stage"])
            if who(e.by) == who(request["by"]) or who(e.by) in request["approvals"] \
                    or not self.approver(e.by, request["stage"]):
                return False
            if len(request["approvals"]) + 1 >= request["needed"]:
                fresh = self.gates(request["version"], request["stage"])
                return self.may_request(request["by"], request["stage"]) \
                    and self.origin_ok(request["version"], request["stage"]) and all(g["passed"] for g in fresh)
            return True
        if e.action == "alias":
            return e.alias != "champion" or ROLES.get(who(e.by)) == "lead"
        return True

    def move(self, version: int, stage: str) -> None:
        if self.stage.get(version) == stage:
            return
        if stage == "production":
            for other, where in list(self.stage.items()):
                if where == "production" and other != version:
                    self.stage[other] = "archived"
            self.entries.append(version)
        self.stage[version] = stage

    def apply(self, e: Event) -> None:
        if not self.legal(e):
            self.violations.add(e.id)
            return
        if e.action == "promote":
            if e.rollback_of is not None and self.stage.get(e.rollback_of) == e.stage:
                self.stage[e.rollback_of] = "archived"
            self.move(e.version, e.stage)
            request = self.requests.get(e.request or "")
            if request and request["status"] in ("pending", "approved"):
                request["status"] = "promoted"
        elif e.action == "request":
            needed = max(e.approvals_needed or 0, 1 if e.stage == "production" else 0)
            self.requests[e.id] = {"version": e.version, "stage": e.stage, "by": e.by, "at": e.at,
                                   "needed": needed, "approvals": [], "status": "pending"}
        elif e.action in ("approve", "reject", "cancel"):
            request = self.requests[e.request]
            if e.action == "approve":
                request["approvals"].append(who(e.by))
                if len(request["approvals"]) >= request["needed"]:
                    request["status"] = "approved"
                    self.move(request["version"], request["stage"])
            else:
                request["status"] = "rejected" if e.action == "reject" else "cancelled"
        elif e.action == "alias":
            self.aliases[e.alias] = e.version


# -- drawing events ----------------------------------------------------------------------------------
@st.composite
def sequences(draw) -> list[Event]:
    oracle, events = Oracle(), []
    clock = T0 + dt.timedelta(days=1, hours=1)
    for n in range(draw(st.integers(1, 25))):
        clock += dt.timedelta(hours=draw(st.integers(1, 30)))
        at = clock
        twist = draw(st.sampled_from(["none"] * 12 + ["future", "early", "forged", "nogates"]))
        if twist == "future":
            at = NOW + dt.timedelta(days=draw(st.integers(1, 30000)))
        by = draw(st.sampled_from(USERS))
        kind = draw(st.sampled_from(["promote", "promote", "request", "answer", "answer", "rollback", "alias",
                                     "force"]))
        fields: dict = {}
        if kind in ("promote", "request", "force"):
            version = draw(st.sampled_from(sorted(AUC)))
            stage = draw(st.sampled_from(["staging", "production", "archived"]))
            if twist == "early":
                at = CREATED[version] - dt.timedelta(hours=1)
            gates = tuple(oracle.gates(version, stage))
            if twist == "forged" and gates:
                gates = ({**gates[0], "passed": True, "value": 0.99},)
            elif twist == "nogates":
                gates = ()
            fields = {"version": version, "stage": stage, "gates": gates}
            if kind == "request":
                fields["approvals_needed"] = draw(st.sampled_from([None, None, 0, 1, 2]))
            if kind == "force":
                fields.update(forced=True, reason=draw(st.sampled_from([None, "hotfix"])))
            action = "request" if kind == "request" else "promote"
        elif kind == "answer":
            action = draw(st.sampled_from(["approve", "approve", "reject", "cancel"]))
            pending = sorted(oracle.requests) or ["20261101T000000.000000Z-00000000"]
            request = draw(st.sampled_from(pending))
            if twist == "early" and request in oracle.requests:
                at = oracle.requests[request]["at"] - dt.timedelta(minutes=10)
            info = oracle.requests.get(request, {"version": 1, "stage": "production"})
            fields = {"version": info["version"], "stage": info["stage"], "request": request}
        elif kind == "rollback":
            current, previous = oracle.holder(), oracle.previous()
            version = previous if previous is not None and twist == "none" else draw(st.sampled_from(sorted(AUC)))
            action, fields = "promote", {"version": version, "stage": "production", "rollback_of": current or 1,
                                         "reason": draw(st.sampled_from(["back", None]))}
        else:
            action, fields = "alias", {"version": draw(st.sampled_from([1, 2, 3, 4, None])),
                                       "alias": draw(st.sampled_from(["champion", "challenger"]))}
        stamp = at if twist == "future" else clock
        event = Event(id=stamp.strftime("%Y%m%dT%H%M%S.%fZ") + f"-{n:08x}", at=at, by=by, model="m",
                      action=action, **fields)
        events.append(event)
        oracle.apply(event)
        if action == "approve" and oracle.requests.get(fields["request"], {}).get("status") == "approved" \
                and event.id not in oracle.violations and draw(st.booleans()):
            info = oracle.requests[fields["request"]]  # the record of the promotion, as the CLI writes it
            record = Event(id=(clock + dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{n:07x}f",
                           at=clock + dt.timedelta(seconds=1), by=by, model="m", action="promote",
                           version=info["version"], stage=info["stage"], request=fields["request"])
            events.append(record)
            oracle.apply(record)
    return events


def core_replay(events: list[Event]):
    registry = parse_settings(REGISTRY, "registry.yaml")
    rules = Rules(registry)
    facts = Facts(created=dict(CREATED), headline={v: {("roc_auc", None, None): auc} for v, auc in AUC.items()},
                  check=lambda version, name: (True, ""), written=lambda event: NOW)
    return replay("m", events, registry, {}, audit=Audit(lambda event: rules, facts))


@settings(max_examples=int(os.environ.get("MODELREG_ORACLE_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequences())
def test_checked_replay_agrees_with_the_oracle(events):
    oracle = Oracle()
    for event in sorted(events, key=lambda e: e.id):
        oracle.apply(event)
    state = core_replay(events)
    assert set(state.violations) == oracle.violations, {i: state.violations.get(i) for i in
                                                         set(state.violations) ^ oracle.violations}
    assert {v: s for v, s in state.stage_of.items() if s != "none"} == oracle.stage
    assert {i: r.status for i, r in state.requests.items()} == {i: r["status"] for i, r in oracle.requests.items()}
    assert {a: v for a, (v, _, _) in state.aliases.items()} == {a: v for a, v in oracle.aliases.items()
                                                                 if v is not None}
    FIGURES["examples"] += 1
    FIGURES["events"] += len(events)
    FIGURES["violations"] += len(oracle.violations)


def test_zz_report_figures(capsys):
    """Prints the figures docs/security.md quotes (run with -s to see them)."""
    with capsys.disabled():
        print(f"\noracle property test: {FIGURES}")
