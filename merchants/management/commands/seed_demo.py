"""``manage.py seed_demo [--reset]``: the demo merchant that ``make run`` loads.

"Maison Demo" (slug ``demo``, EUR, Europe/Paris): a fashion-and-home brand with 20 stores in eight cities
(two in London and one in Lisbon, so not every store shares the merchant's time zone; one store closed),
500 products in 12 categories, and four demo logins that share one password (``DEMO_PASSWORD``):

    demo@newretail.local      owner
    analyst@newretail.local   analyst (read-only)
    manager@newretail.local   store manager of PAR-01 and PAR-02
    staff@newretail.local     NewRetail staff (Django admin at /admin/)

Idempotent: every run converges on the same data and a second run writes nothing (stores and products are
compared with what is there and only the differences go through the services). Deterministic: the catalogue
comes from a seeded random generator. ``--reset`` deletes the demo merchant (and everything it owns) and
creates it again, and resets the demo users' passwords.

Sales (``sales.demo``): two years of orders up to yesterday, online and in stores, with shoppers in both
channels, planted co-purchases and refunds, about ``--lines`` order lines (default 300,000) sent through
``sales.ingest.service.orders_ingest`` in batches of 2,000 (the same rules as every import). The generator is
deterministic with stable external ids (source ``demo``); a run that finds about that many demo lines already
there skips the sales. ``--no-sales`` loads stores and products only.

The passwords are public, so the command refuses to run with ``DJANGO_DEBUG=false`` unless given ``--force``.
"""

# ruff: noqa: E501  (the store and category tables read best one row per line)

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from catalog.models import Category, Product
from catalog.services import products_upsert
from merchants.models import Membership, Merchant, OnboardingStep, Role
from merchants.services import merchant_advance_onboarding, merchant_create
from sales.demo import (
    DEFAULT_LINES,
    DemoSalesResult,
    demo_lines_count,
    demo_sales_load,
    demo_sales_stats,
    merchant_sales_delete,
)
from stores.models import Store, StoreStatus
from stores.services import store_close, store_create, store_update

User = get_user_model()

DEMO_SLUG = "demo"
DEMO_NAME = "Maison Demo"
DEMO_CURRENCY = "EUR"
DEMO_TIMEZONE = "Europe/Paris"
DEMO_PASSWORD = "newretail-demo"  # noqa: S105  (published on purpose: demo data only)
SEED = 20240601
SQLITE_DEFAULT_LINES = 30_000  # `make run`'s zero-setup SQLite: ~900 lines/s through the portable ingest path

OWNER_EMAIL = "demo@newretail.local"
ANALYST_EMAIL = "analyst@newretail.local"
MANAGER_EMAIL = "manager@newretail.local"
STAFF_EMAIL = "staff@newretail.local"
MANAGER_STORES = ("PAR-01", "PAR-02")

# --- stores ---------------------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hours(weekdays: str | None = None, sunday: str | None = None, **days: str) -> dict[str, list[str]]:
    """Opening hours in the model's shape: every weekday present, ``[]`` when closed.

    ``weekdays`` applies Monday–Saturday; ``sunday`` and per-day keywords override (";" separates intervals).
    """
    hours = {day: (weekdays.split(";") if weekdays else []) for day in WEEKDAYS[:6]}
    hours["sun"] = sunday.split(";") if sunday else []
    hours.update({day: value.split(";") if value else [] for day, value in days.items()})
    return hours


HIGH_STREET_FR = _hours("10:00-19:30")
MALL_FR = _hours("10:00-20:30", sunday="11:00-19:00")
MARAIS = _hours("10:30-19:30", sunday="11:00-19:00")
SMALL_TOWN_FR = _hours("10:00-12:30;14:00-19:00", mon="")
LONDON = _hours("10:00-20:00", sunday="12:00-18:00")
LISBON = _hours("10:00-20:00", sunday="10:00-20:00")

_FR = {"country": "FR", "timezone": "Europe/Paris"}
_IDF = {**_FR, "region": "Île-de-France"}
_ARA = {**_FR, "region": "Auvergne-Rhône-Alpes", "city": "Lyon"}
_PACA = {**_FR, "region": "Provence-Alpes-Côte d'Azur", "city": "Marseille"}
_NAQ = {**_FR, "region": "Nouvelle-Aquitaine", "city": "Bordeaux"}
_HDF = {**_FR, "region": "Hauts-de-France", "city": "Lille"}
_UK = {"country": "GB", "timezone": "Europe/London", "region": "England", "city": "London"}

