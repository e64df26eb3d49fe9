"""Which local lifecycle events no longer hold once the remote's events are merged (SPEC 1.7).

A local event was decided on the state this clone saw.  After ``sync`` rebases it onto the remote, it is
stale when the merged replay says so (it breaks the policy now: gates against a new holder, ``from``, a
request answered upstream), when what it was decided on changed (another version now holds the exclusive
stage it promoted into, the request it answers changed), or when, sorted before a pulled event, it makes
that event break the policy.  Such events must not be pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry_core.format.settings import Settings
from registry_core.index.derive import needed_approvals
from registry_core.lifecycle.events import Event, ModelState, replay

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

LIFECYCLE = ("request", "approve", "reject", "cancel", "promote", "alias")
#: rules an earlier event can make a later one break (the others depend on the event alone)
ORDER_RULES = ("gates", "from", "rollback", "request")


@dataclass(frozen=True)
class Stale:
    path: str  # catalog-relative
    model: str
    id: str
    why: str

    def to_dict(self) -> dict:
        return {"path": self.path, "model": self.model, "id": self.id, "why": self.why}


def _context(state: ModelState, event: Event, settings: Settings) -> tuple:
    """What the decision of ``event`` rested on, in ``state`` (the replay just before it): for a move into
    an exclusive stage, its holder (whom it displaces); the version's own stage (``from``)."""
    if event.action in ("promote", "request"):
        holders = tuple(state.holders(event.stage)) if settings.is_exclusive(event.stage) else ()
        return ("holders", event.stage, holders, state.stage(event.version))
    if event.action in ("approve", "reject", "cancel"):
        request = state.requests.get(event.request or "")
        return ("request", request.status if request else None, tuple(request.approvals) if request else ())
    if event.action == "alias":
        return ("alias", state.aliases.get(event.alias or "", (None,))[0])
    return ()


def _describe(context: tuple, version: int | None) -> str:
    if context and context[0] == "holders":
        holders = ", ".join(f"v{v}" for v in context[2]) or "no version"
        return f"{context[1]} held by {holders}, v{version} in {context[3]}"
    if context and context[0] == "request":
        return f"the request {context[1] or 'absent'}"
    if context and context[0] == "alias":
        return f"the alias on {'v' + str(context[1]) if context[1] else 'no version'}"
    return "?"


def stale_events(catalog: Catalog, local_ids: dict[str, set[str]], pulled_ids: dict[str, set[str]]) -> list[Stale]:
    """Local events (model -> ids) whose decision does not hold on the merged catalog; pulled: model -> ids."""
    found: list[Stale] = []
    for model in sorted(local_ids):
        mine = local_ids[model]
        theirs = pulled_ids.get(model, set())
        reader = catalog.reader(models=[model])
        events = sorted(reader.events(model), key=lambda e: e.id)
        violations = reader.violations(model)
        effective = [e for e in events if e.id not in violations]
        settings = reader.settings
        needed = needed_approvals(settings, reader.model_policies(model))
        for event in events:
            if event.id not in mine or event.action not in LIFECYCLE:
                continue
            path = f"models/{model}/events/{event.id}.yaml"
            if event.id in violations:
                found.append(Stale(path, model, event.id, f"breaks the policy after the pull: {violations[event.id]}"))
                continue
            if not theirs:
                continue
            before = [e for e in effective if e.id < event.id]
            merged = replay(model, before, settings, needed)
            decided = replay(model, [e for e in before if e.id not in theirs], settings, needed)
            now, then = _context(merged, event, settings), _context(decided, event, settings)
            if now != then:
                found.append(Stale(path, model, event.id, f"decided with {_describe(then, event.version)}; "
                                                          f"after the pull: {_describe(now, event.version)}"))
                continue
            broken = sorted(i for i in theirs if i in violations and i > event.id
                            and violations[i].startswith(ORDER_RULES))
            if broken:
                found.append(Stale(path, model, event.id, f"makes the pulled event {broken[0]} break the policy "
                                                          f"({violations[broken[0]]})"))
    return found
