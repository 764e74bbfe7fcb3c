"""Serializers of the stores API: one for what partners send, one for what they get back.

The rules themselves live in ``stores.validation`` (shared with the pages, the CSV import and the services):
these serializers describe the shape for the OpenAPI schema and call those functions, so an error comes back
with the field it concerns (``attr``) before the service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from stores.models import Store, StoreStatus
from stores.validation import (
    STORE_CODE_HELP,
    STORE_CODE_MAX_LENGTH,
    WEEKDAYS,
    normalize_country,
    normalize_opening_hours,
    normalize_store_code,
    normalize_timezone,
    validate_store_code,
)


def _apply_rule(function: Callable[[Any], Any], value: Any) -> Any:
    """Run one of ``stores.validation``'s functions, raising its Django error as the serializer's."""
    try:
        return function(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(get_error_detail(exc)) from None


class OpeningHoursSerializer(serializers.Serializer):
    """Per weekday (``mon`` … ``sun``), a list of ``HH:MM-HH:MM`` intervals in the store's local time
    (24-hour clock, ``24:00`` allowed as an end, start before end, no overlaps). An empty list or a missing day
    means closed; overnight hours are two intervals. Answers always carry all seven days, intervals sorted."""

    def get_fields(self):
        return {
            day: serializers.ListField(
                child=serializers.CharField(help_text="HH:MM-HH:MM, e.g. 09:00-19:00"), required=False
            )
            for day in WEEKDAYS
        }

    def to_internal_value(self, data):
        # The shape, the weekdays and the intervals are checked by the shared rule (one message per day).
        return _apply_rule(normalize_opening_hours, data)


class StoreOutputSerializer(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code", help_text="ISO 3166-1 alpha-2 code.")
    opening_hours = OpeningHoursSerializer()

    class Meta:
        model = Store
        fields = [
            "code",
            "name",
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country",
            "latitude",
            "longitude",
            "timezone",
            "opening_hours",
            "opened_on",
            "status",
            "closed_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class StoreInputSerializer(serializers.Serializer):
    """A store as a partner sends it.

    - ``code`` is taken on create only: it identifies the store (URLs, imports) and is never changed.
    - PUT replaces the store: an optional field left out takes its default (blank, null, closed every day).
      PATCH changes only the fields sent.
    - ``status``/``closed_on`` change only when sent (a PUT without them neither closes nor reopens):
      ``{"status": "active"}`` reopens a closed store; ``POST .../close/`` is the way to close one.
    """

    code = serializers.CharField(
        max_length=STORE_CODE_MAX_LENGTH,
        help_text=f"The merchant's own store code, unique per merchant. {STORE_CODE_HELP}",
    )
    name = serializers.CharField(max_length=150)
    address_line1 = serializers.CharField(max_length=200, allow_blank=True, default="")
    address_line2 = serializers.CharField(max_length=200, allow_blank=True, default="")
    city = serializers.CharField(max_length=100, allow_blank=True, default="")
    region = serializers.CharField(max_length=100, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20, allow_blank=True, default="")
    country = serializers.CharField(
        max_length=100, help_text="ISO 3166-1 alpha-2 code, e.g. FR (alpha-3 codes and English names accepted)."
    )
    latitude = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        min_value=-90,
        max_value=90,
        allow_null=True,
        default=None,
        help_text="Decimal degrees, rounded to 6 places; give latitude and longitude together.",
    )
    longitude = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        min_value=-180,
        max_value=180,
        allow_null=True,
        default=None,
        help_text="Decimal degrees, rounded to 6 places; give latitude and longitude together.",
    )
    timezone = serializers.CharField(
        max_length=64, help_text="IANA time zone of the store, e.g. Europe/Paris. Defaults to the merchant's."
    )
    opening_hours = OpeningHoursSerializer(default=dict)
    opened_on = serializers.DateField(allow_null=True, default=None)
    status = serializers.ChoiceField(choices=StoreStatus.choices, required=False)
    closed_on = serializers.DateField(
        allow_null=True, required=False, help_text="Only for a closed store: the last trading day."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields.pop("code")
        else:
            self.fields["timezone"].required = False

    def validate_code(self, value: str) -> str:
        code = normalize_store_code(value)
        _apply_rule(validate_store_code, code)
        if self.context["tenant"].scope(Store).filter(code=code).exists():
            raise serializers.ValidationError(f"A store with code {code} already exists.", code="unique")
        return code

    def validate_country(self, value: str) -> str:
        return _apply_rule(normalize_country, value)

    def validate_timezone(self, value: str) -> str:
        return _apply_rule(normalize_timezone, value)


class StoreCloseSerializer(serializers.Serializer):
    closed_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="The last trading day; defaults to today in the store's time zone. Not in the future.",
    )
