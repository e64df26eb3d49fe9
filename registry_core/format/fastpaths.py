"""One switch for the speed tricks of the index build, with the plain code as their reference.

Two tricks reach into library internals for the cold build of a large catalog: ``yamlio`` parses
through libyaml with PyYAML's Python hooks replaced (``_fast_load``), and ``index.yamlrows`` reads
YAML files in worker processes while the walk goes on.  ``MODELREG_PLAIN=1`` turns both off: every
file is then read by PyYAML's stock safe loader in the calling process.  Both paths must give the
same index (tests/test_fastpaths.py compares them on a generated catalog); when they disagree, the
plain one is right.
"""

from __future__ import annotations

import os

ENV = "MODELREG_PLAIN"


def enabled() -> bool:
    """True unless ``MODELREG_PLAIN`` is set to 1/true/yes/on (read on every call, so tests can flip it)."""
    return os.environ.get(ENV, "").strip().lower() not in ("1", "true", "yes", "on")
