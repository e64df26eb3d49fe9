"""Page times as a user sees them: in chromium, from navigation until the page stops changing.

Each dashboard page is opened from its URL in a fresh tab, next to a bare two-page Streamlit app (a
table and four plotly charts) served and measured the same way in the same run, so Streamlit's own
start (the frontend, the websocket, the first script run) is measured beside what modelreg adds.

"Stops changing": the script is not running, every plotly chart has drawn, and no DOM mutation for
``QUIET_MS``; the time reported is that of the last mutation, from the navigation's start.

    python -m benchmarks.browser                       # the demo catalog (13 versions)
    python -m benchmarks.browser --size 10000          # also a generated 10,000-version catalog
    python -m benchmarks.browser --json out.json

Needs /usr/bin/chromium and the playwright package (never ``playwright install``).  Prints numbers;
asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUIET_MS = 700

BARE_PAGE = '''
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

st.title("Bare")
rng = np.random.default_rng(0)
frame = pd.DataFrame(rng.random((13, 12)), columns=[f"c{i}" for i in range(12)])
st.dataframe(frame)
cols = st.columns(2)
for i in range(4):
    cols[i % 2].plotly_chart(go.Figure(go.Bar(x=list(range(13)), y=frame[f"c{i}"])), key=f"chart{i}")
'''
BARE_APP = '''
import streamlit as st

st.set_page_config(layout="wide")
st.navigation([st.Page("table.py", title="Table", default=True), st.Page("other.py", title="Other")]).run()
'''

# The script is done, every plotly chart has drawn, and nothing changed for QUIET_MS.
STABLE = f"""() => {{
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]').length;
  const drawn = document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length;
  if (drawn < charts) return false;
  return performance.now() - (window.__lastChange || 0) > {QUIET_MS};
}}"""
WATCH = """
window.__lastChange = 0;
new MutationObserver(() => { window.__lastChange = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """``streamlit run app`` on a free port until the block ends; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                cwd=app.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server of {app} did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def open_until_stable(browser, url: str, width: int) -> float:
    """Seconds from navigation until the page stopped changing, in a fresh tab (nothing cached)."""
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        page = context.new_page()
        page.add_init_script(WATCH)
        page.goto(url)
        page.wait_for_function(STABLE, timeout=120_000, polling=100)
        return page.evaluate("window.__lastChange") / 1000
    finally:
        context.close()


def measure(browser, targets: dict[str, str], repeats: int, width: int) -> dict[str, float]:
    """Median seconds per target, the targets interleaved so load on the machine hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in targets}
    for url in targets.values():  # warm-up: the first script run of each page compiles and caches
        open_until_stable(browser, url, width)
    for _ in range(repeats):
        for name, url in targets.items():
            times[name].append(open_until_stable(browser, url, width))
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def dashboard_targets(base: str, model: str, versions: list[int]) -> dict[str, str]:
    picked = ",".join(map(str, versions))
    return {
        "overview": f"{base}/",
        "versions": f"{base}/versions?model={model}&version={versions[0]}",
        "compare": f"{base}/compare?model={model}&versions={picked}",
        "lineage": f"{base}/lineage?model={model}&version={versions[0]}",
        "promote": f"{base}/promote?model={model}&version={versions[0]}",
        "history": f"{base}/history?model={model}",
    }


def run_catalog(browser, catalog: Path, bare: str, work: Path, repeats: int, width: int) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from registry_core import Catalog

    cat = Catalog(catalog)
    cat.refresh()  # the index is built before timing (a first open would build it behind a spinner)
    models = [m for m in cat.models() if m["versions"]]
    model = max(models, key=lambda m: m["versions"])["model"]
    numbers = [v["version"] for v in cat.versions(model)][:3]
    env = {"MODELREG_CATALOG": str(catalog), "MODELREG_USER": "bench@example.com"}
    with serve(REPO / "app.py", env, work / f"dashboard-{catalog.name}.log") as base:
        return measure(browser, {"bare streamlit": bare, **dashboard_targets(base, model, numbers)}, repeats, width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=0, help="also a generated catalog of this many versions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="modelreg-browser-") as tmp:
        work = Path(tmp)
        (work / "bare").mkdir()
        (work / "bare" / "app.py").write_text(textwrap.dedent(BARE_APP))
        (work / "bare" / "table.py").write_text(textwrap.dedent(BARE_PAGE))
        (work / "bare" / "other.py").write_text("import streamlit as st\n\nst.title('Other')\n")
        catalogs = {"demo (13 versions)": REPO / "catalog"}
        if args.size:
            from benchmarks.workload import main as write_workload

            big = work / f"catalog-{args.size}"
            started = time.monotonic()
            write_workload([str(big), "--size", str(args.size), "--jobs", "2"])
            print(f"wrote {args.size} versions in {time.monotonic() - started:.1f} s", file=sys.stderr)
            catalogs[f"{args.size:,} versions"] = big
        with sync_playwright() as p, serve(work / "bare" / "app.py", {}, work / "bare.log") as bare:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for label, catalog in catalogs.items():
                results[label] = run_catalog(browser, catalog, bare + "/", work, args.repeats, args.width)
                print(label, json.dumps(results[label]), file=sys.stderr)
            browser.close()
    print(f"| page | {' | '.join(results)} |")
    print(f"|---|{'---|' * len(results)}")
    for name in next(iter(results.values())):
        cells = []
        for figures in results.values():
            extra = figures[name] - figures["bare streamlit"]
            cells.append(f"{figures[name]:.2f} s" + ("" if name == "bare streamlit" else f" ({extra:+.2f})"))
        print(f"| {name} | {' | '.join(cells)} |")
    if args.json:
        args.json.write_text(json.dumps({"width": args.width, "repeats": args.repeats, "seconds": results},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
