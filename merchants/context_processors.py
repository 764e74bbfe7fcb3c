from .models import Membership


def tenancy(request):
    """The current tenant (set by MerchantViewMixin) and the user's merchants, for the switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_tenant": getattr(request, "tenant", None),
        "user_memberships": lambda: list(
            Membership.objects.filter(user=user).select_related("merchant").order_by("merchant__name")
        ),
    }
