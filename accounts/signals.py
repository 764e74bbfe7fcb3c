"""Failed sign-ins go to the audit log (Django's own auth signal; our domain code uses no signals)."""

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    from merchants.models import AuditAction
    from merchants.services import audit_record

    email = (credentials or {}).get("username") or (credentials or {}).get("email") or ""
    audit_record(action=AuditAction.SIGN_IN_FAILED, merchant=None, target=email, request=request, data={"email": email})
