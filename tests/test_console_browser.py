"""The console in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium),
against `slackops-relay serve` signing people in through a fake OpenID Connect provider: sign in, a waiting
judgment, filtering decisions, the CSV export, Retry, the chart, and the refusals. With
RELAY_CONSOLE_SCREENSHOTS set to a directory, each page is saved there as a PNG (docs/images/ holds the
README's)."""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import update

from relay.store import FAILED, PENDING, Store, deliveries, migrate
from tests.console_world import more_waits, seed
from tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC
from tests.served import Served, served_relay

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402 (only once Chromium is known to be there)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
OLGA = {"sub": "u-olga", "email": "olga@example.com", "preferred_username": "olga"}
VIC = {"sub": "u-vic", "email": "vic@example.com", "preferred_username": "vic"}
POLICY = """approvers:
  "payments*":
    users: [alice@example.com]
    groups: [S0RELEASE]
    four_eyes: true
  "*":
    groups: [S0RELEASE]
"""


@dataclass
class World:
    served: Served
    provider: FakeOIDC
    store: Store
    ids: dict
    downloads: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The relay (web only: no dispatcher changes what the test seeded) with the console on, over a seeded
    SQLite file, and the provider it trusts."""
    root = tmp_path_factory.mktemp("console")
    store = Store.from_url(f"sqlite:///{root / 'relay.sqlite3'}")
    migrate.upgrade(store)
    ids = seed(store, now=time.time())
    more_waits(store, now=time.time())
    (root / "relay.yaml").write_text(POLICY)
    with FakeOIDC() as provider, served_relay(
            root, serve_args=("--no-dispatcher",), RELAY_CONFIG=str(root / "relay.yaml"),
            RELAY_CONSOLE_AUTH="oidc", RELAY_CONSOLE_SECRET="console-session-secret-of-tests",
            RELAY_CONSOLE_OPERATORS="olga@example.com", RELAY_CONSOLE_VIEWERS="vic@example.com",
            RELAY_CONSOLE_OIDC_ISSUER=provider.issuer, RELAY_CONSOLE_OIDC_CLIENT_ID=CLIENT_ID,
            RELAY_CONSOLE_OIDC_CLIENT_SECRET=CLIENT_SECRET, SPINNAKER_UI_URL="https://spinnaker.example.com",
            SLACK_WORKSPACE_URL="https://acme.slack.com") as served:
        yield World(served, provider, store, ids, root / "downloads")
        assert provider.errors == []
    store.engine.dispose()


@pytest.fixture
def browser(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """A fresh headless Chromium (no cookies), downloading into the world's folder; Selenium is pointed at
    the system chromedriver and told to stay offline, so nothing is downloaded."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    shutil.rmtree(world.downloads, ignore_errors=True)
    world.downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-proxy-server", "--window-size=1280,860"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(world.downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": str(world.downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, world: World, user: dict, path: str = "/console/waiting") -> None:
    """Open a console page as `user`: the relay sends the browser to the provider, which sends it back."""
    world.provider.user = user
    driver.get(world.served.url + path)
    wait_for(driver, lambda d: d.find_elements(By.ID, "who"), f"signed in on {path}")


def wait_for(driver: WebDriver, condition, what: str, timeout: float = 15.0):
    return WebDriverWait(driver, timeout).until(condition, message=f"waiting for {what}")


def screenshot(driver: WebDriver, name: str) -> None:
    folder = os.environ.get("RELAY_CONSOLE_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"console-{name}.png"))


def delivery_status(store: Store, delivery_id: int) -> str:
    return next(row["status"] for row in store.list_deliveries(limit=100) if row["id"] == delivery_id)


def test_browser_console_refuses_without_sign_in(world: World, browser: WebDriver) -> None:
    browser.get(world.served.url + "/api/v1/judgments")
    assert '"unauthorized"' in browser.find_element(By.TAG_NAME, "body").text
    with requests.Session() as session:
        session.trust_env = False
        page = session.get(world.served.url + "/console/waiting", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].startswith("/console/login")


def test_browser_console_refuses_someone_the_settings_do_not_name(world: World, browser: WebDriver) -> None:
    world.provider.user = {"sub": "u-nora", "email": "nora@example.com"}
    browser.get(world.served.url + "/console/waiting")
    refusal = wait_for(browser, lambda d: d.find_elements(By.ID, "refused"), "the refusal")[0]
    assert "nora@example.com is not among the console's viewers or operators" in refusal.text
    assert not browser.find_elements(By.ID, "waiting")


def test_browser_console_signs_in_and_shows_the_waiting_judgment(world: World, browser: WebDriver) -> None:
    sign_in(browser, world, OLGA)
    assert browser.find_element(By.ID, "who").text.startswith("olga")
    [row] = browser.find_elements(By.CSS_SELECTOR, "#waiting tbody tr")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:3] == ["payments", "deploy-prod", "Approve production"]
    assert cells[3] == "2 h"
    assert cells[5] == "alice@example.com, group S0RELEASE; not whoever started the run"
    links = {a.text: a.get_attribute("href") for a in row.find_elements(By.TAG_NAME, "a")}
    assert links["Slack #deploys"] == "https://acme.slack.com/archives/C0DEPLOYS/p1779992800000100"
    assert links["Deck"].startswith("https://spinnaker.example.com/#/applications/payments/executions/")
    screenshot(browser, "waiting")


