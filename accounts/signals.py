"""Failed and locked-out sign-ins go to the audit log (Django's and django-axes' own signals; our domain
code uses no signals)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    from merchants.models import AuditAction
    from merchants.services import audit_record

    email = (credentials or {}).get("username") or (credentials or {}).get("email") or ""
    audit_record(action=AuditAction.SIGN_IN_FAILED, merchant=None, target=email, request=request, data={"email": email})


@receiver(user_locked_out, dispatch_uid="audit_sign_in_locked_out")
def record_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    from merchants.models import AuditAction
    from merchants.services import audit_record

    audit_record(
        action=AuditAction.SIGN_IN_LOCKED,
        merchant=None,
        target=username or "",
        request=request,
        data={"email": username or ""},
    )
