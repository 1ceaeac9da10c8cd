"""The Content-Security-Policy and the websocket close codes in real Chromium against a real
daphne (the process `make run` starts): the pages, the Django admin and the API docs work
under the policy without one violation, and a desk whose session ended goes to the login page
instead of reconnecting forever.

daphne runs in its own process and reads the rows this test commits, so PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import User
from apps.customers.services.customers import ContactInput, customer_create
from tests.conftest import require_postgres
from tests.daphne_helpers import database_url_of_current_connection, running_daphne
from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Every violation the page reports, from its first script on (Playwright adds this before the
# page's own scripts, outside the page's policy).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""

# The close code of every socket the page opens, kept across the reload a 4401 causes.
WATCH_CLOSE_CODES = """
(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("close", (e) => {
        const codes = JSON.parse(sessionStorage.getItem("closeCodes") || "[]");
        sessionStorage.setItem("closeCodes", JSON.stringify([...codes, e.code]));
      });
    }
  };
})();
"""


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator[Any]:
    require_postgres()
    with running_daphne(
        database_url=database_url_of_current_connection(), redis_url="", log_dir=tmp_path
    ) as server:
        yield server


def _new_page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def test_pages_admin_and_api_docs_work_under_the_policy_without_a_violation(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    # Given an admin (who may open every page) and a customer
    boss = make_user("Admin", username="boss", password=PASSWORD)
    customer = customer_create(
        actor=boss,
        first_name="Ada",
        last_name="Lovelace",
        contacts=[ContactInput(kind="email", value="a@x.org")],
    )
    page = _new_page(chromium)
    page.add_init_script(WATCH_VIOLATIONS)
    reported: list[str] = []
    page.on("console", lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: reported.append(f"page error: {error}"))
    base = daphne.origin
    sign_in(page, base, "boss")

    # When they open the desk, the wallboard, a customer, the admin and the API docs
    visits: dict[str, list[str]] = {}

    def visit(path: str, ready: str) -> None:
        page.goto(f"{base}{path}")
        page.wait_for_selector(ready)
        page.wait_for_timeout(500)  # late scripts, fetches and styles report too
        visits[path] = page.evaluate("window.__violations")

    visit("/desk/", "#live-status[data-state=live]")  # the websocket opened: connect-src
    visit("/wallboard/", "#live-status[data-state=live]")
    visit(f"/customers/{customer.pk}/", "#contacts")
    visit("/admin/", "#content-main")
    visit(f"/admin/customers/customer/{customer.pk}/change/", "#customer_form")
    visit("/api/docs/", ".swagger-ui .info .title")  # rendered from the schema it fetched

    # Then nothing was blocked, and nothing said so on the console
    assert visits == dict.fromkeys(visits, [])
    assert reported == []
    assert "Switchboard API" in page.locator(".swagger-ui .info .title").inner_text()


def test_a_desk_whose_session_ended_goes_to_the_login_page_instead_of_reconnecting(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    # Given an agent's desk, live
    make_user("Agent", username="amy", password=PASSWORD)
    desk = _new_page(chromium)
    desk.add_init_script(WATCH_CLOSE_CODES)
    sockets: list[str] = []
    desk.on("websocket", lambda socket: sockets.append(socket.url))
    base = daphne.origin
    sign_in(desk, base, "amy")
    desk.wait_for_url(f"{base}/desk/")
    desk.wait_for_selector("#live-status[data-state=live]")

    # When the agent signs out in another tab, and the desk's connection then drops
    other_tab = desk.context.new_page()
    other_tab.goto(f"{base}/customers/")
    other_tab.get_by_role("button", name="Log out").click()
    other_tab.wait_for_url(f"{base}/login/")
    desk.evaluate("Live.suspend(); Live.resume()")

    # Then its reconnect is closed with 4401 and the page goes to the login, and stays there
    desk.locator("#id_username").wait_for()  # the login form, after the page's own reload
    desk.wait_for_timeout(3000)
    assert desk.url == f"{base}/login/?next=/desk/"
    assert sockets == [f"ws://127.0.0.1:{daphne.port}/ws/agent/"] * 2
    assert desk.evaluate("JSON.parse(sessionStorage.getItem('closeCodes'))") == [1000, 4401]
