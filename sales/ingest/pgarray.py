"""PostgreSQL array literals built by hand, for the ``= ANY(%s::text[])`` / ``unnest(%s::bigint[])`` parameters
of the ingest statements.

psycopg's list dumper checks every element with a regular expression (does it need quotes?), which costs more
than the rest of a 2,000-order batch's parameters together; here every text element is quoted and its
backslashes and double quotes escaped (the array input syntax), in one ``str.translate`` each. Pass the result
as an ordinary parameter and cast it in SQL (``%s::text[]``); NULL elements are not supported (none of the
callers has any).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def text_array(values: Iterable[str]) -> str:
    """``{"a","b\\"c"}`` for ``%s::text[]``."""
    items = values if type(values) is list else list(values)
    if not items:
        return "{}"
    joined = '","'.join(items)
    if "\\" in joined or joined.count('"') != 2 * (len(items) - 1):
        # some element has a backslash or a double quote: escape element by element
        joined = '","'.join([value.translate(_ESCAPES) for value in items])
    return '{"' + joined + '"}'


def int_array(values: Iterable[int]) -> str:
    """``{1,2,3}`` for ``%s::bigint[]``."""
    return "{" + ",".join([str(int(value)) for value in values]) + "}"


def timestamp_array(values: Iterable[datetime]) -> str:
    """``{"2026-01-02T03:04:05+00:00",...}`` for ``%s::timestamptz[]`` (aware datetimes)."""
    return "{" + ",".join([f'"{value.isoformat()}"' for value in values]) + "}"
