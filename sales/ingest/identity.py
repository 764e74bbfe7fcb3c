"""Customer identity across channels: normalise, hash, resolve, merge.

- **Normalise**: e-mail stripped and lower-cased (it must look like ``local@domain``); phone to E.164 with
  ``phonenumbers`` (the default region is the store's country, else the merchant's most common store country;
  a number that does not parse or is not a valid number is ignored, silently); loyalty number, POS customer id
  and online account id stripped. Empty values are ignored.
- **Hash**: ``HMAC-SHA256(key=merchant key, msg=f"{kind}:{normalised}")`` hex, where the merchant key is
  ``HMAC-SHA256(settings.IDENTITY_HASH_KEY, f"merchant:{merchant.pk}")``. Only the hash and a masked hint
  ("j***@example.com", "+33 ••• 78", "•••4321") are stored.
- **Resolve** (:func:`customers_resolve`): one transaction under a per-merchant advisory lock, so two parallel
  ingests cannot both create a customer for the same e-mail. Orders of one batch that share an identifier are
  one customer; an order whose identifiers point at two or more customers merges them (the oldest survives,
  orders and identifiers move to it, a ``CustomerMerge`` row says which identifier kinds and which order linked
  them). ``merged_into`` always points at the final survivor (chains are flattened on every merge).

Lock order (no deadlocks): the advisory lock, then customer rows, then identifier rows, then order rows. The
writer locks the customers it references ``FOR SHARE`` before writing orders, so a merge that starts later
waits for those orders to be committed and then moves them too.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Q, Value, When

from sales.models import Customer, CustomerIdentifier, CustomerMerge, IdentifierKind, Order

from .pgarray import int_array, text_array, timestamp_array

IDENTIFIER_KINDS = frozenset(IdentifierKind.values)
_SPACE = re.compile(r"\s")
HINT_MAX_LENGTH = 64
IDENTITY_CACHE_MAX = 200_000  # raw identifiers remembered per ingest context
PHONE_CACHE_MAX = 50_000  # (raw phone, region) -> E.164 remembered per process (~20 MB at most)

# pg_advisory_xact_lock(int, int): the first key says "customer identity", the second is the merchant id.
IDENTITY_LOCK_NAMESPACE = zlib.crc32(b"sales.identity") & 0x7FFFFFFF


@dataclass(slots=True, frozen=True)
class Identity:
    """A normalised, hashed identifier."""

    kind: str
    value_hash: str
    hint: str


@dataclass(slots=True)
class CustomerClaim:
    """What one order says about its customer: its identities and display data."""

    identities: list[Identity]
    placed_at: datetime
    source: str = ""
    external_id: str = ""
    display_name: str = ""
    email: str = ""


# --- normalisation and hashing --------------------------------------------------------------


def merchant_identity_key(merchant_id: int) -> bytes:
    """The merchant's secret: HMAC-SHA256(settings.IDENTITY_HASH_KEY, "merchant:<pk>")."""
    return hmac.new(settings.IDENTITY_HASH_KEY.encode(), f"merchant:{merchant_id}".encode(), hashlib.sha256).digest()


def identifier_hash(key: bytes, kind: str, normalised: str) -> str:
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def _mask_tail(value: str, keep: int) -> str:
    return "•••" + value[-keep:] if len(value) > keep else "•••"


def email_normalise(value: str) -> tuple[str, str] | None:
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or _SPACE.search(email):
        return None
    return email, f"{local[0]}***@{domain}"[:HINT_MAX_LENGTH]


@functools.lru_cache(maxsize=PHONE_CACHE_MAX)
def phone_normalise(value: str, region: str | None) -> tuple[str, str] | None:
    """E.164 and a masked hint, or None when the value is not a valid phone number (for ``region``).

    A pure function of its arguments (~100 µs for ``phonenumbers`` to parse and validate): remembered for the
    whole process, across ingest contexts (API requests, import jobs of one worker)."""
    text = value.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, f"+{number.country_code} ••• {e164[-2:]}"


