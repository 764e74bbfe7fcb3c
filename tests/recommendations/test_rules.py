"""recommendations.rules: every validation of the issue, positions, store-manager limits, audit, cache
invalidation, and the CSV import (row/column errors, all-or-nothing) and export."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from merchants.models import AuditAction, AuditEvent
from recommendations.models import RecommendationRule, RuleChannel, RuleKind
from recommendations.rules import (
    MAX_PINS_PER_SCOPE,
    rule_create,
    rule_delete,
    rule_update,
    rule_warnings,
    rules_export_csv,
    rules_import_csv,
    rules_reorder,
)
from recommendations.selectors import cache_version

from ..factories import CategoryFactory, ProductFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def actor():
    return UserFactory(email="editor@alpha.test")


@pytest.fixture
def catalog(merchant):
    tops = CategoryFactory(merchant=merchant, name="Tops")
    return {
        sku: ProductFactory(merchant=merchant, sku=sku, name=f"Product {sku}", category=tops, price=Decimal("10.00"))
        for sku in ("TEE", "TOTE", "SOCKS", "MUG", "CAP")
    }


def create(merchant, actor, **values):
    return rule_create(merchant=merchant, actor=actor, **values)


def messages_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def pin_order(merchant, product_sku: str) -> list[tuple[str, int]]:
    return list(
        RecommendationRule.objects.filter(merchant=merchant, kind=RuleKind.PIN, product__sku=product_sku)
        .order_by("channel", "position")
        .values_list("target__sku", "position")
    )


# --- creation and the validations of the issue ------------------------------------------------------


def test_pin_create_stores_the_rule_audits_and_appends_at_the_end(merchant, actor, catalog):
    first = create(merchant, actor, kind="pin", product="TEE", target="TOTE")
    second = create(merchant, actor, kind="pin", product="TEE", target="SOCKS", starts_on=date(2024, 6, 1))

    assert (first.kind, first.product.sku, first.target.sku, first.channel, first.position) == (
        "pin",
        "TEE",
        "TOTE",
        "all",
        1,
    )
    assert (second.position, second.starts_on, second.ends_on, second.created_by) == (2, date(2024, 6, 1), None, actor)
    event = AuditEvent.objects.filter(merchant=merchant, action=AuditAction.RECOMMENDATION_RULE_CREATED).first()
    assert event.actor == actor
    assert event.target == "pin SOCKS on TEE"
    assert event.data == {
        "kind": "pin",
        "product": "TEE",
        "category": None,
        "target": "SOCKS",
        "position": 2,
        "channel": "all",
        "stores": [],
        "starts_on": "2024-06-01",
        "ends_on": None,
    }


def test_pin_at_a_position_moves_the_others_down(merchant, actor, catalog):
    for target in ("TOTE", "SOCKS", "MUG"):
        create(merchant, actor, kind="pin", product="TEE", target=target)
    create(merchant, actor, kind="pin", product="TEE", target="CAP", position=2)
    assert pin_order(merchant, "TEE") == [("TOTE", 1), ("CAP", 2), ("SOCKS", 3), ("MUG", 4)]


def test_a_product_cannot_be_pinned_or_excluded_on_itself(merchant, actor, catalog):
    with pytest.raises(ValidationError) as pinned:
        create(merchant, actor, kind="pin", product="TEE", target="TEE")
    with pytest.raises(ValidationError) as excluded:
        create(merchant, actor, kind="exclude", product="TEE", target="TEE")
    assert messages_of(pinned) == {"target": ["A product cannot be pinned on itself."]}
    assert messages_of(excluded) == {"target": ["A product cannot be excluded on itself."]}
    assert RecommendationRule.objects.count() == 0


@pytest.mark.parametrize(
    ("first_kind", "second_kind", "message"),
    [
        ("pin", "pin", "TOTE already has a pin rule in this scope (all channels)."),
        ("pin", "exclude", "TOTE already has a pin rule in this scope (all channels)."),
        ("exclude", "pin", "TOTE already has a exclude rule in this scope (all channels)."),
    ],
)
def test_no_duplicates_in_one_scope(merchant, actor, catalog, first_kind, second_kind, message):
    create(merchant, actor, kind=first_kind, product="TEE", target="TOTE")
    with pytest.raises(ValidationError) as excinfo:
        create(merchant, actor, kind=second_kind, product="TEE", target="TOTE")
    assert messages_of(excinfo) == {"target": [message]}


def test_the_same_target_in_other_scopes_is_not_a_duplicate(merchant, actor, catalog):
    paris = StoreFactory(merchant=merchant, code="PAR")
    create(merchant, actor, kind="pin", product="TEE", target="TOTE")
    create(merchant, actor, kind="pin", product="TEE", target="TOTE", channel="online")
    create(merchant, actor, kind="pin", product="TEE", target="TOTE", stores=["par"])
    create(merchant, actor, kind="pin", product="SOCKS", target="TOTE")
    create(merchant, actor, kind="pin", category="tops", target="TOTE")
    create(merchant, actor, kind="block", target="TOTE")
    with pytest.raises(ValidationError) as store_twice:
        create(merchant, actor, kind="exclude", product="TEE", target="TOTE", stores=[paris])
    with pytest.raises(ValidationError) as block_twice:
        create(merchant, actor, kind="block", target="TOTE")
    assert messages_of(store_twice) == {"target": ["TOTE already has a pin rule in this scope (one chosen store)."]}
    assert messages_of(block_twice) == {"target": ["TOTE already has a block rule in this scope (all channels)."]}
    assert RecommendationRule.objects.count() == 6


def test_at_most_fifty_pins_per_scope(merchant, actor, catalog):
    targets = [ProductFactory(merchant=merchant, sku=f"P{n:02d}", price=Decimal(1)) for n in range(51)]
    RecommendationRule.objects.bulk_create(
        RecommendationRule(
            merchant=merchant, kind="pin", product=catalog["TEE"], target=target, position=n + 1, channel="all"
        )
        for n, target in enumerate(targets[:MAX_PINS_PER_SCOPE])
    )
    with pytest.raises(ValidationError) as excinfo:
        create(merchant, actor, kind="pin", product="TEE", target="P50")
    assert messages_of(excinfo) == {"target": ["This scope (all channels) already has 50 pins, the most allowed."]}
    # exclusions and other scopes are not limited by the pins of this one
    create(merchant, actor, kind="exclude", product="TEE", target="P50")
    create(merchant, actor, kind="pin", product="TEE", target="P50", channel="online")


def test_a_window_that_ends_before_it_starts_is_refused(merchant, actor, catalog):
    with pytest.raises(ValidationError) as excinfo:
        create(
            merchant,
            actor,
            kind="pin",
            product="TEE",
            target="TOTE",
            starts_on=date(2024, 6, 2),
            ends_on=date(2024, 6, 1),
        )
    assert messages_of(excinfo) == {"ends_on": ["The window ends (2024-06-01) before it starts (2024-06-02)."]}
    one_day = create(
        merchant, actor, kind="pin", product="TEE", target="TOTE", starts_on=date(2024, 6, 1), ends_on=date(2024, 6, 1)
    )
    assert (one_day.starts_on, one_day.ends_on) == (date(2024, 6, 1), date(2024, 6, 1))


def test_another_merchants_or_unknown_products_are_unknown(merchant, other_merchant, actor, catalog):
    ProductFactory(merchant=other_merchant, sku="THEIRS")
    CategoryFactory(merchant=other_merchant, name="Their category")
    StoreFactory(merchant=other_merchant, code="THEIR-STORE")
    cases = [
        ({"product": "TEE", "target": "THEIRS"}, {"target": ["Unknown product SKU THEIRS."]}),
        ({"product": "TEE", "target": "NOPE"}, {"target": ["Unknown product SKU NOPE."]}),
        ({"product": "THEIRS", "target": "TOTE"}, {"product": ["Unknown product SKU THEIRS."]}),
        ({"category": "Their category", "target": "TOTE"}, {"category": ["Unknown category Their category."]}),
        (
            {"product": "TEE", "target": "TOTE", "stores": ["THEIR-STORE", "NOWHERE"]},
            {"stores": ["Unknown store code(s): THEIR-STORE, NOWHERE."]},
        ),
        ({"product": "TEE", "target": other_merchant_product(other_merchant)}, {"target": ["Unknown product."]}),
    ]
    for values, expected in cases:
        with pytest.raises(ValidationError) as excinfo:
            create(merchant, actor, kind="pin", **values)
        assert messages_of(excinfo) == expected, values
    assert RecommendationRule.objects.count() == 0


def other_merchant_product(other_merchant):
    return ProductFactory(merchant=other_merchant, sku="THEIRS-OBJ")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"kind": "pin", "target": "TOTE"},
            {"product": ["A pin rule needs the product (SKU) or the category it applies to."]},
        ),
        (
            {"kind": "pin", "product": "TEE", "category": "Tops", "target": "TOTE"},
            {"category": ["Give a product or a category, not both."]},
        ),
        (
            {"kind": "block", "product": "TEE", "target": "TOTE"},
            {"product": ["A block applies to every product: give only its target, no product or category."]},
        ),
        ({"kind": "hide", "product": "TEE", "target": "TOTE"}, {"kind": ["Choose one of: pin, exclude, block."]}),
        (
            {"kind": "pin", "product": "TEE", "target": "TOTE", "channel": "mail"},
            {"channel": ["Choose one of: all, online, offline."]},
        ),
        (
            {"kind": "exclude", "product": "TEE", "target": "TOTE", "position": 2},
            {"position": ["Only pins have a position."]},
        ),
        ({"kind": "pin", "product": "TEE", "target": ""}, {"target": ["Give a product SKU."]}),
        (
            {"kind": "pin", "product": "TEE", "target": "TOTE", "channel": "online", "stores": ["PAR"]},
            {"channel": ["A rule for chosen stores applies in those stores: use channel all or offline."]},
        ),
    ],
    ids=[
        "no-subject",
        "both-subjects",
        "block-with-product",
        "bad-kind",
        "bad-channel",
        "exclusion-position",
        "no-target",
        "online-stores",
    ],
)
def test_shape_errors_name_the_field(merchant, actor, catalog, values, expected):
    StoreFactory(merchant=merchant, code="PAR")
    with pytest.raises(ValidationError) as excinfo:
        create(merchant, actor, **values)
    assert messages_of(excinfo) == expected


def test_inactive_or_placeholder_pins_are_allowed_with_a_warning(merchant, actor, catalog):
    ProductFactory(merchant=merchant, sku="OLD", active=False, price=Decimal(5))
    ProductFactory(merchant=merchant, sku="GHOST", is_placeholder=True, price=None)
    inactive = create(merchant, actor, kind="pin", product="TEE", target="OLD")
    placeholder = create(merchant, actor, kind="pin", product="TEE", target="GHOST")
    plain = create(merchant, actor, kind="pin", product="TEE", target="TOTE")
    assert rule_warnings(inactive) == ["OLD is inactive: the pin is kept but not shown while the product is inactive."]
    assert rule_warnings(placeholder) == [
        "GHOST is a placeholder product created from an unknown SKU in sales data: it is not shown until someone "
        "completes it in the catalogue.",
        "GHOST has no price: the pin is kept but not shown until it has one.",
    ]
    assert rule_warnings(plain) == []


def test_category_rules_and_blocks(merchant, actor, catalog):
    category_pin = create(merchant, actor, kind="pin", category="TOPS", target="MUG")
    block = create(merchant, actor, kind="block", target="CAP")
    assert (category_pin.category.name, category_pin.product, category_pin.position) == ("Tops", None, 1)
    assert (block.product, block.category, block.position, block.kind) == (None, None, 0, RuleKind.BLOCK)


def test_store_scoped_rules_keep_their_stores(merchant, actor, catalog):
    StoreFactory(merchant=merchant, code="PAR")
    StoreFactory(merchant=merchant, code="LYO")
    rule = create(merchant, actor, kind="pin", product="TEE", target="TOTE", stores=["lyo", "PAR", "PAR"])
    assert sorted(rule.stores.values_list("code", flat=True)) == ["LYO", "PAR"]
    assert sorted(rule.store_links.values_list("merchant_id", flat=True)) == [merchant.pk, merchant.pk]


# --- update, delete, reorder ------------------------------------------------------------------------


def test_update_moves_a_pin_and_checks_like_create(merchant, actor, catalog):
    rules = [create(merchant, actor, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS", "MUG")]
    rule_update(merchant=merchant, rule=rules[2], actor=actor, position=1)
    assert pin_order(merchant, "TEE") == [("MUG", 1), ("TOTE", 2), ("SOCKS", 3)]
    with pytest.raises(ValidationError) as excinfo:
        rule_update(merchant=merchant, rule=rules[0], actor=actor, target="SOCKS")
    assert messages_of(excinfo) == {"target": ["SOCKS already has a pin rule in this scope (all channels)."]}
    with pytest.raises(ValidationError) as window:
        rule_update(merchant=merchant, rule=rules[0], actor=actor, starts_on=date(2024, 7, 2), ends_on=date(2024, 7, 1))
    assert list(window.value.message_dict) == ["ends_on"]
    moved = rule_update(merchant=merchant, rule=rules[0], actor=actor, channel="online")
    assert (moved.channel, moved.position) == ("online", 1)
    assert pin_order(merchant, "TEE") == [("MUG", 1), ("SOCKS", 2), ("TOTE", 1)]  # all: MUG, SOCKS; online: TOTE
    event = AuditEvent.objects.filter(action=AuditAction.RECOMMENDATION_RULE_UPDATED).order_by("-pk").first()
    assert (event.target, event.data["changed"], event.data["channel"]) == ("pin TOTE on TEE", ["channel"], "online")


def test_update_of_a_pin_into_an_exclusion_renumbers_the_pins(merchant, actor, catalog):
    rules = [create(merchant, actor, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS", "MUG")]
    changed = rule_update(merchant=merchant, rule=rules[0], actor=actor, kind="exclude")
    assert (changed.kind, changed.position) == ("exclude", 0)
    assert pin_order(merchant, "TEE") == [("SOCKS", 1), ("MUG", 2)]


def test_delete_renumbers_and_audits(merchant, actor, catalog):
    rules = [create(merchant, actor, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS", "MUG")]
    rule_delete(merchant=merchant, rule=rules[0], actor=actor)
    assert pin_order(merchant, "TEE") == [("SOCKS", 1), ("MUG", 2)]
    event = AuditEvent.objects.get(action=AuditAction.RECOMMENDATION_RULE_DELETED)
    assert (event.target, event.data["position"]) == ("pin TOTE on TEE", 1)


def test_reorder_sets_the_order_of_one_scope(merchant, actor, catalog):
    rules = [create(merchant, actor, kind="pin", product="TEE", target=t) for t in ("TOTE", "SOCKS", "MUG")]
    rules_reorder(merchant=merchant, rule_ids=[rules[2].pk, rules[0].pk, rules[1].pk], actor=actor)
    assert pin_order(merchant, "TEE") == [("MUG", 1), ("TOTE", 2), ("SOCKS", 3)]
    with pytest.raises(ValidationError) as partial:
        rules_reorder(merchant=merchant, rule_ids=[rules[0].pk, rules[1].pk], actor=actor)
    assert partial.value.message_dict == {
        "order": ["The list of pins changed meanwhile: reload the page and try again."]
    }


def test_another_merchants_rule_cannot_be_changed(merchant, other_merchant, actor, catalog):
    theirs = ProductFactory(merchant=other_merchant, sku="A")
    target = ProductFactory(merchant=other_merchant, sku="B")
    rule = rule_create(merchant=other_merchant, actor=None, kind="pin", product=theirs, target=target)
    with pytest.raises(PermissionDenied):
        rule_update(merchant=merchant, rule=rule, actor=actor, position=1)
    with pytest.raises(PermissionDenied):
        rule_delete(merchant=merchant, rule=rule, actor=actor)
    with pytest.raises(ValidationError):
        rules_reorder(merchant=merchant, rule_ids=[rule.pk], actor=actor)
    assert RecommendationRule.objects.filter(pk=rule.pk).exists()


def test_store_managers_only_touch_rules_of_their_stores(merchant, actor, catalog):
    mine = StoreFactory(merchant=merchant, code="MINE")
    StoreFactory(merchant=merchant, code="OTHER")
    allowed = frozenset({mine.pk})
    own = rule_create(
        merchant=merchant,
        actor=actor,
        allowed_store_ids=allowed,
        kind="pin",
        product="TEE",
        target="TOTE",
        stores=["MINE"],
    )
    for values in ({"stores": []}, {"stores": ["MINE", "OTHER"]}, {"channel": "online"}):
        with pytest.raises(PermissionDenied):
            rule_create(
                merchant=merchant,
                actor=actor,
                allowed_store_ids=allowed,
                kind="pin",
                product="TEE",
                target="MUG",
                **values,
            )
    wide = create(merchant, actor, kind="pin", product="TEE", target="SOCKS")
    with pytest.raises(PermissionDenied):
        rule_update(merchant=merchant, rule=wide, actor=actor, allowed_store_ids=allowed, stores=["MINE"])
    with pytest.raises(PermissionDenied):
        rule_update(merchant=merchant, rule=own, actor=actor, allowed_store_ids=allowed, stores=["OTHER"])
    with pytest.raises(PermissionDenied):
        rule_delete(merchant=merchant, rule=wide, actor=actor, allowed_store_ids=allowed)
    rule_delete(merchant=merchant, rule=own, actor=actor, allowed_store_ids=allowed)
    assert list(RecommendationRule.objects.values_list("target__sku", flat=True)) == ["SOCKS"]


def test_every_change_bumps_the_cache_version_once_committed(
    merchant, actor, catalog, django_capture_on_commit_callbacks
):
    versions = [cache_version(merchant.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        rule = create(merchant, actor, kind="pin", product="TEE", target="TOTE")
    versions.append(cache_version(merchant.pk))
    with django_capture_on_commit_callbacks(execute=True):
        rule_update(merchant=merchant, rule=rule, actor=actor, ends_on=date(2030, 1, 1))
    versions.append(cache_version(merchant.pk))
    with django_capture_on_commit_callbacks(execute=True):
        rule_delete(merchant=merchant, rule=rule, actor=actor)
    versions.append(cache_version(merchant.pk))
    assert versions == sorted(set(versions)), versions  # strictly increasing: each change made the cache stale


# --- CSV import and export ---------------------------------------------------------------------------

HEADER = "kind,product,category,target,position,channel,stores,starts_on,ends_on\n"


def import_csv(merchant, actor, text: str, **kwargs):
    return rules_import_csv(merchant=merchant, file=text.encode(), actor=actor, **kwargs)


def test_import_creates_rules_and_a_second_import_changes_nothing(merchant, actor, catalog):
    StoreFactory(merchant=merchant, code="PAR")
    StoreFactory(merchant=merchant, code="LYO")
    text = (
        HEADER
        + "pin,TEE,,TOTE,1,all,,,\n"
        + "pin,TEE,,SOCKS,2,online,,2024-06-01,2024-06-30\n"
        + "exclude,,Tops,CAP,,all,,,\n"
        + "pin,TEE,,MUG,,,PAR LYO,,\n"
        + "block,,,CAP,,all,,,\n"
    )
    result = import_csv(merchant, actor, text)
    assert (result.applied, result.created, result.updated, result.unchanged, result.errors) == (True, 5, 0, 0, [])
    again = import_csv(merchant, actor, text)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    assert RecommendationRule.objects.filter(merchant=merchant).count() == 5
    event = AuditEvent.objects.filter(action=AuditAction.RECOMMENDATION_RULES_IMPORTED).order_by("pk").first()
    assert (event.data["created"], event.data["source"]) == (5, "csv")


def test_import_errors_name_row_and_column_and_nothing_is_written(merchant, actor, catalog):
    create(merchant, actor, kind="pin", product="TEE", target="TOTE")
    text = (
        HEADER
        + "pin,TEE,,SOCKS,1,all,,,\n"  # row 2: fine
        + "pin,TEE,,TEE,,all,,,\n"  # row 3: itself
        + "pin,TEE,,NOPE,,all,,,\n"  # row 4: unknown SKU
        + "pin,TEE,,MUG,,all,,2024-06-02,2024-06-01\n"  # row 5: window
        + "exclude,TEE,,SOCKS,,all,,,\n"  # row 6: SOCKS already in this scope (row 2)
        + "pin,TEE,,CAP,0,everywhere,,,\n"  # row 7: position and channel
        + "pin,TEE,,MUG,,all,NOWHERE,,\n"  # row 8: unknown store
    )
    result = import_csv(merchant, actor, text)
    assert result.applied is False
    assert [(e.row, e.column, e.value, e.reason) for e in result.errors] == [
        (3, "target", "TEE", "A product cannot be pinned on itself."),
        (4, "target", "NOPE", "Unknown product SKU NOPE."),
        (5, "ends_on", "2024-06-01", "The window ends (2024-06-01) before it starts (2024-06-02)."),
        (6, "target", "SOCKS", "SOCKS appears twice in this scope (all channels)."),
        (7, "position", "0", "The position starts at 1."),
        (7, "channel", "everywhere", "Unknown channel; use one of: all, online, offline."),
        (8, "stores", "NOWHERE", "Unknown store code(s): NOWHERE."),
    ]
    assert pin_order(merchant, "TEE") == [("TOTE", 1)]  # all or nothing: row 2 was not written either
    assert not AuditEvent.objects.filter(action=AuditAction.RECOMMENDATION_RULES_IMPORTED).exists()


def test_import_places_new_pins_of_one_scope_among_each_other(merchant, actor, catalog):
    create(merchant, actor, kind="pin", product="TEE", target="CAP")
    text = HEADER + "pin,TEE,,TOTE,,all,,,\n" + "pin,TEE,,SOCKS,1,all,,,\n" + "pin,TEE,,MUG,3,all,,,\n"
    result = import_csv(merchant, actor, text)
    assert (result.errors, result.created) == ([], 3)
    assert pin_order(merchant, "TEE") == [("SOCKS", 1), ("CAP", 2), ("MUG", 3), ("TOTE", 4)]


def test_import_is_set_based(merchant, actor, catalog):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    targets = [ProductFactory(merchant=merchant, sku=f"T{n:02d}", price=Decimal(1)) for n in range(40)]
    StoreFactory(merchant=merchant, code="PAR")

    def queries_for(count: int, subject: str) -> int:
        rows = "".join(f"pin,{subject},,{t.sku},,all,PAR,,\n" for t in targets[:count])
        with CaptureQueriesContext(connection) as captured:
            result = import_csv(merchant, actor, HEADER + rows)
        assert (result.errors, result.created) == ([], count)
        return len(captured)

    assert queries_for(5, "TEE") == queries_for(40, "SOCKS")  # the same few queries for 5 rows or 40


def test_import_skip_invalid_writes_the_good_rows(merchant, actor, catalog):
    text = HEADER + "pin,TEE,,SOCKS,,all,,,\n" + "pin,TEE,,NOPE,,all,,,\n"
    result = import_csv(merchant, actor, text, mode="skip-invalid")
    assert (result.applied, result.created, result.invalid_rows) == (True, 1, 1)
    assert pin_order(merchant, "TEE") == [("SOCKS", 1)]


def test_import_counts_existing_pins_against_the_limit(merchant, actor, catalog):
    targets = [ProductFactory(merchant=merchant, sku=f"P{n:02d}", price=Decimal(1)) for n in range(50)]
    RecommendationRule.objects.bulk_create(
        RecommendationRule(merchant=merchant, kind="pin", product=catalog["TEE"], target=t, position=n + 1)
        for n, t in enumerate(targets[:49])
    )
    result = import_csv(merchant, actor, HEADER + "pin,TEE,,P49,,all,,,\npin,TEE,,MUG,,all,,,\n")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (3, "target", "This scope (all channels) already has 50 pins, the most allowed.")
    ]


def test_import_header_errors_are_reported_as_a_file_error(merchant, actor, catalog):
    result = import_csv(merchant, actor, "kind,product,colour\npin,TEE,red\n")
    assert result.applied is False
    assert [(e.row, e.column) for e in result.errors] == [(1, "")]
    assert "missing required column(s): target" in result.errors[0].reason
    assert "unknown column(s): colour" in result.errors[0].reason


def test_export_round_trips_and_neutralises_formulas(merchant, actor, catalog):
    StoreFactory(merchant=merchant, code="PAR")
    ProductFactory(merchant=merchant, sku="=CMD", price=Decimal(1))
    create(merchant, actor, kind="pin", product="TEE", target="TOTE", ends_on=date(2024, 12, 31))
    create(merchant, actor, kind="exclude", category="Tops", target="=CMD", stores=["PAR"])
    create(merchant, actor, kind="block", target="CAP", channel=RuleChannel.ONLINE)
    rules = (
        RecommendationRule.objects.filter(merchant=merchant)
        .select_related("product", "category", "target")
        .prefetch_related("stores")
        .order_by("pk")
    )
    text = rules_export_csv(rules)
    assert text.splitlines() == [
        "kind,product,category,target,position,channel,stores,starts_on,ends_on",
        "pin,TEE,,TOTE,1,all,,,2024-12-31",
        "exclude,,Tops,'=CMD,,all,PAR,,",
        "block,,,CAP,,online,,,",
    ]
    # what we export re-imports as "unchanged" (the formula guard aside, which a spreadsheet strips)
    result = import_csv(merchant, actor, text.replace("'=CMD", "=CMD"))
    assert (result.errors, result.unchanged, result.created) == ([], 3, 0)
