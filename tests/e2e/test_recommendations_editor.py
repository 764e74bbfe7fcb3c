"""The recommendations editor in a real browser: find a product (htmx search), pin products next to it, reorder
the pins with the keyboard (the ↑ button) and by drag and drop, and watch the live preview follow each change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from ..factories import CategoryFactory, ProductFactory
from ..recommendations.helpers import computed_state, together

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, live_server, owner_client):
    page.context.add_cookies(
        [{"name": "sessionid", "value": owner_client.cookies["sessionid"].value, "url": live_server.url}]
    )
    return page


def preview_skus(page) -> list[str]:
    return page.locator("#preview-items li").evaluate_all("items => items.map(item => item.dataset.sku)")


def test_pin_reorder_and_preview(signed_in, live_server, merchant):
    # Given a catalogue where the learnt suggestion next to the tee is the socks
    tops = CategoryFactory(merchant=merchant, name="Tops")
    products = {
        sku: ProductFactory(merchant=merchant, sku=sku, name=name, category=tops, price=Decimal("10.00"))
        for sku, name in (("TEE", "Linen tee"), ("TOTE", "Canvas tote"), ("MUG", "Stoneware mug"), ("SOCKS", "Socks"))
    }
    computed_state(
        merchant,
        [together(products["TEE"], products["SOCKS"], shared=41, confidence=0.38, lift=6.2, offline=30, online=11)],
    )
    page = signed_in
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # When the owner searches for the tee and opens it
    page.goto(f"{live_server.url}/m/{merchant.slug}/recommendations/")
    page.get_by_label("Product name or SKU").fill("linen")
    page.locator("#search-results a", has_text="Linen tee").click()

    # Then the suggestion shows with its evidence, and the preview shows what a shopper sees online
    expect(page.locator("#suggestions")).to_contain_text(
        "bought together in 41 baskets — 38% of baskets with this product, lift 6.2; 30 in stores, 11 online"
    )
    expect(page.locator("#preview-items li")).to_have_count(1)
    assert preview_skus(page) == ["SOCKS"]

    # When they pin the tote, then the mug
    for sku in ("TOTE", "MUG"):
        page.locator("#rule-form").get_by_label("Product to pin, exclude or block (SKU)").fill(sku)
        page.locator("#rule-form").get_by_role("button", name="Add").click()
        expect(page.locator(".message-success")).to_contain_text(f"{sku} pinned.")

    # Then the pins lead the preview, in their order
    expect(page.locator("#preview-items li")).to_have_count(3)
    assert preview_skus(page) == ["TOTE", "MUG", "SOCKS"]

    # When they move the mug up with the keyboard
    page.get_by_role("button", name="Move MUG up").focus()
    page.keyboard.press("Enter")

    # Then the list and the preview follow
    expect(page.locator("#pins li").first).to_contain_text("MUG")
    expect(page.locator("#preview-items li").first).to_have_attribute("data-sku", "MUG")
    assert preview_skus(page) == ["MUG", "TOTE", "SOCKS"]

    # When they drag the tote back above the mug
    page.locator("#pins li", has_text="TOTE").drag_to(
        page.locator("#pins li", has_text="MUG"), target_position={"x": 5, "y": 2}
    )

    # Then the new order is saved (the page reloads from the server) and previewed
    expect(page.locator("#pins li").first).to_contain_text("TOTE")
    expect(page.locator("#preview-items li").first).to_have_attribute("data-sku", "TOTE")
    assert preview_skus(page) == ["TOTE", "MUG", "SOCKS"]
    assert errors == []
