"""What every sales file parser shares: reading bytes as a stream, decoding, CSV records with their line
numbers, header checks, format detection, dates and times, errors.

Streaming: the file is read in 64 KiB chunks (``_CountingReader`` counts them for progress), decoded
incrementally as UTF-8 (a byte-order mark is dropped) and split into records by the ``csv`` module; nothing
keeps more than the order being assembled, so memory stays flat whatever the file size.

Encoding errors do not stop the file: an invalid byte is decoded to a lone surrogate (``surrogateescape``) by a
counting error handler, and once the handler has fired the rows are checked for such characters: the row that
holds one becomes a :class:`RowError` naming the row, the column and the byte, and the rest of the file goes on.

Row numbers are physical line numbers (the header is line 1); a record whose quoted cell spans lines is
reported at its first line, and the lines after it keep their true numbers.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import IO, Any

from sales.ingest.types import RowError
from sales.models import ImportFormat

CHUNK_SIZE = 64 * 1024
VALUE_MAX_LENGTH = 120  # characters of a bad value repeated in an error
EXTERNAL_ID_MAX_LENGTH = 128  # sales.models.Order.external_id
SKU_MAX_LENGTH = 64  # catalog.models.Product.sku
PRODUCT_NAME_MAX_LENGTH = 255
CATEGORY_MAX_LENGTH = 120
CUSTOMER_NAME_MAX_LENGTH = 200
HEADER_ROW = 1

SAVE_AS_HINT = "Save it from your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file."


class FileProblem(Exception):
    """The file as a whole cannot be read (empty, binary, bad header): one error, then nothing else."""

    def __init__(self, reason: str, *, row: int = HEADER_ROW, column: str = "", value: str = ""):
        super().__init__(reason)
        self.error = row_error(row, column, value, reason)


def shorten(value: Any) -> str:
    """A value as shown in an error: undecodable bytes as U+FFFD, at most ``VALUE_MAX_LENGTH`` characters."""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if len(text) > VALUE_MAX_LENGTH:
        text = text[: VALUE_MAX_LENGTH - 1] + "…"
    return text


def row_error(row: int, column: str, value: Any, reason: str) -> RowError:
    return RowError(ref=f"row {row}", column=column, value=shorten(value), reason=reason, row=row)


def rows_ref(first: int, last: int) -> str:
    return f"row {first}" if first == last else f"rows {first}-{last}"


def row_from_ref(ref: str) -> int | None:
    """The first line number in a parser's ref ("row 12", "rows 12-14", "row 5, lines[1]"), else None."""
    words = ref.split(" ", 1)
    if len(words) != 2 or words[0] not in ("row", "rows"):
        return None
    digits = words[1].split("-", 1)[0].split(",", 1)[0]
    return int(digits) if digits.isdigit() else None


# --- bytes in, text out -------------------------------------------------------------------------------

# Bumped by the decoder's error handler: while it has not moved, no row can hold an undecodable byte, so rows
# are only scanned for them in files that have some. Process-wide on purpose: a parse compares the value with
# the one it started with, and a bump caused by another file only costs a scan that finds nothing.
_BAD_BYTES_SEEN = [0]
_ERROR_HANDLER = "newretail-sales-parsers"


def _escape_and_count(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _BAD_BYTES_SEEN[0] += 1
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), exc.end


codecs.register_error(_ERROR_HANDLER, _escape_and_count)


def undecodable_byte(text: str) -> int | None:
    """The first byte of ``text`` that was not UTF-8 (decoded to a lone surrogate), else None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ord(exc.object[exc.start]) - 0xDC00
    return None


def not_utf8_reason(byte: int) -> str:
    return (
        f"not UTF-8 text: contains the byte 0x{byte:02X}, typical of a file saved as Latin-1 or Windows-1252. "
        + SAVE_AS_HINT
    )


class _CountingReader(io.RawIOBase):
    """The caller's binary file as a raw stream that counts the bytes read (for progress) and notes NUL bytes."""

    def __init__(self, fileobj: IO[bytes]):
        super().__init__()
        self._file = fileobj
        self.bytes_read = 0
        self.nul_seen = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._file.read(len(buffer))
        if not data:
            return 0
        if isinstance(data, str):
            raise TypeError("sales parsers read binary files: open the file with mode 'rb'")
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        if b"\x00" in data:
            self.nul_seen = True
        return size


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel workbook or a ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"SQLite format 3", "an SQLite database"),
)