def identifier_normalise(kind: str, value: str, *, region: str | None = None) -> tuple[str, str] | None:
    """``(normalised, hint)`` for a raw identifier, or None when it identifies nobody (empty, invalid)."""
    if kind == IdentifierKind.EMAIL:
        return email_normalise(value)
    if kind == IdentifierKind.PHONE:
        return phone_normalise(value, region)
    text = value.strip()
    if not text:
        return None
    return text, _mask_tail(text, 4)


class IdentityHasher:
    """Normalises and hashes a merchant's identifiers, remembering the answers.

    Lives as long as an ingest context (one import job, one API batch): repeat customers are common, and
    parsing a phone number costs ~100 µs.
    """

    def __init__(self, merchant_id: int):
        self._hmac = hmac.new(merchant_identity_key(merchant_id), digestmod=hashlib.sha256)
        self._cache: dict[tuple[str, str, str | None], Identity | None] = {}

    def hash(self, kind: str, normalised: str) -> str:
        digest = self._hmac.copy()  # the keyed state, without re-deriving the key pads every time
        digest.update(f"{kind}:{normalised}".encode())
        return digest.hexdigest()

    def identity(self, kind: str, value: str, region: str | None) -> Identity | None:
        cache_key = (kind, value, region if kind == IdentifierKind.PHONE else None)
        try:
            return self._cache[cache_key]
        except KeyError:
            pass
        normalised = identifier_normalise(kind, value, region=region)
        identity = None
        if normalised is not None:
            identity = Identity(kind=kind, value_hash=self.hash(kind, normalised[0]), hint=normalised[1])
        if len(self._cache) >= IDENTITY_CACHE_MAX:
            self._cache.clear()
        self._cache[cache_key] = identity
        return identity


# --- resolution -----------------------------------------------------------------------------


def use_postgres() -> bool:
    """The set-based PostgreSQL statements, or the portable ORM path (SQLite in development; tests force it)."""
    return connection.vendor == "postgresql"


def identity_lock(merchant_id: int) -> None:
    """Serialise identity resolution per merchant until the end of the current transaction (PostgreSQL)."""
    if not use_postgres():
        return  # development on SQLite: one writer at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IDENTITY_LOCK_NAMESPACE, merchant_id])


@dataclass(slots=True)
class _Component:
    claims: list[int] = field(default_factory=list)
    customers: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _NewCustomer:
    display_name: str
    email: str
    first_order_at: datetime


@dataclass(slots=True)
class _CustomerRow:
    id: int
    created_at: datetime
    first_order_at: datetime | None
    display_name: str
    email: str


def _components(claims: Sequence[CustomerClaim], indexes: list[int], found: dict[str, int]) -> list[_Component]:
    """Claims sharing a hash, and hashes of one existing customer, are one component. Components come in the
    order of their first claim, each with its claims in input order.

    Each key (a hash, or an existing customer's id) points at its component's number; joining two components
    moves the keys of the smaller one (a key moves O(log n) times at most): no tuple keys and no parent-pointer
    walks, which made the union-find this replaces ~5 µs per order line."""
    owner: dict[str | int, int] = {}  # hashes are str, customer ids int: they cannot collide
    keys_of: list[list[str | int]] = []
    components: list[_Component | None] = []
    joined = False

    def join(into: int, other: int) -> int:
        if len(keys_of[into]) < len(keys_of[other]):
            into, other = other, into
        for key in keys_of[other]:
            owner[key] = into
        keys_of[into] += keys_of[other]
        keys_of[other] = []
        kept, gone = components[into], components[other]
        kept.claims += gone.claims
        kept.customers |= gone.customers
        components[other] = None
        return into

    for index in indexes:
        keys: list[str | int] = []
        for identity in claims[index].identities:
            keys.append(identity.value_hash)
            customer_id = found.get(identity.value_hash)
            if customer_id is not None:
                keys.append(customer_id)
        target = None
        for key in keys:
            number = owner.get(key)
            if number is not None and number != target:
                if target is None:
                    target = number
                else:
                    target = join(target, number)
                    joined = True
        if target is None:
            target = len(components)
            components.append(_Component())
            keys_of.append([])
        component = components[target]
        component.claims.append(index)
        for key in keys:
            if owner.get(key) != target:
                owner[key] = target
                keys_of[target].append(key)
                if type(key) is int:
                    component.customers.add(key)
    result = [component for component in components if component is not None]
    if joined:
        for component in result:
            component.claims.sort()
        result.sort(key=lambda component: component.claims[0])
    return result


