"""Staff admin for users. The custom user signs in by e-mail and has no username or first/last name, so
Django's ``UserAdmin`` is adapted (fieldsets, forms, ordering) rather than used as is."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from merchants.models import Membership

from .models import User


def _clean_email(form) -> str:
    email = User.objects.normalize_email(form.cleaned_data["email"]).lower()
    if User.objects.filter(email__iexact=email).exclude(pk=form.instance.pk).exists():
        raise ValidationError(_("A user with this e-mail address already exists."), code="unique")
    return email


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self) -> str:
        return _clean_email(self)


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return _clean_email(self)


class MembershipInline(admin.TabularInline):
    """The user's merchants and roles, for orientation. Roles change through the membership admin (which goes
    through the services and the audit log), so this inline only reads."""

    model = Membership
    fk_name = "user"
    extra = 0
    can_delete = False
    fields = ("merchant", "role", "created_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("merchant")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined", "memberships_count")
    list_filter = ("is_staff", "is_superuser", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    date_hierarchy = "date_joined"
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(memberships_count=Count("memberships", distinct=True))

    @admin.display(description=_("memberships"), ordering="memberships_count")
    def memberships_count(self, obj: User) -> int:
        return obj.memberships_count

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else ()