class TextStream:
    """The decoded text of a binary file, with what the checks on the first chunk found."""

    def __init__(self, fileobj: IO[bytes]):
        if hasattr(fileobj, "seek"):
            # A pipe or a non-seekable upload: read from where it is.
            with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                fileobj.seek(0)
        self.raw = _CountingReader(fileobj)
        buffered = io.BufferedReader(self.raw, buffer_size=CHUNK_SIZE)
        head = buffered.peek(CHUNK_SIZE)[:CHUNK_SIZE]
        _check_head(head)
        self.text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors=_ERROR_HANDLER, newline="")
        self.text._CHUNK_SIZE = CHUNK_SIZE  # decode in big chunks: fewer round trips per line
        self.head = head.decode("utf-8-sig", "replace")
        self.bad_bytes_mark = _BAD_BYTES_SEEN[0]

    @property
    def bytes_read(self) -> int:
        return self.raw.bytes_read

    def needs_scan(self) -> bool:
        """True once an undecodable or NUL byte was met anywhere: rows must then be checked one by one."""
        return self.bad_bytes_mark != _BAD_BYTES_SEEN[0] or self.raw.nul_seen


def _check_head(head: bytes) -> None:
    if not head.strip(b" \t\r\n"):
        raise FileProblem("The file is empty.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem(f"Not a CSV file: it is encoded as UTF-16, not UTF-8. {SAVE_AS_HINT}")
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            raise FileProblem(f"Not a CSV file: this is {kind}. {SAVE_AS_HINT}")
    if b"\x00" in head:
        raise FileProblem(f"Not a CSV file: it contains binary data (NUL bytes). {SAVE_AS_HINT}")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"<":
        raise FileProblem("Not a CSV file: it looks like an HTML or XML document.")
    # Text files have few control characters; executables and most binary formats are full of them.
    sample = head[:4096]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    if controls > len(sample) // 20:
        raise FileProblem(f"Not a CSV file: it contains binary data. {SAVE_AS_HINT}")


# --- CSV records --------------------------------------------------------------------------------------


class CsvRows:
    """CSV records of a :class:`TextStream` as ``(row, cells, error)``.

    ``row`` is the record's first line; ``error`` a RowError when the record could not be read: bad quoting
    (``cells`` is then None), an undecodable or NUL byte (``cells`` as read, to tell which order the row belongs
    to). Blank lines are skipped. ``header`` (set by the caller) names the columns in errors."""

    def __init__(self, stream: TextStream):
        self.stream = stream
        self.delimiter = sniff_delimiter(stream.head)
        self.reader = csv.reader(stream.text, delimiter=self.delimiter, strict=True)
        self.records = 0
        self.header: list[str] = []
        self._records = self._generate()  # one generator: reading the header then the rest continues it

    def __iter__(self) -> Iterator[tuple[int, list[str] | None, RowError | None]]:
        return self._records

    def _generate(self) -> Iterator[tuple[int, list[str] | None, RowError | None]]:
        # The hot loop of every CSV import: plain locals, the scan check inlined.
        reader = self.reader
        raw = self.stream.raw
        mark = self.stream.bad_bytes_mark
        seen = _BAD_BYTES_SEEN
        line = 0  # physical lines consumed so far
        while True:
            try:
                for cells in reader:
                    row = line + 1
                    line = reader.line_num
                    if len(cells) < 2 and not (cells and cells[0].strip()):
                        continue  # a blank line
                    self.records += 1
                    if seen[0] != mark or raw.nul_seen:
                        problem = self._scan(row, cells)
                        if problem is not None:
                            yield row, cells, problem  # the cells still tell which order the row belongs to
                            continue
                    yield row, cells, None
                return
            except csv.Error as exc:
                row = line + 1
                line = reader.line_num
                self.records += 1
                yield row, None, row_error(row, "", "", _csv_reason(str(exc)))

    def _scan(self, row: int, cells: list[str]) -> RowError | None:
        for index, cell in enumerate(cells):
            column = self.header[index] if index < len(self.header) else ""
            byte = undecodable_byte(cell)
            if byte is not None:
                return row_error(row, column, cell, not_utf8_reason(byte))
            if "\x00" in cell:
                return row_error(row, column, cell.replace("\x00", "\ufffd"), "contains binary data (a NUL byte)")
        return None


def sniff_delimiter(head: str) -> str:
    """Comma, semicolon (spreadsheets in many European locales) or tab, whichever the first line uses most."""
    first_line = head.lstrip("\ufeff").split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _csv_reason(message: str) -> str:
    if "unexpected end of data" in message:
        return "not valid CSV: the file ends inside a quoted value (a quote is not closed: truncated row?)"
    if "field larger than field limit" in message:
        return "not valid CSV: a value is far too long (a quote that is never closed?)"
    return f"not valid CSV: {message} (a quote inside a value must be doubled)"


def normalise_column(name: str) -> str:
    return " ".join(name.split()).casefold()


class Header:
    """The header row: column positions by name, matched without regard to case or surrounding spaces."""

    def __init__(self, cells: list[str]):
        names = list(cells)
        while names and not names[-1].strip():
            names.pop()  # trailing empty cells, as spreadsheets sometimes write
        self.names = names
        self.positions: dict[str, int] = {}
        self.repeated: list[str] = []
        for index, name in enumerate(names):
            key = normalise_column(name)
            if key in self.positions:
                self.repeated.append(name.strip())
            else:
                self.positions[key] = index

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The position of ``name`` or -1."""
        return self.positions.get(normalise_column(name), -1)

    def missing(self, required: tuple[str, ...]) -> list[str]:
        return [name for name in required if normalise_column(name) not in self.positions]

    def unknown(self, known: tuple[str, ...]) -> list[str]:
        known_keys = {normalise_column(name) for name in known}
        return [name.strip() or "(empty)" for name in self.names if normalise_column(name) not in known_keys]


def is_blank(cells: list[str]) -> bool:
    """A row of empty cells (",,,,," as spreadsheets write after the data): ignored."""
    return not any(cell.strip() for cell in cells)


def length_error(row: int, cells: list[str], expected: int) -> RowError | None:
    """A record with missing values, or more values than the header has columns (empty extras are fine)."""
    if len(cells) < expected:
        return row_error(
            row,
            "",
            ",".join(cells),
            f"the row has {len(cells)} values but the header has {expected} columns (truncated row?)",
        )
    if any(cell.strip() for cell in cells[expected:]):
        return row_error(
            row,
            "",
            ",".join(cells[expected:]),
            f"the row has {len(cells)} values but the header has {expected} columns "
            "(a comma inside a value needs quotes)",
        )
    return None


# --- formats ------------------------------------------------------------------------------------------

SHOPIFY_ORDERS = ImportFormat.SHOPIFY_ORDERS.value
SQUARE_ITEMS = ImportFormat.SQUARE_ITEMS.value
GENERIC_CSV = ImportFormat.GENERIC_CSV.value
GENERIC_JSONL = ImportFormat.GENERIC_JSONL.value
FORMATS: tuple[str, ...] = (SHOPIFY_ORDERS, SQUARE_ITEMS, GENERIC_CSV, GENERIC_JSONL)
FORMAT_LABELS: dict[str, str] = dict(ImportFormat.choices)

# Columns that identify a header, checked in this order (the formats' required columns are checked after).
_SIGNATURES_BY_FORMAT: tuple[tuple[str, frozenset[str]], ...] = (
    (SHOPIFY_ORDERS, frozenset({"name", "lineitem quantity"})),
    (SQUARE_ITEMS, frozenset({"transaction id", "gross sales"})),
    (GENERIC_CSV, frozenset({"order_id", "placed_at"})),
)


def detect_format(header: list[str]) -> str | None:
    """The CSV format a header row belongs to (``shopify-orders``, ``square-items``, ``generic-csv``), or
    None. Column names are compared without regard to case and surrounding spaces; extra columns don't matter.
    JSON lines files have no header: :func:`sales.parsers.parse` recognises them by their first character."""
    names = {normalise_column(name) for name in header}
    for name, signature in _SIGNATURES_BY_FORMAT:
        if signature <= names:
            return name
    return None


def looks_like_jsonl(head: str) -> bool:
    return head.lstrip("\ufeff \t\r\n")[:1] == "{"


# --- dates and times ----------------------------------------------------------------------------------


def parse_aware_datetime(text: str) -> datetime:
    """ISO 8601 with a UTC offset: ``2026-09-03T10:14:00-04:00``, ``...Z``, Shopify's
    ``2026-09-03 10:14:00 -0400``. Raises ValueError with a merchant-readable reason."""
    value = text.strip()
    if len(value) > 20 and value[-6] == " " and value[-5] in "+-":  # Shopify: "... 10:14:00 -0400"
        value = value[:-6] + value[-5:]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "not a date and time (expected ISO 8601 with a UTC offset, like 2026-09-03T10:14:00-04:00)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError("the date and time has no UTC offset (add one, like 2026-09-03T10:14:00-04:00 or ...Z)")
    return parsed


def format_local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def localize(naive: datetime, zone, zone_label: str) -> datetime:
    """Attach ``zone`` to a local wall time, explicitly.

    - A time inside a daylight-saving gap (spring forward: 02:30 on the night clocks jump from 02:00 to 03:00)
      never happened: ValueError "date 2026-03-29 02:30 does not exist in Europe/Paris (daylight-saving gap)".
    - A time that happened twice (fall back: 02:30 when clocks go from 03:00 back to 02:00) is taken as its
      first occurrence (``fold=0``, the daylight-saving one): the file cannot say which, and the first is what
      point-of-sale systems that record local time without offset mean in the vast majority of cases.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != naive:
        raise ValueError(f"date {format_local(naive)} does not exist in {zone_label} (daylight-saving gap)")
    return aware


def parse_date(text: str) -> date:
    """``2026-07-18`` or US ``07/18/2026``."""
    value = text.strip()
    try:
        if "/" in value:
            month, day, year = value.split("/")
            if len(year) != 4:
                raise ValueError
            return date(int(year), int(month), int(day))
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a date (expected 2026-07-18 or 07/18/2026, month first)") from None


def parse_time(text: str) -> time:
    """``12:59:30``, ``12:59``, ``9:05`` or ``1:05:30 PM``."""
    value = text.strip()
    upper = value.upper()
    meridiem = upper[-2:] if upper.endswith(("AM", "PM")) else ""
    if meridiem:
        value = value[:-2].strip()
    parts = value.split(":")
    try:
        if not 2 <= len(parts) <= 3 or not all(part.isdigit() and len(part) <= 2 for part in parts):
            raise ValueError
        hour, minute = int(parts[0]), int(parts[1])
        second = int(parts[2]) if len(parts) == 3 else 0
        if meridiem:
            if not 1 <= hour <= 12:
                raise ValueError
            hour = hour % 12 + (12 if meridiem == "PM" else 0)
        return time(hour, minute, second)
    except ValueError:
        raise ValueError("not a time of day (expected 12:59:30)") from None


# --- products and orders ------------------------------------------------------------------------------


def derive_sku(prefix: str, *parts: str) -> str:
    """A stable SKU for an item the source gives no SKU for: ``prefix`` + an upper-case slug of ``parts``,
    at most 64 characters (a long slug is cut and ends with a hash of the full name, so two long names that
    share a beginning stay distinct). The same name always gives the same SKU."""
    text = " ".join(part.strip() for part in parts if part and part.strip())
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = "".join(char if char.isalnum() else " " for char in ascii_text.upper()).split()
    slug = "-".join(words)
    digest = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:10].upper()
    if not slug:  # a name with no Latin letters or digits at all
        return f"{prefix}{digest}"
    sku = f"{prefix}{slug}"
    if len(sku) > SKU_MAX_LENGTH:
        sku = f"{sku[: SKU_MAX_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"
    return sku


