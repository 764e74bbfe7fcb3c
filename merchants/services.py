"""Every write about merchants, members, invitations, API keys and the audit log goes through here."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .api_auth import ApiKeyPrincipal, api_keys_cache_invalidate, hash_api_key
from .models import (
    RESERVED_SLUGS,
    ApiKey,
    ApiScope,
    AuditAction,
    AuditEvent,
    Invitation,
    Membership,
    Merchant,
    MerchantStatus,
    OnboardingStep,
    Role,
)

User = get_user_model()

INVITATION_LIFETIME = timedelta(days=7)


# --- audit ----------------------------------------------------------------------------------


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    merchant: Merchant | None,
    actor=None,
    api_key: ApiKey | None = None,
    target: str = "",
    request: HttpRequest | None = None,
    data: dict | None = None,
) -> AuditEvent:
    if api_key is None and isinstance(actor, ApiKeyPrincipal):
        api_key = actor.api_key  # a write made by a partner through the API: the key is the actor
    if actor is not None and not getattr(actor, "pk", None):
        actor = None  # anonymous user or an API-key principal
    return AuditEvent.objects.create(
        merchant=merchant,
        actor=actor,
        api_key=api_key,
        action=action,
        target=str(target)[:255],
        ip_address=client_ip(request),
        data=data or {},
    )


# --- merchants ------------------------------------------------------------------------------


def merchant_unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "brand"
    if base in RESERVED_SLUGS:
        base = f"{base}-brand"
    slug, n = base, 2
    while Merchant.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def merchant_create(
    *,
    name: str,
    owner,
    slug: str | None = None,
    currency: str = "EUR",
    timezone_name: str = "Europe/Paris",
    request: HttpRequest | None = None,
) -> Merchant:
    merchant = Merchant(
        name=name.strip(),
        slug=slug or merchant_unique_slug(name),
        currency=currency.upper(),
        timezone=timezone_name,
    )
    merchant.full_clean()
    merchant.save()
    Membership.objects.create(merchant=merchant, user=owner, role=Role.OWNER)
    audit_record(
        action=AuditAction.MERCHANT_CREATED, merchant=merchant, actor=owner, target=merchant.slug, request=request
    )
    return merchant


@transaction.atomic
def merchant_update(*, merchant: Merchant, actor, request: HttpRequest | None = None, **fields) -> Merchant:
    if "currency" in fields and fields["currency"] != merchant.currency and _merchant_has_sales(merchant):
        # One currency per merchant: amounts already stored would silently change meaning.
        raise ValidationError(
            {
                "currency": f"{merchant.name} already has sales in {merchant.currency}; "
                "the currency can no longer change."
            }
        )
    changed = {}
    for name, value in fields.items():
        if getattr(merchant, name) != value:
            changed[name] = [getattr(merchant, name), value]
            setattr(merchant, name, value)
    if changed:
        merchant.full_clean()
        merchant.save()
        api_keys_cache_invalidate()  # API processes keep keys with their merchant
        audit_record(
            action=AuditAction.MERCHANT_UPDATED,
            merchant=merchant,
            actor=actor,
            target=merchant.slug,
            request=request,
            data={"changed": changed},
        )
    return merchant


def _merchant_has_sales(merchant: Merchant) -> bool:
    from sales.models import Order  # sales depends on merchants, not the other way round at import time

    return Order.objects.for_merchant(merchant).exists()


def merchant_advance_onboarding(*, merchant: Merchant, step: str) -> None:
    order = [s.value for s in OnboardingStep]
    if order.index(step) > order.index(merchant.onboarding_step):
        Merchant.objects.filter(pk=merchant.pk).update(onboarding_step=step)
        merchant.onboarding_step = step


@transaction.atomic
def merchant_set_status(*, merchant: Merchant, status: str, actor, reason: str = "", request=None) -> Merchant:
    if merchant.status == status:
        return merchant
    merchant.status = status
    merchant.suspended_reason = reason if status == MerchantStatus.SUSPENDED else ""
    merchant.save(update_fields=["status", "suspended_reason", "updated_at"])
    api_keys_cache_invalidate()  # a suspended merchant's keys are refused on the next request
    action = AuditAction.MERCHANT_SUSPENDED if status == MerchantStatus.SUSPENDED else AuditAction.MERCHANT_REACTIVATED
    audit_record(
        action=action,
        merchant=merchant,
        actor=actor,
        target=merchant.slug,
        request=request,
        data={"reason": reason} if reason else None,
    )
    return merchant


@transaction.atomic
def user_sign_up(*, email: str, password: str, brand_name: str, full_name: str = "", request=None):
    """Create a user and their merchant (as owner) in one transaction."""
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    merchant = merchant_create(name=brand_name, owner=user, request=request)
    audit_record(action=AuditAction.SIGNED_UP, merchant=merchant, actor=user, target=user.email, request=request)
    return user, merchant


# --- members and invitations ----------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.SITE_URL + reverse("merchants:invitation-accept", kwargs={"token": token})


@transaction.atomic
def invitation_create(
    *, merchant: Merchant, email: str, role: str, actor, stores: Iterable = (), request=None
) -> tuple[Invitation, str]:
    """Invite an e-mail address; returns the invitation and the raw token (only ever in the e-mail)."""
    email = User.objects.normalize_email(email).lower()
    if role == Role.OWNER and not _actor_may_manage_owners(merchant.pk, actor):
        raise ValidationError({"role": "Only an owner can invite another owner."})
    stores = _merchant_stores(merchant.pk, stores) if role == Role.STORE_MANAGER else []
    if Membership.objects.for_merchant(merchant).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {merchant.name}."})
    # A new invitation replaces pending ones for the same address.
    Invitation.objects.for_merchant(merchant).filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        merchant=merchant,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    if role == Role.STORE_MANAGER:
        invitation.stores.set(stores)
    audit_record(
        action=AuditAction.MEMBER_INVITED,
        merchant=merchant,
        actor=actor,
        target=email,
        request=request,
        data={"role": role},
    )
    url = invitation_url(token)
    transaction.on_commit(lambda: _send_invitation(invitation, url))
    return invitation, token


def _send_invitation(invitation: Invitation, url: str) -> None:
    context = {"invitation": invitation, "url": url}
    send_mail(
        subject=f"You are invited to {invitation.merchant.name} on NewRetail",
        message=render_to_string("merchants/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_get_by_token(token: str) -> Invitation | None:
    return Invitation.objects.select_related("merchant").filter(token_hash=_token_hash(token)).first()


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user, request=None) -> Membership:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise ValidationError(f"This invitation is {invitation.state}.")
    if user.email.lower() != invitation.email.lower():
        raise ValidationError(f"This invitation was sent to {invitation.email}; you are signed in as {user.email}.")
    membership, created = Membership.objects.get_or_create(
        merchant=invitation.merchant, user=user, defaults={"role": invitation.role}
    )
    if created and invitation.role == Role.STORE_MANAGER:
        membership.stores.set(invitation.stores.all())
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action=AuditAction.MEMBER_JOINED,
        merchant=invitation.merchant,
        actor=user,
        target=user.email,
        request=request,
        data={"role": membership.role},
    )
    return membership


@transaction.atomic
def invitation_accept_new_user(*, invitation: Invitation, password: str, full_name: str = "", request=None):
    """Create the invitee's account (e-mail from the invitation) and accept; returns (user, membership)."""
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError(f"An account for {invitation.email} already exists: log in to accept the invitation.")
    user = User.objects.create_user(email=invitation.email, password=password, full_name=full_name.strip())
    audit_record(
        action=AuditAction.SIGNED_UP, merchant=invitation.merchant, actor=user, target=user.email, request=request
    )
    return user, invitation_accept(invitation=invitation, user=user, request=request)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor, request=None) -> None:
    if invitation.accepted_at or invitation.revoked_at:
        return
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action=AuditAction.INVITATION_REVOKED,
        merchant=invitation.merchant,
        actor=actor,
        target=invitation.email,
        request=request,
    )


