"""``describe`` and ``tag``: edits after registration are events, so manifests stay write-once (SPEC 1.6).

The latest describe event gives a version's description and tag events patch its manifest's tags; the
``versions`` view, ``show`` and the dashboard read the result.  Anyone may edit (like registering).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry_core.errors import InvalidInput
from registry_core.format.yamlio import dumps
from registry_core.lifecycle.events import Event, new_id, now
from registry_core.store.atomic import write_once
from registry_core.store.locking import model_lock

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

MAX_TEXT = 10_000


def _write(catalog: Catalog, ref: str, action: str, **fields) -> dict:
    found = catalog.resolve(ref)
    model, version = found["model"], found["version"]
    with model_lock(catalog.layout.cache, model):
        moment = now()
        event = Event(id=new_id(moment), at=moment, by=catalog.user, model=model, action=action, version=version,
                      **fields)
        write_once(catalog.layout.events(model) / f"{event.id}.yaml", dumps(event.to_yaml_dict()))
    return {"model": model, "version": version, "ref": f"{model}@{version}", "event": event.id}


def describe(catalog: Catalog, ref: str, text: str) -> dict:
    """Record a new description of a version."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("describe: the description is empty")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"describe: the description has {len(text)} characters; at most {MAX_TEXT}")
    return {**_write(catalog, ref, "describe", description=text), "description": text}


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``["team=risk", "ticket=RISK-1"]`` -> a mapping; a pair without '=' or with an empty key is refused."""
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"tag: expected KEY=VALUE, got {pair!r}")
        tags[key.strip()] = value
    return tags


def tag(catalog: Catalog, ref: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> dict:
    """Set and/or remove tags of a version."""
    tags = {str(k).strip(): str(v) for k, v in (tags or {}).items()}
    remove = [str(k).strip() for k in remove or []]
    if not tags and not remove:
        raise InvalidInput("tag: nothing to set or remove")
    if any(not k for k in [*tags, *remove]):
        raise InvalidInput("tag: a tag key is empty")
    both = sorted(set(tags) & set(remove))
    if both:
        raise InvalidInput(f"tag: {both[0]!r} is both set and removed")
    result = _write(catalog, ref, "tag", tags=tuple(sorted(tags.items())), remove=tuple(remove))
    return {**result, "tags": tags, "remove": remove}
