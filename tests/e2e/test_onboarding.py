"""A new merchant signs up in a real browser, goes through onboarding, adds a store and sees it listed."""

import re

import pytest
from playwright.sync_api import expect

from merchants.models import ApiKey, Merchant
from stores.models import Store

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_up_onboard_add_store_and_see_it_listed(live_server, page):
    # Given a visitor on the sign-up page
    page.goto(f"{live_server.url}/accounts/signup/")

    # When they sign up with a brand
    page.get_by_label("E-mail address").fill("founder@lumiere.test")
    page.get_by_label("Password").fill("a-long-and-unusual-passphrase")
    page.get_by_label("Brand name").fill("Lumière Paris")
    page.get_by_role("button", name="Create account").click()

    # Then the wizard opens on the brand profile step, which they save
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("profile|set up|welcome", re.I))
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save and continue").click()

    # When they add their first store by form on the stores step
    page.get_by_label("Code:", exact=True).fill("par-01")
    page.get_by_label("Name:", exact=True).fill("Lumière Marais")
    page.get_by_label("City").fill("Paris")
    page.get_by_label("Country").select_option("FR")
    page.get_by_role("button", name="Add the store").click()

    # Then they are back on the stores step with the store listed, and continue to the data step
    expect(page.locator("main")).to_contain_text("Lumière Marais")
    page.get_by_role("button", name="Continue").click()

    # The data step creates an API key, shown once
    page.get_by_label("Name", exact=False).first.fill("Till integration")
    page.get_by_role("button", name="Create the key").click()
    secret = page.locator(".secret").first
    expect(secret).to_contain_text("nr_")
    shown_secret = re.search(r"nr_\S+", secret.inner_text()).group(0)
    page.get_by_role("button", name=re.compile("finish", re.I)).click()

    # Then the merchant home greets them, and the stores page lists the store
    merchant = Merchant.objects.get(name="Lumière Paris")
    assert merchant.onboarding_step == "done"
    expect(page).to_have_url(re.compile(rf"/m/{merchant.slug}/$"))
    page.get_by_role("link", name="Stores").first.click()
    expect(page.get_by_role("table")).to_contain_text("Lumière Marais")
    expect(page.get_by_role("table")).to_contain_text("PAR-01")

    store = Store.objects.get(merchant=merchant)
    assert (store.code, store.city, store.country.code, store.timezone) == ("PAR-01", "Paris", "FR", "Europe/Paris")
    api_key = ApiKey.objects.get(merchant=merchant)
    assert api_key.name == "Till integration"
    assert shown_secret.startswith(api_key.prefix)
    assert api_key.key_hash != shown_secret  # only the hash is stored