def _merge_reason(claims: Sequence[CustomerClaim], component: _Component, found: dict[str, int], loser: int) -> dict:
    """The order that linked ``loser`` to the others: the first one whose identifiers matched two customers,
    else the first one that matched the loser."""
    linking = None
    for index in component.claims:
        matched = {found[i.value_hash] for i in claims[index].identities if i.value_hash in found}
        if len(matched) >= 2 and loser in matched:
            linking = index
            break
        if linking is None and loser in matched:
            linking = index
    claim = claims[linking if linking is not None else component.claims[0]]
    return {
        "identifiers": sorted({identity.kind for identity in claim.identities}),
        "source": claim.source,
        "external_id": claim.external_id,
    }


def customers_resolve(*, merchant, claims: Sequence[CustomerClaim]) -> list[int | None]:
    """The customer id of every claim (None for a claim without identities), creating and merging customers.

    Runs in its own transaction (a savepoint inside the caller's) under ``identity_lock``; a constant number
    of queries whatever the number of claims.
    """
    result: list[int | None] = [None] * len(claims)
    indexes = [index for index, claim in enumerate(claims) if claim.identities]
    if not indexes:
        return result
    hashes = sorted({identity.value_hash for index in indexes for identity in claims[index].identities})

    with transaction.atomic():
        identity_lock(merchant.pk)
        found = _identifiers_find(merchant.pk, hashes)
        components = _components(claims, indexes, found)
        existing_ids = sorted({customer_id for component in components for customer_id in component.customers})
        existing = _customers_load(merchant.pk, existing_ids) if existing_ids else {}

        new_customers: list[tuple[_Component, _NewCustomer]] = []
        merges: list[CustomerMerge] = []
        survivor_of: dict[int, int] = {}
        changed: dict[int, _CustomerRow] = {}
        for component in components:
            if len(component.claims) == 1:  # the common case, without the generators
                claim = claims[component.claims[0]]
                first_order_at, display_name, email = claim.placed_at, claim.display_name, claim.email
            else:
                first_order_at = min(claims[index].placed_at for index in component.claims)
                display_name = next((claims[i].display_name for i in component.claims if claims[i].display_name), "")
                email = next((claims[i].email for i in component.claims if claims[i].email), "")
            if not component.customers:
                new_customers.append((component, _NewCustomer(display_name[:200], email[:254], first_order_at)))
                continue
            if len(component.customers) == 1:
                rows = [existing[next(iter(component.customers))]]
            else:
                rows = sorted((existing[customer_id] for customer_id in component.customers), key=_age)
            survivor, losers = rows[0], rows[1:]
            before = (survivor.first_order_at, survivor.display_name, survivor.email)
            for row in losers:
                survivor_of[row.id] = survivor.id
                merges.append(
                    CustomerMerge(
                        merchant=merchant,
                        survivor_id=survivor.id,
                        merged_id=row.id,
                        reason=_merge_reason(claims, component, found, row.id),
                    )
                )
                first_order_at = _earliest(first_order_at, row.first_order_at)
                display_name = display_name or row.display_name
                email = email or row.email
            survivor.first_order_at = _earliest(first_order_at, survivor.first_order_at)
            survivor.display_name = survivor.display_name or display_name[:200]
            survivor.email = survivor.email or email[:254]
            if (survivor.first_order_at, survivor.display_name, survivor.email) != before:
                changed[survivor.id] = survivor
            for index in component.claims:
                result[index] = survivor.id

        # Customers first (lock order), then identifiers, then orders.
        if changed:
            _customers_update(merchant.pk, sorted(changed.values(), key=lambda row: row.id))
        if survivor_of:
            _customers_merge(merchant, survivor_of)
        if new_customers:
            created = _customers_insert(merchant.pk, [customer for _, customer in new_customers])
            for (component, _), customer_id in zip(new_customers, created, strict=True):
                for index in component.claims:
                    result[index] = customer_id
        if merges:
            CustomerMerge.objects.bulk_create(merges)

        new_identifiers: dict[str, tuple[int, Identity]] = {}
        for index in indexes:
            for identity in claims[index].identities:
                if identity.value_hash not in found and identity.value_hash not in new_identifiers:
                    new_identifiers[identity.value_hash] = (result[index], identity)
        if new_identifiers:
            _identifiers_insert(merchant.pk, [new_identifiers[value_hash] for value_hash in sorted(new_identifiers)])
    return result


