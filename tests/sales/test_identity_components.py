"""identity._components: which claims of a batch are one customer, against a plain reference implementation."""

from __future__ import annotations

import random

import pytest

from sales.ingest.identity import CustomerClaim, Identity, _components

from .ingest_builders import PLACED_AT


def claim(*hashes: str) -> CustomerClaim:
    return CustomerClaim(identities=[Identity("email", value_hash, "") for value_hash in hashes], placed_at=PLACED_AT)


def reference(claims, indexes, found) -> list[tuple[list[int], set[int]]]:
    """Claims are linked when they share a hash or hashes of one existing customer: grow each group until stable."""
    groups: list[tuple[list[int], set[str], set[int]]] = []
    for index in indexes:
        hashes = {identity.value_hash for identity in claims[index].identities}
        customers = {found[value_hash] for value_hash in hashes if value_hash in found}
        linked = [group for group in groups if group[1] & hashes or group[2] & customers]
        for group in linked:
            groups.remove(group)
        merged = (
            sorted([index, *[i for group in linked for i in group[0]]]),
            hashes.union(*[group[1] for group in linked]),
            customers.union(*[group[2] for group in linked]),
        )
        groups.append(merged)
    groups.sort(key=lambda group: group[0][0])
    return [(group[0], group[2]) for group in groups]


def test_claims_sharing_a_hash_or_an_existing_customer_are_one_component():
    # Given A and B sharing h2, C alone but whose h5 belongs to customer 7 like D's h6, and E alone
    claims = [claim("h1", "h2"), claim("h3"), claim("h2", "h4"), claim("h5"), claim("h6"), claim("h8")]
    found = {"h5": 7, "h6": 7, "h8": 9}

    components = _components(claims, [0, 1, 2, 3, 4, 5], found)

    assert [(c.claims, c.customers) for c in components] == [
        ([0, 2], set()), ([1], set()), ([3, 4], {7}), ([5], {9}),
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(200))
def test_components_match_the_reference_on_random_batches(seed):
    rnd = random.Random(seed)
    hash_count = rnd.randint(1, 25)
    claims = [
        claim(*[f"h{rnd.randint(0, hash_count)}" for _ in range(rnd.randint(0, 3))]) for _ in range(rnd.randint(1, 30))
    ]
    indexes = [index for index, item in enumerate(claims) if item.identities]
    hashes = {identity.value_hash for item in claims for identity in item.identities}
    found = {value_hash: rnd.randint(1, 6) for value_hash in sorted(hashes) if rnd.random() < 0.4}

    components = _components(claims, indexes, found)

    assert [(c.claims, c.customers) for c in components] == reference(claims, indexes, found)