def test_browser_console_filters_decisions_and_exports_them(world: World, browser: WebDriver) -> None:
    sign_in(browser, world, VIC, "/console/decisions")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")) == 4
    screenshot(browser, "decisions")
    browser.find_element(By.NAME, "application").send_keys("payments")
    Select(browser.find_element(By.NAME, "outcome")).select_by_value("rejected")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait_for(browser, lambda d: "outcome=rejected" in d.current_url, "the filtered page")
    [row] = browser.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")
    assert "bob@example.com" in row.text and "rejected" in row.text
    browser.find_element(By.ID, "export-csv").click()
    exported = world.downloads / "judgments.csv"
    wait_for(browser, lambda _: exported.exists() and exported.stat().st_size > 0, "the CSV download")
    with exported.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["application"], r["approver"], r["outcome"]) for r in rows] == [
        ("payments", "bob@example.com", "rejected")]


def test_browser_console_operator_retries_a_failed_delivery(world: World, browser: WebDriver) -> None:
    failed = world.ids["failed"]
    sign_in(browser, world, OLGA, "/console/deliveries")
    screenshot(browser, "deliveries")
    row = browser.find_element(By.ID, f"delivery-{failed}")
    assert "channel_not_found" in row.text
    row.find_element(By.CSS_SELECTOR, "button.retry").click()
    flash = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"), "the confirmation")[0]
    assert flash.text == f"Delivery {failed} is queued again."
    assert delivery_status(world.store, failed) == PENDING
    assert not browser.find_elements(By.ID, f"delivery-{failed}")
    _fail_again(world.store, failed)  # as the other tests expect it


def test_browser_console_refuses_a_post_without_the_csrf_token(world: World, browser: WebDriver) -> None:
    failed = world.ids["failed"]
    sign_in(browser, world, OLGA, "/console/deliveries")
    form = browser.find_element(By.CSS_SELECTOR, f"#delivery-{failed} form")
    browser.execute_script("arguments[0].querySelector('input[name=csrf_token]').remove()", form)
    form.find_element(By.CSS_SELECTOR, "button.retry").click()
    refusal = wait_for(browser, lambda d: d.find_elements(By.ID, "refused"), "the refusal")[0]
    assert "CSRF token is missing or wrong" in refusal.text
    assert delivery_status(world.store, failed) == FAILED


def test_browser_console_viewer_cannot_retry(world: World, browser: WebDriver) -> None:
    failed = world.ids["failed"]
    sign_in(browser, world, VIC, "/console/deliveries")
    assert browser.find_element(By.ID, f"delivery-{failed}")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.retry")
    # The form an operator sees, made by hand with the viewer's own CSRF token (from the sign-out form).
    browser.execute_script(
        "const form = document.createElement('form'); form.method = 'post';"
        "form.action = '/console/deliveries/' + arguments[0] + '/retry';"
        "const token = document.querySelector('input[name=csrf_token]').cloneNode();"
        "form.appendChild(token); document.body.appendChild(form); form.submit();", failed)
    refusal = wait_for(browser, lambda d: d.find_elements(By.ID, "refused"), "the refusal")[0]
    assert refusal.text == "only operators may retry deliveries"
    assert delivery_status(world.store, failed) == FAILED


def test_browser_console_draws_the_wait_chart(world: World, browser: WebDriver) -> None:
    sign_in(browser, world, VIC, "/console/analytics")
    chart = browser.find_element(By.CSS_SELECTOR, "#chart svg")
    assert chart.size["width"] > 300 and chart.size["height"] > 100
    series = browser.find_elements(By.CSS_SELECTOR, "#chart polyline")
    assert [line.get_attribute("class") for line in series] == ["series series-p50", "series series-p90"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart circle")) == 2 * 4  # four weeks in 30 days
    screenshot(browser, "analytics")


def _fail_again(store: Store, delivery_id: int) -> None:
    with store.transaction() as conn:
        conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
            status=FAILED, attempts=12, last_error="channel_not_found"))