# code, name, address line 1, postal code, latitude, longitude, opened on, opening hours, location fields
_STORE_ROWS = [
    ("PAR-01", "Paris Marais", "12 Rue des Francs-Bourgeois", "75003", "48.857480", "2.361390", "2015-03-14", MARAIS, {**_IDF, "city": "Paris"}),
    ("PAR-02", "Paris Saint-Germain", "45 Rue de Rennes", "75006", "48.850160", "2.329070", "2016-09-01", HIGH_STREET_FR, {**_IDF, "city": "Paris"}),
    ("PAR-03", "Paris Opéra", "28 Boulevard Haussmann", "75009", "48.873280", "2.332770", "2017-04-20", HIGH_STREET_FR, {**_IDF, "city": "Paris"}),
    ("PAR-04", "Paris Bastille", "5 Rue de la Roquette", "75011", "48.853890", "2.371180", "2018-11-10", HIGH_STREET_FR, {**_IDF, "city": "Paris"}),
    ("PAR-05", "Paris Montmartre", "32 Rue des Abbesses", "75018", "48.884470", "2.336790", "2019-05-18", MARAIS, {**_IDF, "city": "Paris"}),
    ("PAR-06", "La Défense Les Quatre Temps", "15 Parvis de La Défense", "92800", "48.891590", "2.238280", "2020-02-03", MALL_FR, {**_IDF, "city": "Puteaux"}),
    ("LYS-01", "Lyon Presqu'île", "58 Rue de la République", "69002", "45.762790", "4.835690", "2016-03-05", HIGH_STREET_FR, _ARA),
    ("LYS-02", "Lyon Part-Dieu", "17 Rue du Docteur Bouchut", "69003", "45.761020", "4.855580", "2018-06-12", MALL_FR, _ARA),
    ("LYS-03", "Lyon Croix-Rousse", "4 Boulevard de la Croix-Rousse", "69004", "45.774180", "4.831920", "2021-09-25", SMALL_TOWN_FR, _ARA),
    ("MRS-01", "Marseille Vieux-Port", "31 La Canebière", "13001", "43.296980", "5.378560", "2017-05-06", HIGH_STREET_FR, _PACA),
    ("MRS-02", "Marseille Prado", "120 Avenue du Prado", "13008", "43.276410", "5.388120", "2022-03-19", HIGH_STREET_FR, _PACA),
    ("BOD-01", "Bordeaux Sainte-Catherine", "98 Rue Sainte-Catherine", "33000", "44.838790", "-0.574170", "2016-10-15", HIGH_STREET_FR, _NAQ),
    ("BOD-02", "Bordeaux Chartrons", "40 Rue Notre-Dame", "33000", "44.853580", "-0.570310", "2020-06-06", SMALL_TOWN_FR, _NAQ),
    ("LIL-01", "Lille Vieux-Lille", "21 Rue de la Grande Chaussée", "59800", "50.638310", "3.063290", "2018-04-14", HIGH_STREET_FR, _HDF),
    ("LIL-02", "Lille Euralille", "100 Centre Commercial Euralille", "59777", "50.637290", "3.075410", "2019-02-02", MALL_FR, _HDF),
    ("NTE-01", "Nantes Graslin", "3 Rue Crébillon", "44000", "47.213370", "-1.561190", "2019-09-21", SMALL_TOWN_FR, {**_FR, "region": "Pays de la Loire", "city": "Nantes"}),
    ("TLS-01", "Toulouse Capitole", "45 Rue d'Alsace-Lorraine", "31000", "43.604480", "1.445060", "2021-04-03", HIGH_STREET_FR, {**_FR, "region": "Occitanie", "city": "Toulouse"}),
    ("LON-01", "London Marylebone", "64 Marylebone High Street", "W1U 5JF", "51.519690", "-0.151020", "2019-10-05", LONDON, _UK),
    ("LON-02", "London Covent Garden", "23 Floral Street", "WC2E 9DS", "51.512300", "-0.124910", "2022-11-12", LONDON, _UK),
    ("LIS-01", "Lisboa Chiado", "Rua Garrett 50", "1200-204", "38.710790", "-9.141880", "2023-05-27", LISBON, {"country": "PT", "timezone": "Europe/Lisbon", "region": "Lisboa", "city": "Lisboa"}),
]  # fmt: skip
CLOSED_STORES = {"LIL-02": date(2024, 6, 30)}  # the mall lease ended


def demo_stores() -> list[dict]:
    """The demo stores as the fields ``store_create`` takes (status aside: closing goes through ``store_close``)."""
    return [
        {
            "code": code,
            "name": name,
            "address_line1": address,
            "address_line2": "",
            "postal_code": postal_code,
            "latitude": Decimal(latitude),
            "longitude": Decimal(longitude),
            "opened_on": date.fromisoformat(opened_on),
            "opening_hours": hours,
            **location,
        }
        for code, name, address, postal_code, latitude, longitude, opened_on, hours, location in _STORE_ROWS
    ]