def _identifiers_find(merchant_id: int, hashes: list[str]) -> dict[str, int]:
    """value_hash -> id of the (surviving) customer it identifies."""
    if use_postgres():
        with connection.cursor() as cursor:
            # One probe of the unique (merchant, value_hash) index per hash (LATERAL ... LIMIT 1 is not flattened
            # into a join the planner could turn into a scan of every identifier of the merchant when the
            # statistics lag behind a growing table).
            cursor.execute(
                """
                SELECT k.value_hash, f.customer_id
                FROM unnest(%s::text[]) AS k(value_hash)
                CROSS JOIN LATERAL (
                    SELECT COALESCE(c.merged_into_id, c.id) AS customer_id
                    FROM sales_customeridentifier AS i JOIN sales_customer AS c ON c.id = i.customer_id
                    WHERE i.merchant_id = %s AND i.value_hash = k.value_hash
                    LIMIT 1
                ) AS f
                """,
                [text_array(hashes), merchant_id],
            )
            return dict(cursor.fetchall())
    return {
        value_hash: merged_into or customer_id
        for value_hash, customer_id, merged_into in CustomerIdentifier.objects.for_merchant(merchant_id)
        .filter(value_hash__in=hashes)
        .values_list("value_hash", "customer_id", "customer__merged_into_id")
    }


def _customers_load(merchant_id: int, ids: list[int]) -> dict[int, _CustomerRow]:
    fields = ("id", "created_at", "first_order_at", "display_name", "email")
    if use_postgres():
        with connection.cursor() as cursor:
            # One primary-key probe per id (see _identifiers_find: LATERAL ... LIMIT 1 is not flattened into a
            # scan of every customer of the merchant when the statistics lag behind the table).
            cursor.execute(
                f"SELECT c.* FROM unnest(%s::bigint[]) AS k(id) CROSS JOIN LATERAL ("  # noqa: S608
                f"SELECT {', '.join(fields)} FROM sales_customer WHERE id = k.id AND merchant_id = %s LIMIT 1) AS c",
                [int_array(ids), merchant_id],
            )
            rows = cursor.fetchall()
    else:
        rows = Customer.objects.filter(merchant_id=merchant_id, pk__in=ids).values_list(*fields)
    return {row[0]: _CustomerRow(*row) for row in rows}


