"""``python -m registry_core.cli``: the ``modelreg`` command."""

import sys

from registry_core.cli.edge import main

if __name__ == "__main__":
    sys.exit(main())
