"""Staff admin for the catalogue. Product writes go through ``catalog.services`` (validation, audit log);
deletions are recorded in the merchant's audit log."""

from django import forms
from django.contrib import admin

from merchants.admin import AuditedDeleteMixin, SameMerchantFormMixin, ServiceErrorsMixin, count_subquery

from . import services
from .models import Category, Product


class CategoryAdminForm(SameMerchantFormMixin, forms.ModelForm):
    class Meta:
        model = Category
        fields = ("merchant", "name", "parent")

    def clean(self):
        cleaned = super().clean()
        merchant = cleaned.get("merchant") or getattr(self.instance, "merchant", None)
        name = cleaned.get("name")
        if merchant is not None and name:
            clash = Category.objects.for_merchant(merchant).filter(name__iexact=name).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("name", f"{merchant} already has a category named “{clash.first().name}”.")
        return cleaned


@admin.register(Category)
class CategoryAdmin(ServiceErrorsMixin, AuditedDeleteMixin, admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ("name", "merchant", "parent", "products_count")
    list_filter = ("merchant",)
    list_select_related = ("merchant", "parent")
    search_fields = ("name", "merchant__slug", "merchant__name")
    autocomplete_fields = ("merchant", "parent")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(products_count=count_subquery(Product, "category"))

    def get_readonly_fields(self, request, obj=None):
        # Moving a category to another merchant would leave its products pointing across tenants.
        return (*self.readonly_fields, "merchant") if obj else self.readonly_fields

    @admin.display(description="products", ordering="products_count")
    def products_count(self, obj: Category) -> int:
        return obj.products_count

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # renames are not audited (no audit action for them)
            return
        # The service also refuses a name that differs from an existing one only by case.
        category = services.category_create(
            merchant=form.cleaned_data["merchant"],
            name=form.cleaned_data["name"],
            parent=form.cleaned_data.get("parent"),
            actor=request.user,
            request=request,
        )
        obj.pk = category.pk
        obj.refresh_from_db()


class ProductAdminForm(SameMerchantFormMixin, forms.ModelForm):
    class Meta:
        model = Product
        fields = ("merchant", "sku", "name", "category", "brand", "price", "active", "is_placeholder")

    def clean(self):
        cleaned = super().clean()
        # The merchant is read-only on existing products, so Django's own uniqueness check skips (merchant, sku).
        merchant = cleaned.get("merchant") or getattr(self.instance, "merchant", None)
        sku = cleaned.get("sku")
        others = Product.objects.exclude(pk=self.instance.pk)
        if merchant is not None and sku and others.for_merchant(merchant).filter(sku=sku).exists():
            self.add_error("sku", f"The SKU {sku} is already used by another product of {merchant}.")
        return cleaned


@admin.register(Product)
class ProductAdmin(ServiceErrorsMixin, AuditedDeleteMixin, admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ("sku", "name", "merchant", "category", "brand", "price", "active", "is_placeholder")
    list_filter = ("active", "is_placeholder", "merchant")
    list_select_related = ("merchant", "category")
    show_full_result_count = False  # millions of rows across merchants: skip the second COUNT(*)
    search_fields = ("sku", "name", "brand")
    autocomplete_fields = ("merchant", "category")
    readonly_fields = ("created_at", "updated_at")
    fields = (
        "merchant",
        "sku",
        "name",
        "category",
        "brand",
        "price",
        "active",
        "is_placeholder",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "merchant") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            product = Product.objects.get(pk=obj.pk)
            fields = {name: form.cleaned_data[name] for name in form.changed_data}
            services.product_update(product=product, actor=request.user, request=request, **fields)
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "merchant"}
            product = services.product_create(
                merchant=form.cleaned_data["merchant"], actor=request.user, request=request, **fields
            )
            obj.pk = product.pk
        obj.refresh_from_db()
