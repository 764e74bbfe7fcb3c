"""Numbers and money as they appear in sales files, read into ``Decimal`` (never float).

Two readers:

- :func:`parse_decimal` — plain decimals, as Shopify and the generic formats write them: ``56.29``, ``-3``,
  ``0.5``. A dot for decimals, no thousands separators, no currency, no exponent, no ``NaN``/``Infinity``.
- :class:`MoneyReader` — money as Square writes it: ``$8.00``, ``$1,250.00``, ``-$8.00``, ``($8.00)``,
  ``€12.50``, ``12,50 €``, ``£3.20``. The symbol is checked against the merchant's currency (a ``$`` in a file
  for a merchant selling in EUR is an error, not a silent conversion). Decimal comma is recognised when it is
  unambiguous: ``12,50`` (comma followed by exactly two digits, no dot) or ``1.250,00`` (comma after the last
  dot); ``1,250`` is one thousand two hundred and fifty.

Both raise :class:`ValueError` with a reason a merchant understands. Results are cached per distinct text
(prices repeat a lot in a file), in caches bounded in size so memory stays flat.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Largest magnitudes the database columns hold (numeric(12, 2) / numeric(14, 2), numeric(12, 3)).
MONEY_MAX = Decimal("9999999999.99")
QUANTITY_MAX = Decimal("999999999.999")
_CACHE_MAX = 20_000
_DIGITS = "0123456789"

NOT_A_NUMBER = "not a number (write it like 12.50: digits, a dot for decimals)"


def _plain(text: str) -> Decimal:
    body = text[1:] if text[:1] in "+-" else text
    # Decimal() alone would accept " 1e5", "1_000", "NaN" and "Infinity": a file meaning those is a mistake.
    if not body or body.strip(_DIGITS + ".") or body.count(".") > 1 or body == ".":
        raise ValueError(NOT_A_NUMBER)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the checks above leave nothing Decimal refuses
        raise ValueError(NOT_A_NUMBER) from None


class DecimalReader:
    """``parse_decimal`` with a cache and a bound: ``reader(text)`` returns a Decimal or raises ValueError."""

    __slots__ = ("_cache", "limit", "what")

    def __init__(self, *, limit: Decimal = MONEY_MAX, what: str = "amount"):
        self._cache: dict[str, Decimal] = {}
        self.limit = limit
        self.what = what

    def __call__(self, text: str) -> Decimal:
        try:
            return self._cache[text]
        except KeyError:
            pass
        value = _plain(text.strip())
        if abs(value) > self.limit:
            raise ValueError(f"{self.what} too large (at most {self.limit})")
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[text] = value
        return value


def parse_decimal(text: str, *, limit: Decimal = MONEY_MAX, what: str = "amount") -> Decimal:
    """A plain decimal (``-12.50``); raises ValueError("not a number ...") or ("... too large")."""
    value = _plain(text.strip())
    if abs(value) > limit:
        raise ValueError(f"{what} too large (at most {limit})")
    return value


# Currency symbols and the ISO codes each may stand for. The first code is the one named in errors.
# Longer symbols first: "US$" must not be read as "US" + "$".
CURRENCY_SYMBOLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("US$", ("USD",)),
    ("CA$", ("CAD",)),
    ("AU$", ("AUD",)),
    ("NZ$", ("NZD",)),
    ("HK$", ("HKD",)),
    ("MX$", ("MXN",)),
    ("R$", ("BRL",)),
    ("C$", ("CAD",)),
    ("A$", ("AUD",)),
    ("S$", ("SGD",)),
    # A bare "$" is what Square writes in the US, Canada and Australia alike.
    ("$", ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN")),
    ("€", ("EUR",)),
    ("£", ("GBP",)),
    ("¥", ("JPY", "CNY")),
    ("₹", ("INR",)),
    ("₩", ("KRW",)),
    ("CHF", ("CHF",)),
)
_SYMBOL_CHARS = frozenset("$€£¥₹₩")
_SPACES = (" ", "\u00a0", "\u202f")  # space, no-break space, narrow no-break space (French thousands)


class MoneyReader:
    """Read Square-style money for a merchant selling in ``currency``.

    ``reader(text)`` returns a Decimal or raises ValueError with the reason, e.g.
    ``"currency USD in a file for a merchant selling in EUR"``. An empty cell is an error too: callers decide
    beforehand whether a column may be empty.
    """

    __slots__ = ("_cache", "currency")

    def __init__(self, currency: str):
        self.currency = currency.upper()
        self._cache: dict[str, Decimal | str] = {}

    def __call__(self, text: str) -> Decimal:
        cached = self._cache.get(text)
        if cached is None:
            try:
                cached = self._read(text)
            except ValueError as exc:
                cached = str(exc)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[text] = cached
        if cached.__class__ is str:
            raise ValueError(cached)
        return cached  # type: ignore[return-value]

    def _read(self, text: str) -> Decimal:
        value = text.strip()
        negative = False
        if value.startswith("(") and value.endswith(")"):  # accounting style: ($8.00)
            negative, value = True, value[1:-1].strip()
        if value.startswith("-"):
            negative, value = not negative, value[1:].strip()
        elif value.startswith("+"):
            value = value[1:].strip()
        value = self._strip_symbol(value)
        if value.startswith("-") and not negative:  # $-8.00
            negative, value = True, value[1:].strip()
        number = _number_with_separators(value)
        if number is None:
            raise ValueError("not an amount of money (expected something like $1,250.00 or ($8.00))")
        if number > MONEY_MAX:
            raise ValueError(f"amount too large (at most {MONEY_MAX})")
        return -number if negative else number

    def _strip_symbol(self, value: str) -> str:
        for symbol, codes in CURRENCY_SYMBOLS:
            if value.startswith(symbol):
                rest = value[len(symbol) :]
            elif value.endswith(symbol):
                rest = value[: -len(symbol)]
            else:
                continue
            if self.currency not in codes:
                raise ValueError(f"currency {codes[0]} in a file for a merchant selling in {self.currency}")
            return rest.strip()
        # An ISO code written out: "EUR 12.50" / "12.50 EUR".
        head, tail = value[:3], value[-3:]
        for code, rest in ((head, value[3:]), (tail, value[:-3])):
            if len(code) == 3 and code.isalpha() and code.isupper():
                if code != self.currency:
                    raise ValueError(f"currency {code} in a file for a merchant selling in {self.currency}")
                return rest.strip()
        if any(char in _SYMBOL_CHARS for char in value):
            raise ValueError("not an amount of money (unknown currency symbol)")
        return value


def _number_with_separators(value: str) -> Decimal | None:
    """``1,250.00`` / ``1 250,00`` / ``1.250,00`` / ``12,50`` / ``8`` -> Decimal; None if it is not a number."""
    for space in _SPACES:
        if space in value:
            value = value.replace(space, "")
    if not value:
        return None
    last_dot, last_comma = value.rfind("."), value.rfind(",")
    if last_comma > last_dot and (last_dot >= 0 or len(value) - last_comma - 1 != 3):
        # Decimal comma: "1.250,00" or "12,50" (a comma followed by 3 digits alone is a thousands separator).
        whole, decimals = value[:last_comma].replace(".", ""), value[last_comma + 1 :]
    else:
        whole, decimals = value, ""
        if last_dot >= 0:
            whole, decimals = value[:last_dot], value[last_dot + 1 :]
        whole = whole.replace(",", "")
    if not whole and not decimals:
        return None
    if whole.strip(_DIGITS) or decimals.strip(_DIGITS):
        return None
    return Decimal(f"{whole or '0'}.{decimals}" if decimals else whole)
