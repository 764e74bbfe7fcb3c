"""Helpers shared by the parser tests: an unsaved merchant (parsers read only its currency and timezone) and
CSV files built from rows given as {column: value}."""

import csv
import io

from merchants.models import Merchant


def unsaved_merchant(currency="USD", tz="America/New_York", *, name="Shop", slug="shop") -> Merchant:
    return Merchant(name=name, slug=slug, currency=currency, timezone=tz)


def csv_bytes(header: list[str], rows, *, lineterminator: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return out.getvalue().encode()
