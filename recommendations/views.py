"""The recommendations editor under ``/m/<merchant>/recommendations/``.

One page (``editor``) finds a product, shows its pins (reorder by drag and drop or with the move buttons),
exclusions and learnt suggestions with their evidence for one scope (all channels, online, in store, chosen
stores), adds rules, and previews what a shopper sees (the resolver, loaded with htmx). Around it: the list of
every rule with CSV import and export, the recompute button with its progress bar, and the evaluation numbers.

Who may do what: every role reads. Owners and admins (``Perm.MANAGE_RECOMMENDATIONS``) change any rule and
recompute; a store manager changes only rules scoped to their stores, and sees only those rules.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import FormView, TemplateView, View

from catalog.models import Category, Product
from core.forms import add_service_errors
from core.views import CsvImportPageMixin
from merchants.models import Role
from merchants.tenancy import MerchantViewMixin, Perm
from stores.models import Store

from .evaluate import recommendations_evaluate
from .forms import RuleForm, ScopeForm
from .models import RecommendationJob, RecommendationRule, RecommendationRuleStore, RuleKind, SuggestionScope
from .rules import (
    RULE_CSV_SPEC,
    make_scope,
    rule_create,
    rule_delete,
    rule_list_ordering,
    rule_scope,
    rule_warnings,
    rules_export_csv,
    rules_import_csv,
    rules_in_scope,
    rules_reorder,
)
from .selectors import product_suggestions, recommend, recommendation_state_get
from .services import recommendation_compute_request

SEARCH_RESULTS = 20
PREVIEW_LIMIT = 10
EVALUATION_CACHE_SECONDS = 24 * 3600


def evidence_text(reason: dict[str, Any]) -> str:
    """A reason as a merchant reads it: "bought together in 41 baskets — 38% of baskets with this product,
    lift 6.2; 30 in stores, 11 online"."""
    kind = reason.get("kind")
    if kind == "bought_together":
        return (
            f"bought together in {reason['shared_baskets']} baskets — {reason['confidence']:.0%} of baskets with "
            f"this product, lift {reason['lift']:.1f}; {reason['baskets_offline']} in stores, "
            f"{reason['baskets_online']} online"
        )
    if kind == "bought_later":
        return (
            f"bought later by {reason['customers']} customers — {reason['confidence']:.0%} of customers who bought "
            f"this product, lift {reason['lift']:.1f}"
        )
    if kind == "pinned":
        return "pinned by hand" + (" (category rule)" if reason.get("rule_for") == "category" else "")
    return {"trending": "trending (recent sales)", "bestseller": "bestseller"}.get(kind, str(kind))


def suggestion_reason(row) -> dict[str, Any]:
    if row.kind == "bought_later":
        return {"kind": row.kind, "customers": row.support, "confidence": row.confidence, "lift": row.lift}
    return {
        "kind": row.kind,
        "shared_baskets": row.support,
        "confidence": row.confidence,
        "lift": row.lift,
        "baskets_offline": row.baskets_offline,
        "baskets_online": row.baskets_online,
    }


class RecommendationsPageMixin(MerchantViewMixin):
    """Resolves who may edit which rules (see the module docstring)."""

    @property
    def can_edit(self) -> bool:
        if self.tenant.has(Perm.MANAGE_RECOMMENDATIONS):
            return True
        return self.tenant.role == Role.STORE_MANAGER and bool(self.tenant.store_ids)

    @property
    def allowed_store_ids(self) -> frozenset[int] | None:
        if self.tenant.has(Perm.MANAGE_RECOMMENDATIONS) or self.tenant.role != Role.STORE_MANAGER:
            return None  # every rule (analysts see them all, and change none: see ``require_edit``)
        return self.tenant.store_ids or frozenset()

    def require_edit(self) -> None:
        if not self.can_edit:
            raise PermissionDenied("Your role does not allow changing recommendation rules.")

    def visible_rules(self, queryset: QuerySet | None = None) -> QuerySet:
        """The rules this user sees: all of them, or for a store manager those scoped to their stores only."""
        queryset = self.tenant.scope(queryset if queryset is not None else RecommendationRule.objects.all())
        if self.tenant.has(Perm.MANAGE_RECOMMENDATIONS) or self.tenant.role != Role.STORE_MANAGER:
            return queryset
        allowed = list(self.tenant.store_ids or ())
        links = RecommendationRuleStore.objects.filter(rule_id=OuterRef("pk"))
        return queryset.filter(Exists(links)).exclude(Exists(links.exclude(store_id__in=allowed)))

    def scope_stores(self) -> QuerySet:
        return self.tenant.scope(Store).order_by("code")

    def back_to_editor(self) -> str:
        """The editor URL the user came from (product and scope kept), from the POSTed ``back`` query string."""
        back = self.request.POST.get("back") or self.request.GET.get("back") or ""
        url = reverse("recommendations:editor", args=[self.tenant.merchant.slug])
        # Only a query string is taken from the request, re-encoded: the redirect always stays on the editor.
        query = urlencode(list(QueryDict(back.lstrip("?")).lists()), doseq=True)
        return f"{url}?{query}" if query else url

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["nav"] = "recommendations"
        context["can_edit"] = self.can_edit
        context["can_compute"] = self.tenant.has(Perm.MANAGE_RECOMMENDATIONS)
        return context


