"""Screenshots of every dashboard page on the bundled demo catalog, for docs/dashboard.md.

    python scripts/dashboard_screenshots.py [--out docs/screenshots]

Serves app.py as alice (a lead of the demo catalog) and opens each page in headless chromium
(/usr/bin/chromium through Playwright; never ``playwright install``) at 1440 px, plus Promote at 800 px.
The demo catalog is only read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.browser import ARGS, CHROMIUM, STABLE, WATCH, serve  # noqa: E402

SHOTS = {
    "overview": "",
    "versions": "versions?model=fraud-detector&version=3",
    "compare": "compare?model=fraud-detector",
    "lineage": "lineage?model=fraud-detector",
    "promote": "promote?model=fraud-detector",
    "history": "history?model=fraud-detector",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    env = {"MODELREG_CATALOG": str(REPO / "catalog"), "MODELREG_USER": "alice@example.com"}
    with tempfile.TemporaryDirectory() as tmp, serve(REPO / "app.py", env, Path(tmp) / "ui.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        shots = [(name, path, 1440) for name, path in SHOTS.items()] + [("promote-800px", SHOTS["promote"], 800)]
        for name, path, width in shots:
            context = browser.new_context(viewport={"width": width, "height": 1700})
            page = context.new_page()
            page.add_init_script(WATCH)
            page.goto(f"{base}/{path}")
            page.wait_for_function(STABLE, timeout=120_000, polling=200)
            page.screenshot(path=str(args.out / f"{name}.png"))
            context.close()
            print(args.out / f"{name}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