class RecentOrderIds:
    """Notices an order id seen again after other orders came in between (an order's rows must be
    consecutive: its second part would otherwise overwrite the first on import).

    Memory stays flat: the ids of the last ``window``..``2 × window`` orders are remembered (two generations of
    a dict), which catches the real-world case — two sales of the same second interleaved in an export — without
    keeping every id of a multi-gigabyte file.
    """

    def __init__(self, window: int = 25_000):
        self.window = window
        self.current: dict[str, int] = {}
        self.previous: dict[str, int] = {}

    def first_row(self, external_id: str, row: int) -> int | None:
        """Remember ``external_id`` at ``row``; return the row where it appeared before, if it did."""
        seen = self.current.get(external_id)
        if seen is None:
            seen = self.previous.get(external_id)
        if seen is not None:
            return seen
        if len(self.current) >= self.window:
            self.previous, self.current = self.current, {}
        self.current[external_id] = row
        return None


def duplicate_order_error(row: int, column: str, external_id: str, first_row: int) -> RowError:
    return row_error(
        row,
        column,
        external_id,
        f"order {external_id} already appeared at row {first_row}: the rows of one order must be consecutive",
    )


@dataclass(slots=True)
class Context:
    """What a format reader needs to know about the merchant and the file."""

    currency: str
    timezone: str
    filename: str = ""
