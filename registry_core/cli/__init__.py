"""The ``modelreg`` command line: parse, call one Catalog method, format.

One module per area: ``edge`` (``main``: the error edge and exit codes), ``parser`` (every command and
option), ``commands_versions``, ``commands_lifecycle``, ``commands_maintenance``,
``commands_integrations`` and ``commands_dashboard`` (the handlers, one per command, grouped by the
layer they call into), ``inputs`` and ``output`` (what the handlers share).  ``registry_core.cli:main``
is the ``modelreg`` console script; ``python -m registry_core.cli`` runs it too.
"""

from registry_core.cli.edge import main
from registry_core.cli.parser import build_parser

__all__ = ["build_parser", "main"]
