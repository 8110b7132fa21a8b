"""The support console in a real headless Chromium, against a real uvicorn server.

Playwright drives Debian's Chromium (/usr/bin/chromium): ``playwright install`` cannot
download browsers here. Without that binary (or playwright) the test skips and says why.
"""

import asyncio
import re
import socket
from pathlib import Path

import pytest
import pytest_asyncio
import uvicorn

from tests.helpers import eventually
from tests.integration.checkout_helpers import delivered_order

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: this machine's network is closed, so no background calls home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def async_playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (`make test` does, as root); "
                    "Playwright cannot download its own browsers here")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    return async_playwright


@pytest_asyncio.fixture(scope="module")
async def live_url(api_app):
    """The API app (the fixtures' engine and Temporal client) served by uvicorn on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(api_app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started or task.done(), 5, interval=0.025, what="uvicorn to start")
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


async def test_support_agent_refunds_part_of_a_delivered_order(async_playwright, live_url, api, role_keys,
                                                               temporal_env, engine, tmp_path):
    done, _ = await delivered_order(api, temporal_env, engine, {2000: 1})
    order_id = done["order_id"]
    email = (await api.get(f"/orders/{order_id}")).json()["email"]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            await page.goto(f"{live_url}/console")
            assert "/console/login" in page.url  # not signed in yet
            await page.fill("input[name=api_key]", role_keys["support"])
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url(f"{live_url}/console")

            await page.fill("main input[name=q]", email)
            await page.click("main button:has-text('Find')")
            await page.wait_for_url(re.compile(r".*/console\?q="))
            await page.click(f"a:has-text('{order_id}')")
            await page.wait_for_url(f"{live_url}/console/orders/{order_id}")
            assert "fulfilled" in await page.locator("h1").inner_text()

            refund_form = page.locator("form[action$='/refund']")
            await refund_form.locator("input[name=amount]").fill("7.50")
            await refund_form.locator("input[name=reason]").fill("box arrived <crushed>")
            await refund_form.locator("button").click()
            await page.wait_for_url(re.compile(r".*/console/orders/.*\?ok="))

            flash = await page.locator(".flash").inner_text()
            assert flash == "Refunded 7.50 USD. Order status: partially_refunded."
            assert "partially_refunded" in await page.locator("h1").inner_text()
            refunds = await page.locator("#refunds").inner_text()
            assert "7.50 USD" in refunds and "box arrived <crushed>" in refunds and "succeeded" in refunds
        except Exception:
            await _save_screenshot(page, tmp_path / "console-at-failure.png")
            raise
        finally:
            await browser.close()


async def _save_screenshot(page, path: Path) -> None:
    """Keep a picture of the page for whoever debugs a failure. Capturing is best effort: the
    renderer can refuse mid-navigation, and that must not hide the real failure."""
    try:
        await page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot at failure: {path}")
    except Exception as capture_error:  # noqa: BLE001 - the original failure is what matters
        print(f"\nno screenshot ({capture_error})")
