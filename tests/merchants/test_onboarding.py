import hashlib

import pytest
from django.urls import reverse

from merchants.models import ApiKey, AuditAction, AuditEvent, OnboardingStep

from ..factories import StoreFactory
from .conftest import page_url

pytestmark = pytest.mark.django_db


def step_url(merchant, step):
    return page_url("onboarding-step", merchant, step=step)


def test_onboarding_resumes_at_the_recorded_step(owner_client, merchant):
    for step in (OnboardingStep.PROFILE, OnboardingStep.STORES, OnboardingStep.DATA):
        merchant.onboarding_step = step
        merchant.save()
        assert owner_client.get(page_url("onboarding", merchant)).url == step_url(merchant, step)


def test_finished_onboarding_opens_again_at_the_first_step(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.DONE
    merchant.save()

    assert owner_client.get(page_url("onboarding", merchant)).url == step_url(merchant, OnboardingStep.PROFILE)


def test_profile_step_saves_the_profile_and_moves_to_stores(owner_client, merchant):
    page = owner_client.get(step_url(merchant, "profile"))
    body = page.content.decode()
    assert page.status_code == 200
    assert '<option value="EUR" selected>EUR — Euro</option>' in body
    assert '<option value="Europe/Paris" selected>Europe/Paris</option>' in body
    assert "Intl.DateTimeFormat().resolvedOptions().timeZone" in body  # the browser's zone is offered once

    response = owner_client.post(
        step_url(merchant, "profile"), {"name": "Maison Alpha Paris", "currency": "CHF", "timezone": "Europe/Zurich"}
    )

    merchant.refresh_from_db()
    assert response.url == step_url(merchant, "stores")
    assert (merchant.name, merchant.currency, merchant.timezone, merchant.onboarding_step) == (
        "Maison Alpha Paris",
        "CHF",
        "Europe/Zurich",
        OnboardingStep.STORES,
    )
    event = AuditEvent.objects.get(action=AuditAction.MERCHANT_UPDATED)
    assert event.data == {
        "changed": {
            "name": ["Maison Alpha", "Maison Alpha Paris"],
            "currency": ["EUR", "CHF"],
            "timezone": ["Europe/Paris", "Europe/Zurich"],
        }
    }
    # the time zone is a choice now: no more guessing from the browser
    assert "resolvedOptions" not in owner_client.get(step_url(merchant, "profile")).content.decode()


def test_profile_step_rejects_unknown_currency_and_timezone(owner_client, merchant):
    response = owner_client.post(
        step_url(merchant, "profile"), {"name": "X", "currency": "XXZ", "timezone": "Mars/Base"}
    )

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"currency", "timezone"}
    merchant.refresh_from_db()
    assert merchant.onboarding_step == OnboardingStep.PROFILE


