import pytest
from django.http import Http404

from merchants.models import MerchantStatus, Role
from merchants.tenancy import MerchantSuspended, Perm, tenant_for_user
from stores.models import Store

from ..factories import MembershipFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_tenant_scope_limits_to_merchant_and_store_manager_stores(merchant, other_merchant):
    # Given two merchants with stores, and a store manager of merchant A assigned to one store
    own_a, own_b = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    StoreFactory(merchant=other_merchant)
    membership = MembershipFactory(merchant=merchant, role=Role.STORE_MANAGER)
    membership.stores.add(own_a)

    # When the tenant is resolved from the user and the merchant slug
    tenant = tenant_for_user(membership.user, merchant.slug)

    # Then only the assigned store is visible, and the role reads only
    assert list(tenant.scope(Store).values_list("pk", flat=True)) == [own_a.pk]
    assert tenant.has(Perm.VIEW)
    assert not tenant.has(Perm.MANAGE_STORES)
    assert own_b.pk not in tenant.scope(Store).values_list("pk", flat=True)


def test_tenant_for_user_hides_other_merchants_and_refuses_suspended(merchant, other_merchant):
    membership = MembershipFactory(merchant=merchant, role=Role.ANALYST)
    with pytest.raises(Http404):
        tenant_for_user(membership.user, other_merchant.slug)
    merchant.status = MerchantStatus.SUSPENDED
    merchant.save()
    with pytest.raises(MerchantSuspended, match="suspended"):
        tenant_for_user(membership.user, merchant.slug)
