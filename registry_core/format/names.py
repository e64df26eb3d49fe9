"""Model, alias and stage names, and references like ``fraud@4``.

Names are checked before anything touches the disk, so a name can never
escape the catalog folder (no ``/``, no ``..``, no leading dot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry_core.errors import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z: "$" would accept a trailing newline
# Device names Windows refuses as file names, whatever the extension.
RESERVED = {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
ALIAS_FORBIDDEN = {"latest", "none"}
MAX_VERSION = 2**63 - 1  # versions are stored as int64


def is_digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²`` and ``١`` (and ``int("١")`` is 1)."""
    return text.isascii() and text.isdigit()


def is_name(text: str) -> bool:
    """True if ``text`` passes :func:`check_name` (for folder names found on disk)."""
    return bool(NAME_RE.match(text)) and text.split(".")[0].lower() not in RESERVED


def check_name(name: object, what: str = "model name") -> str:
    """Return ``name`` if it is a valid model (or alias/stage) name, else raise."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{what} must be a non-empty string, got {name!r}")
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"invalid {what} {name!r}: use ASCII letters, digits, '.', '_', '-', "
            "start with a letter or digit, at most 100 characters"
        )
    if name.split(".")[0].lower() in RESERVED:
        raise InvalidInput(f"invalid {what} {name!r}: reserved device name")
    return name


def check_alias(name: object, stages: set[str]) -> str:
    """Alias names follow the model-name rule and cannot be a number, latest, none or a stage."""
    alias = check_name(name, "alias name")
    if is_digits(alias) or alias.lower() in ALIAS_FORBIDDEN or alias in stages:
        raise InvalidInput(f"invalid alias name {alias!r}: cannot be a number, 'latest', 'none' or a stage name")
    return alias


def check_version(value: object, what: str = "version") -> int:
    """A version is a positive integer (``"4"`` is accepted from the command line)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and is_digits(value):
        number = int(value)
    else:
        raise InvalidInput(f"{what} must be a positive integer, got {value!r}")
    if number < 1 or number > MAX_VERSION:
        raise InvalidInput(f"{what} must be a positive integer below 2^63, got {value!r}")
    return number


@dataclass(frozen=True)
class Ref:
    """A parsed ``MODEL@SELECTOR``; ``selector`` is a version number, stage, alias or ``latest``."""

    model: str
    selector: str

    @property
    def version(self) -> int | None:
        return int(self.selector) if is_digits(self.selector) else None

    def __str__(self) -> str:
        return f"{self.model}@{self.selector}"


def parse_ref(text: object) -> Ref:
    """Parse ``MODEL@VERSION|STAGE|ALIAS|latest``; a bare ``MODEL`` means ``MODEL@latest``."""
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"invalid reference {text!r}: expected MODEL@VERSION, MODEL@STAGE or MODEL@ALIAS")
    model, sep, selector = text.partition("@")
    check_name(model)
    if not sep:
        return Ref(model, "latest")
    if not selector:
        raise InvalidInput(f"invalid reference {text!r}: nothing after '@'")
    if is_digits(selector):
        check_version(selector, f"version in {text!r}")
        return Ref(model, str(int(selector)))
    check_name(selector, f"selector in reference {text!r}")
    return Ref(model, selector)
