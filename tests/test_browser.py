"""The dashboard in a real browser (Playwright + Debian's /usr/bin/chromium), started by ``modelreg ui``.

A promotion is requested by a data scientist, approved by a lead and rolled back, all through the UI;
the event files and the CLI then confirm what happened.  Skipped, with the reason, when chromium or
the playwright package is missing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from builders import ALICE, BOB

from registry_core.cli import main as modelreg

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no browser: {CHROMIUM} is missing "
                                                           "(apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(candidate, tmp_path):
    """``modelreg ui`` on a free port (acting user bob, demo "act as" on); yields its base URL."""
    port = free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "MODELREG_DEMO_USERS": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "registry_core.cli", "--catalog", str(candidate),
                                 "--user", BOB, "ui", "--port", str(port), "--headless"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode not in (0, -signal.SIGTERM):
        print(log.read_text())


@pytest.fixture(params=[1440, 800], ids=["1440px", "800px"])
def page(server, request):
    """A chromium tab on the dashboard, at a desktop width and at a laptop split-screen width."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": request.param, "height": 1000})
        tab.set_default_timeout(30_000)
        tab.base = server
        yield tab
        browser.close()


def settle(page) -> None:
    """Wait until the script has finished its run."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')


def open_page(page, path: str) -> None:
    page.goto(f"{page.base}/{path}")
    settle(page)


def toast(page, text: str) -> None:
    page.locator('[data-testid="stToast"]', has_text=text).wait_for()


def confirm(page, button: str, reason: str) -> None:
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (recorded in the event)").fill(reason)
    dialog.get_by_role("button", name=button).click()
    settle(page)


def chosen(page, label: str) -> str:
    """What a selectbox shows: its text and its input's value (Streamlit draws the choice in either)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    values = [i.input_value() for i in box.locator("input").all()]
    return box.inner_text() + " " + " ".join(v for v in values if v) + " " + " ".join(
        box.locator("[value]").evaluate_all("els => els.map(e => e.getAttribute('value') || '')"))


def act_as(page, user: str, role: str) -> None:
    """The demo "act as" selector (MODELREG_DEMO_USERS=1) in the sidebar (opened first if collapsed)."""
    picker = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").locator("input")
    if not picker.is_visible():
        page.get_by_test_id("stExpandSidebarButton").click()
    picker.click()
    page.get_by_role("option", name=user).click()
    settle(page)
    page.get_by_test_id("stSidebar").get_by_text(f"roles: {role}").wait_for()


def events(root: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((root / "models/fraud-detector/events").glob("*.yaml"))]


def test_request_approve_and_roll_back_in_a_real_browser(page, candidate, capsys):
    open_page(page, "promote?model=fraud-detector&version=4&stage=staging")
    page.get_by_role("button", name="Promote to staging").click()
    confirm(page, "Promote to staging", "validation is fine")
    toast(page, "Promoted fraud-detector@4 → staging")
    # after the action the page says so plainly, and the picker's label has the new stage (bug 2)
    page.get_by_test_id("stAlert").filter(has_text="Done: Promoted fraud-detector@4 → staging").wait_for()
    page.get_by_test_id("stAlert").filter(has_text="fraud-detector@4 is in staging.").wait_for()
    assert "none" not in chosen(page, "Version")  # no stale stage in the picker's label
    page.get_by_text("v4 is now staging").wait_for()
    assert not page.get_by_text("Not possible now").count()

    open_page(page, "promote?model=fraud-detector&version=4&stage=production")
    page.get_by_text("Gates pass; production needs 1 approval(s)").wait_for()
    page.get_by_role("button", name="Request production").click()
    confirm(page, "Request production", "beats v2 on test")
    toast(page, "awaits approval")
    approve = page.get_by_role("button", name="Approve")
    assert approve.is_disabled()  # bob opened it
    # the request's gates, recorded and now, beside its buttons; usable at 800 px too
    page.locator("th", has_text="recorded").first.wait_for(state="attached")  # the grid is a canvas
    for name in ("Approve", "Reject", "Cancel"):
        assert page.get_by_role("button", name=name).bounding_box()["width"] >= 60, name
    assert page.get_by_test_id("stSelectbox").filter(has_text="Version").first.bounding_box()["width"] >= 150

    act_as(page, ALICE, "lead")
    page.get_by_role("button", name="Approve").click()
    settle(page)
    toast(page, "Approved: fraud-detector@4 promoted to production")

    page.get_by_role("button", name="Roll back production: v4 → v2").click()
    confirm(page, "Roll back", "alerts after the switch")
    toast(page, "Rolled back fraud-detector production: v4 → v2")

    written = events(candidate)[-5:]  # ids sort in time order: the five written through the browser
    assert [(e["action"], e["by"], e["version"], e.get("stage")) for e in written] == [
        ("promote", BOB, 4, "staging"), ("request", BOB, 4, "production"), ("approve", ALICE, 4, "production"),
        ("promote", ALICE, 4, "production"), ("promote", ALICE, 2, "production")]
    assert written[-1]["rollback_of"] == 4 and written[-1]["reason"] == "alerts after the switch"

    capsys.readouterr()
    assert modelreg(["--catalog", str(candidate), "resolve", "fraud-detector@production"]) == 0
    assert capsys.readouterr().out.strip() == "fraud-detector@2"
    assert modelreg(["--catalog", str(candidate), "history", "fraud-detector", "--format", "json"]) == 0
    assert "alerts after the switch" in capsys.readouterr().out


def test_every_page_opens_from_its_url_and_links_lead_on(page):
    for path, expect in [("", "Pending approvals"), ("versions?model=fraud-detector&version=2", "fraud-detector@2"),
                         ("compare?model=fraud-detector&versions=1,2", "Headline metrics"),
                         ("lineage?model=fraud-detector&version=2", "Dataset impact"),
                         ("promote?model=fraud-detector&version=3&stage=staging", "Not possible now"),
                         ("history", "Stage timeline")]:
        open_page(page, path)
        page.get_by_text(expect).first.wait_for()
        assert not page.get_by_test_id("stException").count(), path
    open_page(page, "versions?model=fraud-detector&version=2")
    page.get_by_role("link", name="Lineage →").click()
    settle(page)
    page.get_by_text("Dataset impact").wait_for()
    assert "lineage" in page.url and "version=2" in page.url