class EditorView(RecommendationsPageMixin, TemplateView):
    """``GET``: the editor for ``?product=SKU`` (or ``?category=NAME``, the rules of every product of a category)
    in the scope ``&scope=all|online|offline|stores&stores=CODE``. ``POST``: add a rule there."""

    template_name = "recommendations/editor.html"

    def scope_form(self, data) -> ScopeForm:
        restricted = not self.tenant.has(Perm.MANAGE_RECOMMENDATIONS) and self.tenant.role == Role.STORE_MANAGER
        form = ScopeForm(data, stores=self.scope_stores(), restricted=restricted)
        form.is_valid()
        return form

    def get_product(self, sku: str) -> Product | None:
        if not sku:
            return None
        return self.tenant.scope(Product).select_related("category").filter(sku=sku).first()

    def get_category(self, name: str) -> Category | None:
        if not name:
            return None
        return self.tenant.scope(Category).filter(name__iexact=name).first()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        merchant = self.tenant.merchant
        data = self.request.POST if self.request.method == "POST" else self.request.GET
        sku = (data.get("product") or "").strip()
        category_name = "" if sku else (data.get("category") or "").strip()
        product = kwargs.get("product") or self.get_product(sku)
        category = kwargs.get("category") or self.get_category(category_name)
        scope_form = kwargs.get("scope_form") or self.scope_form(data)
        scope = scope_form.cleaned_data.get("scope", "all") if hasattr(scope_form, "cleaned_data") else "all"
        stores = scope_form.cleaned_data.get("stores", []) if hasattr(scope_form, "cleaned_data") else []
        status = recommendation_state_get(merchant=merchant)
        scope_query = {
            "product": sku,
            "category": category.name if category else "",
            "scope": scope,
            "stores": [store.code for store in stores],
        }
        context.update(
            sku=sku,
            product=product,
            category=category,
            unknown_sku=bool(sku) and product is None,
            unknown_category=bool(category_name) and category is None,
            scope_form=scope_form,
            scope=scope,
            scope_stores=stores,
            back=urlencode({key: value for key, value in scope_query.items() if value}, doseq=True),
            status=status,
            job=status.latest_job,
            job_active=status.latest_job is not None and not status.latest_job.is_finished,
            rule_form=kwargs.get("rule_form") or RuleForm(),
            preview_stores=self.scope_stores(),
        )
        if product is None and category is None:
            return context
        rule_scope = make_scope(
            product.pk if product else None,
            category.pk if category else None,
            "all" if scope == "stores" else scope,
            [store.pk for store in stores],
        )
        rules = rules_in_scope(merchant=merchant, scope=rule_scope) if self.can_see_scope(scope, stores) else []
        suggestions: list[dict[str, Any]] = []
        suggestion_scope, suggestion_store = self.suggestion_scope(scope, stores)
        preview_product = product
        if product is not None:
            ruled = {rule.target_id for rule in rules}
            suggestions = [
                {"row": row, "text": evidence_text(suggestion_reason(row)), "ruled": row.partner_id in ruled}
                for row in product_suggestions(
                    merchant=merchant, product=product, scope=suggestion_scope, store=suggestion_store, limit=20
                )
            ]
        else:  # a category: preview what shoppers see next to one of its products
            preview_product = self.tenant.scope(Product).filter(category=category).order_by("sku").first()
        context.update(
            pins=[{"rule": rule, "warnings": rule_warnings(rule)} for rule in rules if rule.kind == RuleKind.PIN],
            exclusions=[rule for rule in rules if rule.kind == RuleKind.EXCLUDE],
            suggestions=suggestions,
            suggestion_scope_label=self.suggestion_scope_label(suggestion_scope, suggestion_store),
            preview_product=preview_product,
            preview_channel="offline" if scope in ("offline", "stores") else "online",
            preview_store=stores[0] if stores else None,
        )
        return context

    def can_see_scope(self, scope: str, stores: list[Store]) -> bool:
        if self.allowed_store_ids is None:
            return True
        return scope == "stores" and bool(stores) and {store.pk for store in stores} <= self.allowed_store_ids

    @staticmethod
    def suggestion_scope(scope: str, stores: list[Store]) -> tuple[str, Store | None]:
        if scope == "stores" and stores:
            return SuggestionScope.STORE, stores[0]
        if scope in ("online", "offline"):
            return scope, None
        return SuggestionScope.ALL, None

    @staticmethod
    def suggestion_scope_label(scope: str, store: Store | None) -> str:
        if store is not None:
            return f"in store {store.code}"
        return {"online": "online baskets", "offline": "in-store baskets"}.get(scope, "all baskets")

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.require_edit()
        scope_form = self.scope_form(request.POST)
        rule_form = RuleForm(request.POST)
        sku = (request.POST.get("product") or "").strip()
        category_name = "" if sku else (request.POST.get("category") or "").strip()
        product = self.get_product(sku)
        category = self.get_category(category_name)
        block = request.POST.get("kind") == RuleKind.BLOCK
        if rule_form.is_valid() and scope_form.is_valid() and (product or category or block):
            values = {**rule_form.rule_fields(), **scope_form.rule_fields()}
            if not block:
                values.update({"product": product} if product else {"category": category})
            try:
                rule = rule_create(
                    merchant=self.tenant.merchant,
                    actor=request.user,
                    request=request,
                    allowed_store_ids=self.allowed_store_ids,
                    **values,
                )
            except ValidationError as exc:
                add_service_errors(rule_form, exc)
            else:
                done = {"pin": "pinned", "exclude": "excluded", "block": "blocked"}[rule.kind]
                messages.success(request, f"{rule.target.sku} {done}.")
                for warning in rule_warnings(rule):
                    messages.warning(request, warning)
                return HttpResponseRedirect(self.back_to_editor())
        elif product is None and category is None and not block:
            if sku:
                rule_form.add_error(None, f"Unknown product SKU {sku}.")
            elif category_name:
                rule_form.add_error(None, f"Unknown category {category_name}.")
            else:
                rule_form.add_error(None, "Choose a product first.")
        context = self.get_context_data(rule_form=rule_form, scope_form=scope_form, product=product, category=category)
        return self.render_to_response(context, status=400)


