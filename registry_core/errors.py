"""One exception family for everything the registry refuses.

Each error carries the exit code the CLI uses (1 error, 3 refused by policy)
and a message that names the bad value, so the CLI only has to print it.
"""

from __future__ import annotations


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
