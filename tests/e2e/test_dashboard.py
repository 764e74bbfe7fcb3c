"""The dashboard in a real browser: Plotly draws every chart from the locally served bundle, a filter change
updates the page and the URL without a full reload, the back button brings the previous filters back, and no
request ever leaves the host (no CDN, no map tiles)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from sales import services as sales_services

from ..analytics.test_dashboard import build_world, euros

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = ("sales-over-time", "channel-mix", "customers", "stores", "map", "hours", "products", "categories")
CHARTS += ("new-returning",)


@pytest.fixture
def signed_in(page, live_server, owner_client):
    """The browser carries the owner's session (logged in by the test client)."""
    page.context.add_cookies(
        [{"name": "sessionid", "value": owner_client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def test_dashboard_draws_charts_filters_without_reload_and_goes_back(signed_in, live_server, merchant, monkeypatch):
    # Given a merchant with sales in May 2024 (rollups built here: no Celery worker in tests)
    monkeypatch.setattr(sales_services, "ROLLUPS_TASK_MODULE", "nr_no_worker_in_e2e.tasks")
    build_world(merchant)
    page = signed_in
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # When the owner opens the dashboard for May
    page.goto(f"{live_server.url}/m/{merchant.slug}/?from=2024-05-01&to=2024-05-31")

    # Then Plotly draws every chart as SVG, the map included
    for key in CHARTS:
        expect(page.locator(f"#chart-{key} svg.main-svg").first).to_be_attached()
    expect(page.locator("#chart-map .geo").first).to_be_attached()
    expect(page.locator("#kpi-net_sales .kpi-value")).to_have_text(euros("60.00"))

    # When they pick "In store" (the page is marked so a full reload would show)
    page.evaluate("window.__notReloaded = true")
    page.get_by_label("Channel", exact=True).select_option("offline")

    # Then the figures and the URL change in place
    expect(page.locator("#kpi-net_sales .kpi-value")).to_have_text(euros("55.00"))
    expect(page).to_have_url(re.compile(r"[?&]channel=offline(&|$)"))
    assert "from=2024-05-01" in page.url
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#chart-sales-over-time svg.main-svg").first).to_be_attached()

    # When they go back, the previous filters and figures come back
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?from=2024-05-01&to=2024-05-31$"))
    expect(page.locator("#kpi-net_sales .kpi-value")).to_have_text(euros("60.00"))
    expect(page.get_by_label("Channel", exact=True)).to_have_value("")
    expect(page.locator("#chart-stores svg.main-svg").first).to_be_attached()

    # And a preset replaces the dates in the form (out-of-band swap) and in the URL
    page.get_by_label("Period", exact=True).select_option("ytd")
    expect(page).to_have_url(re.compile(r"[?&]preset=ytd"))
    assert "from=" not in page.url
    expect(page.get_by_label("From", exact=True)).not_to_have_value("2024-05-01")

    # No request went anywhere but the live server, and none failed (the topojson is served locally)
    assert hosts == {urlsplit(live_server.url).netloc}
    assert failed == []
    assert errors == []  # no JavaScript error on the way