def _customers_insert(merchant_id: int, customers: list[_NewCustomer]) -> list[int]:
    if use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO sales_customer (merchant_id, display_name, email, first_order_at, created_at)
                SELECT %s, c.display_name, c.email, c.first_order_at, now()
                FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) WITH ORDINALITY
                    AS c(display_name, email, first_order_at, position)
                ORDER BY c.position
                RETURNING id
                """,
                [
                    merchant_id,
                    text_array([customer.display_name for customer in customers]),
                    text_array([customer.email for customer in customers]),
                    timestamp_array([customer.first_order_at for customer in customers]),
                ],
            )
            return [pk for (pk,) in cursor.fetchall()]
    created = Customer.objects.bulk_create(
        [
            Customer(
                merchant_id=merchant_id,
                display_name=customer.display_name,
                email=customer.email,
                first_order_at=customer.first_order_at,
            )
            for customer in customers
        ]
    )
    return [customer.pk for customer in created]


def _identifiers_insert(merchant_id: int, identifiers: list[tuple[int, Identity]]) -> None:
    """Rows of (customer id, identity), sorted by hash (lock order)."""
    if use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO sales_customeridentifier (merchant_id, customer_id, kind, value_hash, hint, created_at)
                SELECT %s, i.customer_id, i.kind, i.value_hash, i.hint, now()
                FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS i(customer_id, kind, value_hash, hint)
                ON CONFLICT (merchant_id, value_hash) DO NOTHING
                """,
                [
                    merchant_id,
                    int_array([customer_id for customer_id, _ in identifiers]),
                    text_array([identity.kind for _, identity in identifiers]),
                    text_array([identity.value_hash for _, identity in identifiers]),
                    text_array([identity.hint for _, identity in identifiers]),
                ],
            )
        return
    CustomerIdentifier.objects.bulk_create(
        [
            CustomerIdentifier(
                merchant_id=merchant_id,
                customer_id=customer_id,
                kind=identity.kind,
                value_hash=identity.value_hash,
                hint=identity.hint,
            )
            for customer_id, identity in identifiers
        ],
        ignore_conflicts=True,
    )


def _age(row: _CustomerRow) -> tuple[datetime, int]:
    return (row.created_at, row.id)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _customers_update(merchant_id: int, rows: list[_CustomerRow]) -> None:
    if use_postgres():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE sales_customer AS c
                SET first_order_at = v.first_order_at, display_name = v.display_name, email = v.email
                FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::text[])
                    AS v(id, first_order_at, display_name, email)
                CROSS JOIN LATERAL (
                    SELECT s.id FROM sales_customer AS s WHERE s.id = v.id AND s.merchant_id = %s LIMIT 1
                ) AS f
                WHERE c.id = f.id
                """,
                [
                    int_array([row.id for row in rows]),
                    timestamp_array([row.first_order_at for row in rows]),
                    text_array([row.display_name for row in rows]),
                    text_array([row.email for row in rows]),
                    merchant_id,
                ],
            )
        return
    Customer.objects.bulk_update(
        [
            Customer(
                pk=row.id,
                merchant_id=merchant_id,
                first_order_at=row.first_order_at,
                display_name=row.display_name,
                email=row.email,
            )
            for row in rows
        ],
        ["first_order_at", "display_name", "email"],
    )


def _customers_merge(merchant, survivor_of: dict[int, int]) -> None:
    """Point every loser (and whoever was merged into a loser) at its survivor; move identifiers and orders."""
    losers = sorted(survivor_of)
    to_survivor = [When(pk=loser, then=Value(survivor)) for loser, survivor in survivor_of.items()]
    to_survivor += [When(merged_into_id=loser, then=Value(survivor)) for loser, survivor in survivor_of.items()]
    Customer.objects.for_merchant(merchant).filter(Q(pk__in=losers) | Q(merged_into_id__in=losers)).update(
        merged_into_id=Case(*to_survivor)
    )
    owner = Case(*[When(customer_id=loser, then=Value(survivor)) for loser, survivor in survivor_of.items()])
    CustomerIdentifier.objects.for_merchant(merchant).filter(customer_id__in=losers).update(customer_id=owner)
    Order.objects.for_merchant(merchant).filter(customer_id__in=losers).update(customer_id=owner)
