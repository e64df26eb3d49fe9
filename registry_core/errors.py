"""One exception family for everything the registry refuses.

Each error carries the exit code the CLI uses (1 error, 3 refused by policy)
and a message that names the bad value, so the CLI only has to print it.
"""

from __future__ import annotations

import errno


class RegistryError(Exception):
    """Base of every error modelreg raises on purpose."""

    exit_code = 1


class InvalidInput(RegistryError):
    """A name, reference, argument or file content is not acceptable."""


class NotFound(RegistryError):
    """A model, version, stage, alias, request or file does not exist."""


class Conflict(RegistryError):
    """The write would clash with what is already there."""


class CatalogError(RegistryError):
    """The catalog itself is missing or unreadable."""


class PolicyRefused(RegistryError):
    """A gate failed, or the acting user may not do this (exit code 3)."""

    exit_code = 3

    def __init__(self, message: str, gates: list | None = None) -> None:
        super().__init__(message)
        self.gates = gates or []


# What kind of "no" a refused decision is; the kind, never the message, picks the exception (and exit code).
CONFLICT = "conflict"  # clashes with what is already there: exit 1
POLICY = "policy"  # this user may not: exit 3
GATE = "gate"  # a quality gate failed: exit 3
MISSING = "missing"  # what the action needs does not exist: exit 1

_REFUSALS: dict[str, type[RegistryError]] = {
    CONFLICT: Conflict, POLICY: PolicyRefused, GATE: PolicyRefused, MISSING: NotFound,
}


def refusal(kind: str, message: str, gates: list | None = None) -> RegistryError:
    """The error for a refused decision of this ``kind``; policy refusals start with "refused: "."""
    error = _REFUSALS[kind]
    if error is PolicyRefused:
        return PolicyRefused(f"refused: {message}", gates)
    return error(message)


#: what a file system says when a write cannot happen at all: a read-only mount, a full disk, a quota
UNWRITABLE = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT})


def unwritable(exc: OSError, where: str) -> CatalogError | None:
    """The one-line error for a write to ``where`` that the file system refused (reads still work: the
    index then goes to a temp folder), or None if ``exc`` is another OSError."""
    if exc.errno not in UNWRITABLE:
        return None
    if exc.errno == errno.EROFS:
        return CatalogError(f"{where} is read-only ({exc.filename}: {exc.strerror}); it can be read, not written")
    return CatalogError(f"no space left for {where} ({exc.filename}: {exc.strerror}); the write did not complete")
