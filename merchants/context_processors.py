from .models import Membership
from .tenancy import Perm


def tenancy(request):
    """The current tenant (set by MerchantViewMixin), what its role may do, and the user's merchants."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    tenant = getattr(request, "tenant", None)
    return {
        "current_tenant": tenant,
        # {% if can.manage_keys %}: the menu shows only what the role may open.
        "can": {perm.value: tenant.has(perm) for perm in Perm} if tenant is not None else {},
        "user_memberships": lambda: list(
            Membership.objects.filter(user=user).select_related("merchant").order_by("merchant__name")
        ),
    }