# --- catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategorySpec:
    name: str
    sku_prefix: str
    count: int
    price_range: tuple[int, int]
    nouns: tuple[str, ...]
    materials: tuple[str, ...]
    variants: tuple[str, ...] = ()  # colours unless given


CATEGORIES = (
    CategorySpec("Dresses", "DRS", 50, (49, 189), ("midi dress", "wrap dress", "shirt dress", "slip dress", "maxi dress", "smock dress"), ("linen", "cotton poplin", "silk", "viscose", "crêpe", "broderie")),
    CategorySpec("Tops & shirts", "TOP", 55, (19, 89), ("oxford shirt", "blouse", "t-shirt", "tank top", "polo", "overshirt"), ("organic cotton", "linen", "silk", "jersey", "chambray", "voile")),
    CategorySpec("Knitwear", "KNT", 45, (59, 179), ("crew-neck jumper", "cardigan", "turtleneck", "vest", "hoodie"), ("merino", "cashmere", "cotton", "mohair", "lambswool")),
    CategorySpec("Trousers & jeans", "TRS", 45, (49, 139), ("straight jeans", "wide-leg trousers", "chinos", "cargo trousers", "culottes"), ("denim", "twill", "linen", "corduroy", "wool")),
    CategorySpec("Outerwear", "OUT", 35, (119, 389), ("trench coat", "parka", "blazer", "quilted jacket", "overcoat"), ("cotton gabardine", "wool", "recycled nylon", "tweed", "waxed cotton")),
    CategorySpec("Shoes", "SHO", 45, (69, 229), ("sneakers", "loafers", "ankle boots", "sandals", "ballet flats"), ("leather", "suede", "canvas", "nubuck", "raffia")),
    CategorySpec("Bags", "BAG", 40, (39, 249), ("tote bag", "crossbody bag", "backpack", "clutch", "weekender"), ("leather", "canvas", "straw", "nylon", "suede")),
    CategorySpec("Accessories", "ACC", 50, (12, 79), ("scarf", "belt", "cap", "beanie", "gloves", "sunglasses"), ("silk", "leather", "wool", "cotton", "cashmere")),
    CategorySpec("Jewellery", "JWL", 35, (25, 149), ("hoop earrings", "pendant necklace", "signet ring", "bracelet", "stud earrings"), ("gold-plated", "sterling silver", "pearl", "enamel", "vermeil"), ("small", "medium", "large", "fine", "chunky")),
    CategorySpec("Home textiles", "HTX", 35, (19, 149), ("duvet cover", "cushion cover", "throw", "tablecloth", "bath towel"), ("washed linen", "cotton percale", "wool", "waffle cotton", "velvet")),
    CategorySpec("Tableware", "TBL", 30, (9, 89), ("dinner plate", "mug", "salad bowl", "carafe", "serving platter"), ("stoneware", "porcelain", "glass", "earthenware", "olive wood")),
    CategorySpec("Beauty", "BTY", 35, (12, 69), ("hand cream", "eau de toilette", "scented candle", "body oil", "soap bar"), ("fig", "vetiver", "neroli", "cedar", "rose"), ("50 ml", "100 ml", "200 ml", "travel size", "refill")),
)  # fmt: skip
COLOURS = ("black", "ecru", "navy", "sand", "olive", "terracotta", "sky blue", "burgundy", "grey marl", "camel")
OWN_LABEL = "Maison Demo"
PARTNER_BRANDS = ("Atelier Nord", "Côte Sauvage", "Lumen Paris", "Verso", "Bleu de Loire", "Studio Arlette")


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    """A shelf price: a multiple of five minus ten cents (19.90, 124.90)."""
    return Decimal(rng.randrange(-(-low // 5) * 5, high + 1, 5)) - Decimal("0.10")


def demo_products() -> list[dict]:
    """500 products, the same on every run (seeded), as rows for ``catalog.services.products_upsert``."""
    rng = random.Random(SEED)
    rows = []
    for spec in CATEGORIES:
        variants = spec.variants or COLOURS
        combinations = [(m, n, v) for m in spec.materials for n in spec.nouns for v in variants]
        for number, (material, noun, variant) in enumerate(rng.sample(combinations, spec.count), start=1):
            rows.append(
                {
                    "sku": f"{spec.sku_prefix}-{number:04d}",
                    "name": f"{material.capitalize()} {noun}, {variant}",
                    "category": spec.name,
                    "brand": OWN_LABEL if rng.random() < 0.6 else rng.choice(PARTNER_BRANDS),
                    "price": _price(rng, *spec.price_range),
                    "active": rng.random() >= 0.04,  # a few discontinued lines
                }
            )
    return rows


# --- the command ----------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Load the demo merchant “Maison Demo” (20 stores, 500 products, demo logins). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the demo merchant and create it again.")
        parser.add_argument(
            "--force", action="store_true", help="Run even with DJANGO_DEBUG=false (the demo passwords are public)."
        )
        parser.add_argument(
            "--lines",
            type=int,
            default=None,
            help=f"About how many order lines of demo sales to generate (default {DEFAULT_LINES:,}; "
            f"{SQLITE_DEFAULT_LINES:,} on SQLite, whose portable write path is slower).",
        )
        parser.add_argument("--no-sales", action="store_true", help="Load stores and products only, no sales.")

    def handle(
        self,
        *args,
        reset: bool = False,
        force: bool = False,
        lines: int | None = None,
        no_sales: bool = False,
        **options,
    ):
        if lines is None:
            lines = DEFAULT_LINES if connection.vendor == "postgresql" else SQLITE_DEFAULT_LINES
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates logins with a published password; refusing to run with DJANGO_DEBUG=false. "
                "Pass --force if this really is a demo environment."
            )
        if lines < 0:
            raise CommandError("--lines must be 0 or more.")
        started = time.monotonic()
        with transaction.atomic():
            if reset:
                for demo in Merchant.objects.filter(slug=DEMO_SLUG):
                    merchant_sales_delete(demo)  # orders protect stores and products: sales go first
                deleted = Merchant.objects.filter(slug=DEMO_SLUG).delete()[0]
                if deleted:
                    self.stdout.write(f"Deleted the demo merchant ({deleted} rows).")
            users = self._users(reset=reset)
            merchant, merchant_created = self._merchant(owner=users[OWNER_EMAIL])
            store_changes = self._stores(merchant, actor=users[OWNER_EMAIL])
            self._members(merchant, users)
            product_changes = self._products(merchant, actor=users[OWNER_EMAIL])

        self._report(merchant, merchant_created, store_changes, product_changes, time.monotonic() - started)
        # Sales after the catalogue's transaction: orders_ingest commits batch by batch (an interrupted run
        # resumes where it stopped: the generator is deterministic and unchanged orders are only read).
        if not no_sales and lines:
            self._sales(merchant, lines=lines, actor=users[OWNER_EMAIL])
            # The dashboard reads rollups: build them now rather than wait for a worker (a no-op when clean).
            from analytics.services import rollups_refresh

            refreshed = rollups_refresh(merchant_id=merchant.pk)
            self.stdout.write(
                f"Analytics rollups: {len(refreshed.days):,} day(s) refreshed in {refreshed.seconds:.1f}s."
            )

    # -- steps --

    def _users(self, *, reset: bool) -> dict[str, User]:
        specs = {
            OWNER_EMAIL: {"full_name": "Camille Demo"},
            ANALYST_EMAIL: {"full_name": "Alex Analyst"},
            MANAGER_EMAIL: {"full_name": "Sam Manager"},
            STAFF_EMAIL: {"full_name": "NewRetail Staff", "is_staff": True, "is_superuser": True},
        }
        users = {}
        password_hash = None  # hashed once for all four: a full-strength hash takes about a second
        for email, fields in specs.items():
            user, created = User.objects.get_or_create(email=email, defaults=fields)
            if created or reset:
                # A password someone changed on purpose stays, unless --reset.
                password_hash = password_hash or make_password(DEMO_PASSWORD)
                user.password = password_hash
                user.is_active = True
                user.save(update_fields=["password", "is_active"])
            users[email] = user
        return users

    def _merchant(self, *, owner) -> tuple[Merchant, bool]:
        merchant = Merchant.objects.filter(slug=DEMO_SLUG).first()
        created = merchant is None
        if created:
            merchant = merchant_create(
                name=DEMO_NAME, owner=owner, slug=DEMO_SLUG, currency=DEMO_CURRENCY, timezone_name=DEMO_TIMEZONE
            )
        if merchant.onboarding_step != OnboardingStep.DONE:
            merchant_advance_onboarding(merchant=merchant, step=OnboardingStep.DONE)
        return merchant, created

    def _stores(self, merchant: Merchant, *, actor) -> dict[str, int]:
        changes = {"created": 0, "updated": 0, "closed": 0}
        existing = {store.code: store for store in Store.objects.for_merchant(merchant)}
        for fields in demo_stores():
            store = existing.get(fields["code"])
            if store is None:
                store = store_create(merchant=merchant, actor=actor, **fields)
                changes["created"] += 1
            else:
                different = {name: value for name, value in fields.items() if getattr(store, name) != value}
                if different:
                    store = store_update(store=store, actor=actor, **different)
                    changes["updated"] += 1
            closed_on = CLOSED_STORES.get(store.code)
            if closed_on and store.status != StoreStatus.CLOSED:
                store_close(store=store, actor=actor, closed_on=closed_on)
                changes["closed"] += 1
        return changes

    def _members(self, merchant: Merchant, users: dict) -> None:
        # Demo colleagues join directly (no invitation e-mail to accept); their roles never change on re-runs.
        for email, role in ((ANALYST_EMAIL, Role.ANALYST), (MANAGER_EMAIL, Role.STORE_MANAGER)):
            membership, _ = Membership.objects.get_or_create(
                merchant=merchant, user=users[email], defaults={"role": role}
            )
            if role == Role.STORE_MANAGER:
                stores = Store.objects.for_merchant(merchant).filter(code__in=MANAGER_STORES)
                if set(membership.stores.values_list("pk", flat=True)) != {store.pk for store in stores}:
                    membership.stores.set(stores)

    def _products(self, merchant: Merchant, *, actor) -> dict[str, int]:
        current = {
            sku: (name, category, brand, price, active)
            for sku, name, category, brand, price, active in Product.objects.for_merchant(merchant).values_list(
                "sku", "name", "category__name", "brand", "price", "active"
            )
        }
        rows = [
            row
            for row in demo_products()
            if current.get(row["sku"]) != (row["name"], row["category"], row["brand"], row["price"], row["active"])
        ]
        if not rows:
            return {"created": 0, "updated": 0}
        result = products_upsert(merchant=merchant, rows=rows, actor=actor)
        return {"created": result.created, "updated": result.updated}

    def _sales(self, merchant: Merchant, *, lines: int, actor) -> None:
        """Demo sales through the one ingest path (``sales.demo``); skipped when about that many demo lines
        exist (the generator lands within a few percent of the number asked). Otherwise generated again: it is
        deterministic, so what is already there is found unchanged and only the rest is written."""
        existing = demo_lines_count(merchant)
        if existing >= lines * 0.95:
            result = demo_sales_stats(merchant, DemoSalesResult(lines=existing, skipped=True))
            self.stdout.write(result.summary())
            return
        self.stdout.write(f"Generating about {lines:,} order lines of demo sales through the ingest service…")
        reported = [0]

        def progress(so_far: DemoSalesResult) -> None:
            if so_far.lines >= reported[0] + 50_000:
                reported[0] = so_far.lines // 50_000 * 50_000
                self.stdout.write(f"  {so_far.lines:,} lines ({so_far.orders:,} orders)…")

        result = demo_sales_load(merchant=merchant, lines=lines, seed=SEED, actor=actor, progress=progress)
        self.stdout.write(result.summary())
        for error in result.first_errors:
            self.stderr.write(f"  {error}")
        if result.errors:
            raise CommandError(f"{result.errors} demo orders were refused by the ingest service (see above).")

    def _report(self, merchant, merchant_created, store_changes, product_changes, seconds) -> None:
        stores = Store.objects.for_merchant(merchant)
        closed = stores.filter(status=StoreStatus.CLOSED).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Created' if merchant_created else 'Checked'} the demo merchant “{merchant.name}” ({merchant.slug}): "
                f"{stores.count()} stores ({closed} closed), "
                f"{Product.objects.for_merchant(merchant).count()} products in "
                f"{Category.objects.for_merchant(merchant).count()} categories "
                f"in {seconds:.1f}s."
            )
        )
        changed = {f"stores {k}": v for k, v in store_changes.items() if v}
        changed |= {f"products {k}": v for k, v in product_changes.items() if v}
        self.stdout.write(
            "Changes: " + ", ".join(f"{k} {v}" for k, v in changed.items()) if changed else "Nothing to change."
        )
        site = settings.SITE_URL
        self.stdout.write("")
        self.stdout.write(f"Open {site}/ and sign in (password for every demo login: {DEMO_PASSWORD}):")
        self.stdout.write(f"  owner          {OWNER_EMAIL}")
        self.stdout.write(f"  analyst        {ANALYST_EMAIL}")
        self.stdout.write(f"  store manager  {MANAGER_EMAIL}  (stores {', '.join(MANAGER_STORES)})")
        self.stdout.write(f"  staff          {STAFF_EMAIL}  (Django admin: {site}/admin/)")
