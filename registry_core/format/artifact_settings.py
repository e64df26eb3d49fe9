"""The ``artifacts:`` section of registry.yaml: where artifact bytes live (SPEC 1.8).

Only the place is recorded.  Credentials, region and (by default) the endpoint come from each
cloud's standard environment and config files, so a key that looks like a secret is refused with
a message saying so: a catalog is committed to git and read by everyone who clones it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from registry_core.errors import InvalidInput

STORE_SCHEMES = ("s3", "gs", "az", "file")
KEYS = {"store", "endpoint", "inline_max", "allow_http", "verify"}
SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session")
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*\Z")


@dataclass(frozen=True)
class ArtifactSettings:
    """``store``: ``s3://bucket/prefix``, ``gs://...``, ``az://...`` or ``file:///abs/path``; None = files stay
    in the version folder.  ``inline_max``: files up to this many bytes still go into the version folder.
    ``verify``: what the ``artifacts_verified`` gate checks of a stored object, ``size`` (exists with the
    recorded size) or ``deep`` (its full sha256)."""

    store: str | None = None
    endpoint: str | None = None
    inline_max: int | None = None
    allow_http: bool = False
    verify: str = "size"


def parse_size(value: Any, where: str) -> int:
    """``1048576``, ``"1MB"`` (10**6), ``"1MiB"`` (2**20)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE_RE.match(value) if isinstance(value, str) else None
    if not match or match.group(2).lower() not in _UNITS:
        raise InvalidInput(f"{where}: expected a size like 1048576, 500KB or 1MiB, got {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _store_url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where}: artifacts.store must be a URL like s3://bucket/prefix, got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in STORE_SCHEMES:
        raise InvalidInput(f"{where}: artifacts.store {value!r}: scheme must be one of "
                           f"{', '.join(s + '://' for s in STORE_SCHEMES)}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(f"{where}: artifacts.store {value!r} must not carry credentials or parameters; "
                           "they come from the environment")
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise InvalidInput(f"{where}: artifacts.store {value!r}: a local store is file:///absolute/path")
    elif not parts.netloc:
        raise InvalidInput(f"{where}: artifacts.store {value!r} names no bucket")
    return value.strip().rstrip("/")


def parse_artifacts(raw: Any, where: str) -> ArtifactSettings:
    """Parse ``artifacts:``; raise InvalidInput naming the file and key on any bad value."""
    if raw is None:
        return ArtifactSettings()
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: 'artifacts' must be a mapping like {{store: s3://bucket/prefix}}")
    unknown = sorted(str(k) for k in set(raw) - KEYS)
    secrets = [k for k in unknown if any(word in k.lower() for word in SECRET_WORDS)]
    if secrets:
        raise InvalidInput(f"{where}: artifacts.{secrets[0]}: credentials never live in the catalog; "
                           "use the cloud's environment variables or config files")
    if unknown:
        raise InvalidInput(f"{where}: artifacts: unknown key(s) {unknown}; known: {sorted(KEYS)}")
    if "store" not in raw:
        raise InvalidInput(f"{where}: 'artifacts' needs a 'store' URL")
    store = _store_url(raw["store"], where)
    endpoint = raw.get("endpoint")
    allow_http = raw.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise InvalidInput(f"{where}: artifacts.allow_http must be true or false, got {allow_http!r}")
    if endpoint is not None:
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"{where}: artifacts.endpoint must be an http(s) URL, got {endpoint!r}")
        if parts.username or parts.password:
            raise InvalidInput(f"{where}: artifacts.endpoint: credentials never live in the catalog")
        if parts.scheme == "http" and not allow_http:
            raise InvalidInput(f"{where}: artifacts.endpoint {endpoint} is plain http; add 'allow_http: true' "
                               "to accept unencrypted transfers")
    inline_max = parse_size(raw["inline_max"], f"{where}: artifacts.inline_max") if "inline_max" in raw else None
    verify = raw.get("verify", "size")
    if verify not in ("size", "deep"):
        raise InvalidInput(f"{where}: artifacts.verify must be 'size' or 'deep', got {verify!r}")
    return ArtifactSettings(store=store, endpoint=endpoint, inline_max=inline_max, allow_http=allow_http,
                            verify=verify)