class ProductSearchView(RecommendationsPageMixin, View):
    """``GET ?q=``: products whose SKU or name contains the text, and categories whose name does (htmx partial of
    the editor's search: a category opens its rules, which apply to every product of it)."""

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        text = (request.GET.get("q") or "").strip()
        products: list[Product] = []
        categories: list[Category] = []
        if text:
            categories = list(
                self.tenant.scope(Category).filter(name__icontains=text).order_by("name").only("name")[:5]
            )
            products = list(
                self.tenant.scope(Product)
                .filter(Q(sku__icontains=text) | Q(name__icontains=text))
                .order_by("sku")
                .only("sku", "name", "active", "is_placeholder")[:SEARCH_RESULTS]
            )
        return render(
            request,
            "recommendations/_search_results.html",
            {
                "merchant": self.tenant.merchant,
                "products": products,
                "categories": categories,
                "q": text,
                "limit": SEARCH_RESULTS,
            },
        )


class PreviewView(RecommendationsPageMixin, View):
    """``GET ?product=SKU&channel=online|offline&store=CODE``: what a shopper sees (the resolver), htmx partial."""

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = self.tenant.merchant
        product = self.tenant.scope(Product).filter(sku=request.GET.get("product", "")).first()
        channel = request.GET.get("channel") if request.GET.get("channel") in ("online", "offline") else "online"
        store = None
        code = (request.GET.get("store") or "").strip()
        if code and channel == "offline":
            store = self.tenant.get_object(Store, code=code)
        result = None
        items: list[dict[str, Any]] = []
        if product is not None:
            result = recommend(merchant=merchant, product=product, store=store, channel=channel, limit=PREVIEW_LIMIT)
            items = [{"item": item, "why": evidence_text(item.reason)} for item in result.items]
        return render(
            request,
            "recommendations/_preview.html",
            {
                "merchant": merchant,
                "product": product,
                "result": result,
                "items": items,
                "channel": channel,
                "store": store,
            },
        )


