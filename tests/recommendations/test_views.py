"""The recommendations editor pages: content (pins, exclusions, suggestions with evidence, status, preview,
evaluation), writes (add, accept, reject, move, reorder, delete, import, export, recompute), the role matrix
with store managers limited to their stores, and query counts."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from merchants.models import AuditAction, AuditEvent
from recommendations.models import JobStatus, RecommendationJob, RecommendationRule
from recommendations.rules import rule_create

from ..factories import CategoryFactory, ProductFactory, StoreFactory
from .helpers import computed_state, together, trending

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(merchant):
    tops = CategoryFactory(merchant=merchant, name="Tops")
    return {
        sku: ProductFactory(merchant=merchant, sku=sku, name=f"Name {sku}", category=tops, price=Decimal("10.00"))
        for sku in ("TEE", "TOTE", "SOCKS", "MUG", "CAP")
    }


def url(merchant, name: str, *args) -> str:
    return reverse(f"recommendations:{name}", args=[merchant.slug, *args])


def pins(merchant, sku="TEE", **scope):
    return list(
        RecommendationRule.objects.filter(merchant=merchant, kind="pin", product__sku=sku, **scope)
        .order_by("position")
        .values_list("target__sku", flat=True)
    )


# --- the editor page ------------------------------------------------------------------------------------


def test_editor_shows_pins_exclusions_and_suggestions_with_evidence(
    owner_client, merchant, catalog, django_assert_num_queries
):
    computed_state(
        merchant,
        [
            together(catalog["TEE"], catalog["SOCKS"], shared=41, confidence=0.38, lift=6.2, offline=30, online=11),
            together(catalog["TEE"], catalog["TOTE"], shared=12, confidence=0.11, lift=2.0, offline=2, online=10),
            trending(catalog["MUG"], 0.5),
        ],
    )
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="CAP")
    rule_create(merchant=merchant, actor=None, kind="exclude", product="TEE", target="MUG")
    # session, user, membership, product, state, latest job, rules, their stores, current job id, suggestions,
    # nav memberships, the scope form's stores, the preview's stores: the same 13 with any number of rules
    with django_assert_num_queries(13):
        response = owner_client.get(url(merchant, "editor"), {"product": "TEE"})
    assert response.status_code == 200
    body = response.content.decode()
    context = response.context
    assert [entry["rule"].target.sku for entry in context["pins"]] == ["TOTE", "CAP"]
    assert [rule.target.sku for rule in context["exclusions"]] == ["MUG"]
    assert [(entry["row"].sku, entry["ruled"]) for entry in context["suggestions"]] == [
        ("SOCKS", False),
        ("TOTE", True),
    ]
    assert "bought together in 41 baskets — 38% of baskets with this product, lift 6.2; 30 in stores, 11 online" in body
    assert 'aria-label="Move TOTE up" disabled' in body
    assert 'aria-label="Accept SOCKS as a pin"' in body
    assert "Computed 2 Jun 2024" in body
    assert 'draggable="true"' in body
    assert "Recompute now" in body


def test_editor_without_product_and_with_an_unknown_sku(owner_client, merchant, catalog):
    empty = owner_client.get(url(merchant, "editor"))
    assert empty.status_code == 200
    assert "Not computed yet." in empty.content.decode()
    unknown = owner_client.get(url(merchant, "editor"), {"product": "NOPE"})
    assert "Unknown product SKU NOPE." in unknown.content.decode()


def test_analyst_reads_but_sees_no_edit_controls_and_cannot_write(analyst_client, merchant, catalog):
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")
    response = analyst_client.get(url(merchant, "editor"), {"product": "TEE"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Name TOTE" in body
    assert "Move TOTE up" not in body
    assert "Recompute now" not in body
    posted = analyst_client.post(url(merchant, "editor"), {"product": "TEE", "kind": "pin", "target": "MUG"})
    assert posted.status_code == 403
    assert analyst_client.post(url(merchant, "compute")).status_code == 403
    assert pins(merchant) == ["TOTE"]


def test_category_rules_in_the_editor(owner_client, merchant, catalog, django_assert_num_queries):
    rule_create(merchant=merchant, actor=None, kind="pin", category="Tops", target="MUG")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")  # not a category rule
    with django_assert_num_queries(12):  # as for a product, with the category and the preview's product
        response = owner_client.get(url(merchant, "editor"), {"category": "tops"})
    assert response.status_code == 200
    assert [entry["rule"].target.sku for entry in response.context["pins"]] == ["MUG"]
    assert response.context["preview_product"].sku == "CAP"  # the category's first product by SKU
    assert "Every product of Tops" in response.content.decode()

    added = owner_client.post(
        url(merchant, "editor"), {"category": "Tops", "kind": "exclude", "target": "SOCKS", "back": "category=Tops"}
    )
    assert added.status_code == 302
    rule = RecommendationRule.objects.get(kind="exclude")
    assert (rule.category.name, rule.product, rule.target.sku) == ("Tops", None, "SOCKS")
    unknown = owner_client.post(url(merchant, "editor"), {"category": "Nope", "kind": "pin", "target": "SOCKS"})
    assert unknown.context["rule_form"].non_field_errors() == ["Unknown category Nope."]


# --- adding rules -----------------------------------------------------------------------------------------


def test_add_a_pin_in_a_scope_with_a_window(owner_client, merchant, catalog):
    back = "product=TEE&scope=online"
    response = owner_client.post(
        url(merchant, "editor"),
        {
            "product": "TEE",
            "scope": "online",
            "kind": "pin",
            "target": "MUG",
            "starts_on": "2024-06-01",
            "ends_on": "2024-06-30",
            "back": back,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{url(merchant, 'editor')}?{back}"
    rule = RecommendationRule.objects.get(merchant=merchant)
    assert (rule.kind, rule.channel, rule.target.sku, str(rule.starts_on), str(rule.ends_on)) == (
        "pin",
        "online",
        "MUG",
        "2024-06-01",
        "2024-06-30",
    )
    assert AuditEvent.objects.get(action=AuditAction.RECOMMENDATION_RULE_CREATED).actor == owner_client.user


def test_accept_and_reject_a_suggestion(owner_client, merchant, catalog):
    common = {"product": "TEE", "scope": "all", "back": "product=TEE"}
    assert owner_client.post(url(merchant, "editor"), {**common, "kind": "pin", "target": "SOCKS"}).status_code == 302
    assert owner_client.post(url(merchant, "editor"), {**common, "kind": "exclude", "target": "MUG"}).status_code == 302
    assert list(RecommendationRule.objects.order_by("pk").values_list("kind", "target__sku")) == [
        ("pin", "SOCKS"),
        ("exclude", "MUG"),
    ]


def test_invalid_rules_are_shown_on_the_form(owner_client, merchant, catalog):
    response = owner_client.post(url(merchant, "editor"), {"product": "TEE", "kind": "pin", "target": "TEE"})
    assert response.status_code == 400
    assert response.context["rule_form"].errors == {"target": ["A product cannot be pinned on itself."]}
    window = owner_client.post(
        url(merchant, "editor"),
        {"product": "TEE", "kind": "pin", "target": "MUG", "starts_on": "2024-06-02", "ends_on": "2024-06-01"},
    )
    assert window.context["rule_form"].errors == {
        "ends_on": ["The window ends (2024-06-01) before it starts (2024-06-02)."]
    }
    no_product = owner_client.post(url(merchant, "editor"), {"kind": "pin", "target": "MUG"})
    assert no_product.context["rule_form"].non_field_errors() == ["Choose a product first."]
    assert RecommendationRule.objects.count() == 0


def test_pinning_an_inactive_product_warns(owner_client, merchant, catalog):
    ProductFactory(merchant=merchant, sku="OLD", active=False, price=Decimal(1))
    response = owner_client.post(
        url(merchant, "editor"), {"product": "TEE", "kind": "pin", "target": "OLD"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "OLD pinned.",
        "OLD is inactive: the pin is kept but not shown while the product is inactive.",
    ]


# --- reorder, move, delete --------------------------------------------------------------------------------


def test_move_buttons_reorder_pins(owner_client, merchant, catalog):
    rules = [rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS")]
    response = owner_client.post(url(merchant, "rule-move", rules[1].pk), {"direction": "up", "back": "product=TEE"})
    assert response.status_code == 302
    assert response["Location"] == f"{url(merchant, 'editor')}?product=TEE#pin-{rules[1].pk}"
    assert pins(merchant) == ["SOCKS", "TOTE"]
    owner_client.post(url(merchant, "rule-move", rules[1].pk), {"direction": "up"})  # already first: no change
    assert pins(merchant) == ["SOCKS", "TOTE"]
    owner_client.post(url(merchant, "rule-move", rules[1].pk), {"direction": "down"})
    assert pins(merchant) == ["TOTE", "SOCKS"]


def test_drag_and_drop_reorder_posts_json(owner_client, merchant, catalog):
    rules = [
        rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target=t)
        for t in ("TOTE", "SOCKS", "MUG")
    ]
    order = [rules[2].pk, rules[0].pk, rules[1].pk]
    response = owner_client.post(
        url(merchant, "rule-reorder"), json.dumps({"order": order}), content_type="application/json"
    )
    assert response.status_code == 204
    assert pins(merchant) == ["MUG", "TOTE", "SOCKS"]
    partial = owner_client.post(
        url(merchant, "rule-reorder"), json.dumps({"order": order[:2]}), content_type="application/json"
    )
    assert (partial.status_code, partial.content.decode()) == (
        400,
        "The list of pins changed meanwhile: reload the page and try again.",
    )
    garbage = owner_client.post(url(merchant, "rule-reorder"), "{", content_type="application/json")
    assert garbage.status_code == 400


def test_delete_a_rule(owner_client, merchant, catalog):
    rule = rule_create(merchant=merchant, actor=None, kind="exclude", product="TEE", target="TOTE")
    response = owner_client.post(url(merchant, "rule-delete", rule.pk), {"back": "product=TEE"})
    assert response.status_code == 302
    assert not RecommendationRule.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.RECOMMENDATION_RULE_DELETED).count() == 1


def test_back_cannot_redirect_elsewhere(owner_client, merchant, catalog):
    rule = rule_create(merchant=merchant, actor=None, kind="exclude", product="TEE", target="TOTE")
    response = owner_client.post(url(merchant, "rule-delete", rule.pk), {"back": "https://evil.example/?x=1"})
    assert response["Location"].startswith(url(merchant, "editor") + "?")


# --- store managers ----------------------------------------------------------------------------------------


def test_store_manager_edits_and_sees_only_their_stores_rules(store_manager_client, merchant, catalog):
    other = StoreFactory(merchant=merchant, code="OTHER")
    own = rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE", stores=["MGR1"])
    wide = rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="SOCKS")
    elsewhere = rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="MUG", stores=[other])
    client = store_manager_client

    listing = client.get(url(merchant, "rule-list"))
    assert [entry["rule"].pk for entry in listing.context["rules"]] == [own.pk]
    editor = client.get(url(merchant, "editor"), {"product": "TEE"})
    assert [entry["rule"].pk for entry in editor.context["pins"]] == [own.pk]  # their store is the default scope
    assert editor.context["scope"] == "stores"

    added = client.post(
        url(merchant, "editor"), {"product": "TEE", "scope": "stores", "stores": "MGR1", "kind": "pin", "target": "CAP"}
    )
    assert added.status_code == 302
    assert pins(merchant, store_links__store__code="MGR1") == ["TOTE", "CAP"]
    refused = client.post(url(merchant, "editor"), {"product": "TEE", "scope": "all", "kind": "pin", "target": "CAP"})
    assert refused.status_code == 400  # "all" is not a scope a store manager may choose
    assert refused.context["scope_form"].errors["scope"] == [
        "Select a valid choice. all is not one of the available choices."
    ]
    for rule in (wide, elsewhere):
        assert client.post(url(merchant, "rule-delete", rule.pk)).status_code == 404
    assert client.post(url(merchant, "rule-delete", own.pk)).status_code == 302
    assert client.post(url(merchant, "compute")).status_code == 403
    export = client.get(url(merchant, "rule-export")).content.decode()
    assert "SOCKS" not in export
    assert "MUG" not in export


# --- search, preview, status, evaluation ----------------------------------------------------------------------


def test_product_search(owner_client, merchant, other_merchant, catalog, django_assert_num_queries):
    ProductFactory(merchant=other_merchant, sku="TEE-THEIRS", name="Their tee")
    with django_assert_num_queries(5):  # session, user, membership, categories, products
        response = owner_client.get(url(merchant, "product-search"), {"q": "tee"})
    body = response.content.decode()
    assert "Name TEE" in body
    assert "TEE-THEIRS" not in body
    assert f'href="{url(merchant, "editor")}?product=TEE"' in body
    assert (
        "No product matches “zzz”." in owner_client.get(url(merchant, "product-search"), {"q": "zzz"}).content.decode()
    )


def test_preview_shows_what_a_shopper_sees(owner_client, merchant, catalog, django_assert_num_queries):
    StoreFactory(merchant=merchant, code="PAR", name="Paris")
    computed_state(
        merchant,
        [together(catalog["TEE"], catalog["SOCKS"], shared=41, confidence=0.38, lift=6.2, offline=30, online=11)],
    )
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="CAP", stores=["PAR"])
    online = owner_client.get(url(merchant, "preview"), {"product": "TEE", "channel": "online"})
    assert [entry["item"].sku for entry in online.context["items"]] == ["SOCKS"]
    with django_assert_num_queries(11):  # + the fill lists of the store and in-store (all's: read just above)
        in_store = owner_client.get(url(merchant, "preview"), {"product": "TEE", "channel": "offline", "store": "PAR"})
    assert [(entry["item"].sku, entry["why"]) for entry in in_store.context["items"]] == [
        ("CAP", "pinned by hand"),
        (
            "SOCKS",
            "bought together in 41 baskets — 38% of baskets with this product, lift 6.2; 30 in stores, 11 online",
        ),
    ]
    assert "In store PAR — Paris" in in_store.content.decode()


def test_recompute_starts_a_job_and_the_progress_bar_polls(owner_client, merchant, catalog):
    response = owner_client.post(url(merchant, "compute"), {"back": "product=TEE"})
    assert response.status_code == 302
    job = RecommendationJob.objects.get(merchant=merchant)
    assert job.status == JobStatus.QUEUED
    page = owner_client.get(url(merchant, "editor")).content.decode()
    assert f'hx-get="{url(merchant, "job-progress", job.pk)}" hx-trigger="every 1s"' in page
    assert "Recompute now</button>" in page
    job.status, job.progress_done = JobStatus.RUNNING, 3
    job.save()
    running = owner_client.get(url(merchant, "job-progress", job.pk), HTTP_HX_REQUEST="true")
    assert 'value="33"' in running.content.decode()
    assert "HX-Refresh" not in running
    job.status = JobStatus.SUCCEEDED
    job.save()
    done = owner_client.get(url(merchant, "job-progress", job.pk), HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    assert "every 1s" not in done.content.decode()


def test_evaluation_says_not_enough_data(owner_client, merchant, catalog):
    response = owner_client.get(url(merchant, "evaluation"))
    assert response.status_code == 200
    assert "Not enough data yet" in response.content.decode()


def test_evaluation_shows_the_numbers_beside_popularity(owner_client, merchant, catalog):
    from datetime import date

    from django.core.cache import cache

    from recommendations.evaluate import EvaluationReport, LaterResult, TogetherResult

    # Given a measured report (what ``recommendations_evaluate`` returns, kept for the current computation)
    report = EvaluationReport(
        split_date=date(2024, 4, 1),
        learn_start=date(2023, 4, 3),
        learn_end=date(2024, 3, 31),
        test_end=date(2024, 6, 1),
        learn_baskets=9000,
        test_baskets=2100,
        together=[
            TogetherResult("all", 1500, 0.42, 0.31, 0.12, 0.08),
            TogetherResult("online", 600, 0.40, 0.30, 0.10, 0.07),
            TogetherResult("offline", 150, None, None, None, None),
        ],
        later=LaterResult(320, 0.25, 0.11),
        coverage=0.64,
        catalogue_size=5,
        suggested_products=3,
    )
    cache.set(f"reco:eval:{merchant.pk}:0", report)
    body = owner_client.get(url(merchant, "evaluation")).content.decode()
    rows = [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert rows[1:] == [
        "All baskets 1500 42% 12% 3.5× 0.310",
        "Online 600 40% 10% 4.0× 0.300",
        "In store 150 not enough data (fewer than 200 cases)",
        "Bought later (next order, recall @10) 320 25% 11% 2.3× —",
    ]
    assert "Coverage: 64% of your 5 active products are ever suggested." in body


# --- CSV import and export ------------------------------------------------------------------------------------


def test_import_page_lists_row_errors_and_writes_nothing(owner_client, merchant, catalog):
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = "kind,product,target\npin,TEE,TOTE\npin,TEE,TEE\npin,TEE,NOPE\n"
    upload = SimpleUploadedFile("rules.csv", text.encode(), content_type="text/csv")
    response = owner_client.post(url(merchant, "rule-import"), {"file": upload, "mode": "all-or-nothing"})
    assert response.status_code == 200
    assert [(e.row, e.column, e.reason) for e in response.context["errors_shown"]] == [
        (3, "target", "A product cannot be pinned on itself."),
        (4, "target", "Unknown product SKU NOPE."),
    ]
    assert not RecommendationRule.objects.exists()
    good = SimpleUploadedFile("rules.csv", b"kind,product,target\npin,TEE,TOTE\n", content_type="text/csv")
    done = owner_client.post(url(merchant, "rule-import"), {"file": good, "mode": "all-or-nothing"})
    assert done.status_code == 302
    assert pins(merchant) == ["TOTE"]


def test_export_and_template_downloads(owner_client, merchant, catalog):
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE")
    export = owner_client.get(url(merchant, "rule-export"))
    assert export["Content-Disposition"] == 'attachment; filename="alpha-recommendation-rules.csv"'
    assert export.content.decode().splitlines() == [
        "kind,product,category,target,position,channel,stores,starts_on,ends_on",
        "pin,TEE,,TOTE,1,all,,,",
    ]
    template = owner_client.get(url(merchant, "rule-import-template")).content.decode()
    assert template == "kind,product,category,target,position,channel,stores,starts_on,ends_on\r\n"
    example = owner_client.get(url(merchant, "rule-import-template"), {"example": 1}).content.decode()
    assert example.startswith("kind,product,category,target")


def test_rule_list_query_count(owner_client, merchant, catalog, django_assert_num_queries):
    StoreFactory(merchant=merchant, code="PAR")
    rule_create(merchant=merchant, actor=None, kind="block", target="CAP")
    rule_create(merchant=merchant, actor=None, kind="pin", product="TEE", target="TOTE", stores=["PAR"])
    rule_create(merchant=merchant, actor=None, kind="exclude", category="Tops", target="MUG")
    with django_assert_num_queries(6):  # session, user, membership, rules, their stores, nav memberships
        response = owner_client.get(url(merchant, "rule-list"))
    assert [entry["rule"].target.sku for entry in response.context["rules"]] == ["CAP", "TOTE", "MUG"]