def test_stepper_shows_done_and_current_steps(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.DATA
    merchant.save()

    response = owner_client.get(step_url(merchant, "stores"))

    steps = [(s["label"], s["done"], s["current"], s["url"] is not None) for s in response.context["steps"]]
    assert steps == [
        ("Brand profile", True, False, True),
        ("Stores", True, True, True),
        ("Connect sales data", False, False, True),
        ("Done", False, False, False),
    ]
    assert 'aria-current="step"' in response.content.decode()


def test_stores_step_offers_the_store_form_and_csv_import_and_lists_stores(owner_client, merchant, other_merchant):
    StoreFactory(merchant=merchant, code="P01", name="Paris Marais")
    StoreFactory(merchant=other_merchant, code="X01", name="Other Brand Store")
    merchant.onboarding_step = OnboardingStep.STORES
    merchant.save()

    response = owner_client.get(step_url(merchant, "stores"))

    body = response.content.decode()
    next_query = "?next=/m/alpha/onboarding/stores/"
    assert f'action="{reverse("stores:store-create", kwargs={"merchant_slug": "alpha"})}{next_query}"' in body
    assert '<input type="hidden" name="next" value="/m/alpha/onboarding/stores/">' in body
    assert f'href="{reverse("stores:store-import", kwargs={"merchant_slug": "alpha"})}{next_query}"' in body
    assert "Paris Marais" in body
    assert "Other Brand Store" not in body
    assert 'name="code"' in body  # the stores app's StoreForm is rendered


def test_stores_step_continue_moves_to_data(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.STORES
    merchant.save()

    response = owner_client.post(step_url(merchant, "stores"), {"continue": ""})

    merchant.refresh_from_db()
    assert response.url == step_url(merchant, "data")
    assert merchant.onboarding_step == OnboardingStep.DATA


def test_data_step_says_upload_comes_later_and_creates_a_key_shown_once(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.DATA
    merchant.save()
    page = owner_client.get(step_url(merchant, "data")).content.decode()
    assert (
        "File upload of sales arrives with the sales import; meanwhile create an\n    API key or come back later."
        in page
    )

    response = owner_client.post(
        step_url(merchant, "data"), {"name": "POS sync", "scopes": ["stores:read", "catalog:write"]}
    )

    api_key = ApiKey.objects.get()
    secret = response.context["created"]["secret"]
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert secret in response.content.decode()
    assert (api_key.name, api_key.scopes, api_key.key_hash) == (
        "POS sync",
        ["stores:read", "catalog:write"],
        hashlib.sha256(secret.encode()).hexdigest(),
    )
    # shown once: the next visit of the step lists the key by prefix only
    again = owner_client.get(step_url(merchant, "data")).content.decode()
    assert secret not in again
    assert f"{api_key.prefix}…" in again


def test_finishing_lands_on_home_without_the_nudge(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.DATA
    merchant.save()

    response = owner_client.post(step_url(merchant, "data"), {"finish": ""}, follow=True)

    merchant.refresh_from_db()
    assert merchant.onboarding_step == OnboardingStep.DONE
    assert response.redirect_chain == [(page_url("home", merchant), 302)]
    body = response.content.decode()
    assert "Maison Alpha is set up. Here is what you can do next." in body
    assert "Finish setting up" not in body
    assert "What to do next" in body


def test_going_back_never_moves_progress_backwards(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.DATA
    merchant.save()

    owner_client.post(step_url(merchant, "profile"), {"name": "Alpha", "currency": "EUR", "timezone": "Europe/Paris"})

    merchant.refresh_from_db()
    assert merchant.onboarding_step == OnboardingStep.DATA


def test_unknown_step_is_404(owner_client, merchant):
    assert owner_client.get(step_url(merchant, "payment")).status_code == 404


@pytest.mark.parametrize("fixture", ["analyst_client", "store_manager_client"])
def test_readers_cannot_onboard(request, merchant, fixture):
    client = request.getfixturevalue(fixture)
    assert client.get(page_url("onboarding", merchant)).status_code == 403
    assert client.post(step_url(merchant, "profile"), {"name": "Hijack"}).status_code == 403
    merchant.refresh_from_db()
    assert merchant.name == "Maison Alpha"


def test_the_whole_wizard_after_sign_up(client):
    # A new merchant signs up and walks through every step
    client.post(
        reverse("accounts:signup"),
        {"email": "new@example.com", "password": "correct-horse-battery-staple", "brand_name": "Nouvelle"},
    )
    wizard = client.get(reverse("merchants:onboarding", kwargs={"merchant_slug": "nouvelle"}), follow=True)
    assert wizard.redirect_chain[-1][0] == "/m/nouvelle/onboarding/profile/"
    stores = client.post(
        wizard.redirect_chain[-1][0], {"name": "Nouvelle", "currency": "GBP", "timezone": "Europe/London"}
    )
    assert stores.url == "/m/nouvelle/onboarding/stores/"
    data = client.post(stores.url, {"continue": ""})
    assert data.url == "/m/nouvelle/onboarding/data/"
    home = client.post(data.url, {"finish": ""})
    assert home.url == "/m/nouvelle/"
    assert client.get(home.url).context["onboarding"]["finished"] is True


def test_adding_a_store_from_the_wizard_comes_back_to_it(owner_client, merchant):
    merchant.onboarding_step = OnboardingStep.STORES
    merchant.save()
    here = step_url(merchant, "stores")

    response = owner_client.post(
        f"{reverse('stores:store-create', kwargs={'merchant_slug': 'alpha'})}?next={here}",
        {"next": here, "code": "P01", "name": "Paris Marais", "country": "FR", "timezone": "Europe/Paris"},
        follow=True,
    )

    assert response.redirect_chain == [(here, 302)]
    assert [store.code for store in response.context["stores"]] == ["P01"]
    assert "Paris Marais" in response.content.decode()


def test_stores_step_query_count_does_not_grow_with_stores(owner_client, merchant, django_assert_num_queries):
    merchant.onboarding_step = OnboardingStep.STORES
    merchant.save()
    StoreFactory.create_batch(2, merchant=merchant)
    # session, user, tenant membership, stores, store count, switcher memberships
    with django_assert_num_queries(6):
        owner_client.get(step_url(merchant, "stores"))
    StoreFactory.create_batch(4, merchant=merchant)
    with django_assert_num_queries(6):
        owner_client.get(step_url(merchant, "stores"))