class RuleObjectMixin(RecommendationsPageMixin):
    """A view about one rule: someone else's (or one a store manager may not see) is a 404, whatever the method."""

    def get_rule(self) -> RecommendationRule:
        queryset = self.visible_rules(RecommendationRule.objects.select_related("product", "category", "target"))
        return self.tenant.get_object(queryset, pk=self.kwargs["pk"])

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.get_rule()
        return HttpResponseRedirect(self.back_to_editor())


class RuleDeleteView(RuleObjectMixin, View):
    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        rule = self.get_rule()
        self.require_edit()
        try:
            rule_delete(
                merchant=self.tenant.merchant,
                rule=rule,
                actor=request.user,
                request=request,
                allowed_store_ids=self.allowed_store_ids,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Rule removed: {rule.get_kind_display().lower()} of {rule.target.sku}.")
        return HttpResponseRedirect(self.back_to_editor())


class RuleMoveView(RuleObjectMixin, View):
    """``POST direction=up|down``: the keyboard (and no-JavaScript) way to reorder pins."""

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        rule = self.get_rule()
        self.require_edit()
        pins = [
            other.pk
            for other in rules_in_scope(merchant=self.tenant.merchant, scope=rule_scope(rule))
            if other.kind == RuleKind.PIN
        ]
        if rule.kind == RuleKind.PIN and rule.pk in pins:
            index = pins.index(rule.pk)
            new_index = index - 1 if request.POST.get("direction") == "up" else index + 1
            if 0 <= new_index < len(pins):
                pins[index], pins[new_index] = pins[new_index], pins[index]
                try:
                    rules_reorder(
                        merchant=self.tenant.merchant,
                        rule_ids=pins,
                        actor=request.user,
                        request=request,
                        allowed_store_ids=self.allowed_store_ids,
                    )
                except ValidationError as exc:
                    messages.error(request, " ".join(exc.messages))
                else:
                    messages.success(request, f"{rule.target.sku} moved to place {new_index + 1}.")
        return HttpResponseRedirect(self.back_to_editor() + f"#pin-{rule.pk}")


class RuleReorderView(RecommendationsPageMixin, View):
    """``POST`` a JSON body ``{"order": [rule ids]}`` (drag and drop): the new order of one scope's pins."""

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(self.back_to_editor())

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.require_edit()
        try:
            payload = json.loads(request.body or b"{}") if request.content_type == "application/json" else {}
        except ValueError:
            payload = {}
        order = payload.get("order") if isinstance(payload, dict) else None
        if order is None:
            order = request.POST.getlist("order")
        try:
            rule_ids = [int(value) for value in order]
        except (TypeError, ValueError):
            return HttpResponse("The order must list rule ids.", status=400, content_type="text/plain")
        if not rule_ids:
            return HttpResponse("Send the pins' ids in their new order.", status=400, content_type="text/plain")
        visible = set(self.visible_rules().filter(pk__in=rule_ids).values_list("pk", flat=True))
        if visible != set(rule_ids):
            return HttpResponse("Unknown pins: reload the page.", status=404, content_type="text/plain")
        try:
            rules_reorder(
                merchant=self.tenant.merchant,
                rule_ids=rule_ids,
                actor=request.user,
                request=request,
                allowed_store_ids=self.allowed_store_ids,
            )
        except ValidationError as exc:
            return HttpResponse(" ".join(exc.messages), status=400, content_type="text/plain")
        return HttpResponse(status=204)


class RuleListView(RecommendationsPageMixin, TemplateView):
    """Every rule this user sees (blocks, category rules, product rules), with CSV export and import links."""

    template_name = "recommendations/rule_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rules = list(
            self.visible_rules(RecommendationRule.objects.select_related("product", "category", "target"))
            .prefetch_related("stores")
            .order_by(*rule_list_ordering())
        )
        context["rules"] = [{"rule": rule, "warnings": rule_warnings(rule)} for rule in rules]
        return context