def _actor_may_manage_owners(merchant_id: int, actor) -> bool:
    """Only owners create, change or remove owners. An actor without a membership here (a management
    command, staff in the Django admin) is trusted: the portal only lets members reach these services."""
    if actor is None or not getattr(actor, "pk", None):
        return True
    role = Membership.objects.filter(merchant_id=merchant_id, user=actor).values_list("role", flat=True).first()
    return role is None or role == Role.OWNER


def _lock_merchant(merchant_id: int) -> None:
    # Serialise membership changes of one merchant, so two owners demoting each other at the same time
    # cannot both succeed (and cannot deadlock on each other's rows).
    Merchant.objects.select_for_update().filter(pk=merchant_id).values_list("pk", flat=True).first()


def _merchant_stores(merchant_id: int, stores: Iterable) -> list:
    stores = list(stores)
    if any(store.merchant_id != merchant_id for store in stores):
        raise ValidationError({"stores": "Choose stores of this merchant only."})
    return stores


def _ensure_owner_remains(membership: Membership) -> None:
    others = (
        Membership.objects.for_merchant(membership.merchant_id)
        .select_for_update()
        .filter(role=Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ValidationError("A merchant must keep at least one owner: make someone else owner first.")


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor, stores: Iterable = (), request=None
) -> Membership:
    _lock_merchant(membership.merchant_id)
    membership = Membership.objects.select_for_update().select_related("user", "merchant").get(pk=membership.pk)
    if Role.OWNER in (membership.role, role) and not _actor_may_manage_owners(membership.merchant_id, actor):
        raise ValidationError({"role": "Only an owner can make someone owner or change an owner's role."})
    stores = _merchant_stores(membership.merchant_id, stores) if role == Role.STORE_MANAGER else []
    if membership.role == Role.OWNER and role != Role.OWNER:
        _ensure_owner_remains(membership)
    old_role = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    membership.stores.set(stores)
    audit_record(
        action=AuditAction.MEMBER_ROLE_CHANGED,
        merchant=membership.merchant,
        actor=actor,
        target=membership.user.email,
        request=request,
        data={"from": old_role, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor, request=None) -> None:
    _lock_merchant(membership.merchant_id)
    membership = Membership.objects.select_for_update().select_related("user", "merchant").get(pk=membership.pk)
    if membership.role == Role.OWNER:
        if not _actor_may_manage_owners(membership.merchant_id, actor):
            raise ValidationError("Only an owner can remove an owner.")
        _ensure_owner_remains(membership)
    audit_record(
        action=AuditAction.MEMBER_REMOVED,
        merchant=membership.merchant,
        actor=actor,
        target=membership.user.email,
        request=request,
        data={"role": membership.role},
    )
    membership.delete()


# --- API keys -------------------------------------------------------------------------------

API_KEY_PREFIX = "nr_"


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in ApiScope.values]
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(ApiScope.values)}."}
        )
    if not scopes:
        raise ValidationError({"scopes": "Choose at least one scope."})
    return scopes


@transaction.atomic
def api_key_create(
    *, merchant: Merchant, name: str, scopes: Iterable[str], actor=None, request=None
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the raw secret, which is never stored and shown only this once."""
    scopes = validate_scopes(scopes)
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        merchant=merchant,
        name=name.strip() or "API key",
        prefix=raw[: len(API_KEY_PREFIX) + 8],
        key_hash=hash_api_key(raw),
        scopes=scopes,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        action=AuditAction.API_KEY_CREATED,
        merchant=merchant,
        actor=actor,
        target=str(api_key),
        request=request,
        data={"scopes": scopes},
    )
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor=None, request=None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        api_keys_cache_invalidate()  # refused on the next request, in every process
        audit_record(
            action=AuditAction.API_KEY_REVOKED,
            merchant=api_key.merchant,
            actor=actor,
            target=str(api_key),
            request=request,
        )
    return api_key