class RuleExportView(RecommendationsPageMixin, View):
    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        rules = (
            self.visible_rules(RecommendationRule.objects.select_related("product", "category", "target"))
            .prefetch_related("stores")
            .order_by("kind", "product__sku", "category__name", "channel", "position", "pk")
        )
        response = HttpResponse(rules_export_csv(rules), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.tenant.merchant.slug}-recommendation-rules.csv"'
        return response


class RuleImportView(RecommendationsPageMixin, CsvImportPageMixin, FormView):
    template_name = "recommendations/rule_import.html"
    spec = RULE_CSV_SPEC
    template_url_name = "recommendations:rule-import-template"
    success_url_name = "recommendations:rule-list"
    entity_label = "rules"

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.require_edit()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.require_edit()
        return super().post(request, *args, **kwargs)

    def run_import(self, *, file: Any, mode: str):
        return rules_import_csv(
            merchant=self.tenant.merchant,
            file=file,
            actor=self.request.user,
            request=self.request,
            mode=mode,
            allowed_store_ids=self.allowed_store_ids,
        )


class RuleImportTemplateView(RecommendationsPageMixin, View):
    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("example"):
            content, filename = RULE_CSV_EXAMPLE, "recommendation-rules-example.csv"
        else:
            content, filename = RULE_CSV_SPEC.template_csv(), "recommendation-rules-template.csv"
        response = HttpResponse(content.encode(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


RULE_CSV_EXAMPLE = (
    "kind,product,category,target,position,channel,stores,starts_on,ends_on\r\n"
    "pin,TEE-001,,TOTE-01,1,all,,,\r\n"
    "pin,TEE-001,,SOCK-3P,2,online,,2024-06-01,2024-06-30\r\n"
    "exclude,,Tops,GIFT-CARD,,all,,,\r\n"
    "pin,TEE-001,,MUG-01,1,all,PAR-01 LYO-01,,\r\n"
    "block,,,OLD-SKU-9,,all,,,\r\n"
)


class ComputeView(RecommendationsPageMixin, View):
    """``POST``: start a recomputation (owners and admins); shows its progress on the editor."""

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(self.back_to_editor())

    def post(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.tenant.require(Perm.MANAGE_RECOMMENDATIONS)
        job = recommendation_compute_request(merchant=self.tenant.merchant, actor=request.user, request=request)
        messages.success(request, f"Suggestions are being recomputed (job #{job.pk}).")
        return HttpResponseRedirect(self.back_to_editor() + "#status")


class JobProgressView(RecommendationsPageMixin, View):
    """The progress bar of a computation (htmx polls it every second while it runs)."""

    def http_method_not_allowed(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        self.tenant.get_object(RecommendationJob, pk=kwargs["pk"])  # someone else's job is a 404 whatever the method
        return super().http_method_not_allowed(request, *args, **kwargs)

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        job = self.tenant.get_object(RecommendationJob, pk=kwargs["pk"])
        response = render(
            request,
            "recommendations/_job_progress.html",
            {"merchant": self.tenant.merchant, "job": job, "active": not job.is_finished},
        )
        if job.is_finished and getattr(request, "htmx", False):
            response["HX-Refresh"] = "true"  # polling saw it finish: reload so the page shows the new suggestions
        return response


class EvaluationView(RecommendationsPageMixin, View):
    """The evaluation numbers (``recommendations.evaluate``: a time split, the model beside popularity), loaded by
    htmx when the section scrolls into view. Measuring re-learns on the data before the split, so the answer is
    kept in the cache for a day per computation (a recompute measures again)."""

    def get(self, request, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = self.tenant.merchant
        status = recommendation_state_get(merchant=merchant)
        key = f"reco:eval:{merchant.pk}:{status.current_job.pk if status.current_job else 0}"
        report = cache.get(key)
        if report is None:
            report = recommendations_evaluate(merchant=merchant)
            cache.set(key, report, timeout=EVALUATION_CACHE_SECONDS)
        return render(request, "recommendations/_evaluation.html", {"merchant": merchant, "report": report})
