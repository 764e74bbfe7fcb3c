"""Sales file parsers: Shopify orders, Square items, and the generic CSV / JSON lines formats.

Public API::

    from sales.parsers import parse, detect_format

    run = parse(fileobj, format=None, merchant=merchant, filename="orders.csv")
    run.format        # "shopify-orders" | "square-items" | "generic-csv" | "generic-jsonl" | None (unknown)
    for item in run:  # OrderInput (a complete order) or RowError (row, column, value, reason)
        ...
        run.bytes_read  # bytes consumed from the file so far: progress = run.bytes_read / file size
    run.rows_read     # data records read so far (CSV records or JSON lines, header and blank lines excluded)

- ``fileobj`` is a binary file (Django ``UploadedFile``, ``FieldFile`` opened in ``rb``, ``open(path, "rb")``).
  It is read from the start (rewound when it can seek) in 64 KiB chunks; memory does not grow with its size.
- ``format`` None: detected from the header (or from a first ``{`` for JSON lines). The format and the header
  are read when ``parse`` is called, so ``run.format`` is known before the first item.
- File-level problems (empty file, binary or non-CSV file, unknown format, missing required columns) give one
  ``RowError`` at row 1 and nothing else. Row-level problems give ``RowError`` s naming the row (the line
  number in the file, header = 1, a multi-line record counts from its first line), the column, the value
  (shortened) and the reason; an order with any error is left out whole (never half an order) and the
  following orders go on.
- ``bytes_read`` counts what was pulled from the file, which runs ahead of the items by the read buffers (at most
  about 128 KiB); it equals the file size once the iterator is exhausted.
- Local times without offset (Square) are made aware explicitly: a time inside a daylight-saving gap is an
  error ("date 2026-03-29 02:30 does not exist in Europe/Paris (daylight-saving gap)"); a time that happened
  twice (clocks going back) is taken as its first occurrence (``fold=0``).
- The rows of one order must be consecutive: an order id that comes back after other orders is an error on the
  later rows (noticed within a window of the last 25,000–50,000 orders, so memory stays flat).
- Orders come out in file order. Their ``ref`` is ``"row 12"`` / ``"rows 12-14"``; line refs are ``"row 13"``
  (JSON lines: ``"row 5, lines[1]"``). :func:`row_from_ref` turns a ref back into its first row number.

Formats are described in ``docs/formats/generic.md`` (ours) and ``../shared/formats/`` (the vendors').
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from sales.ingest.types import OrderInput, RowError

from . import generic, shopify, square
from .base import (
    FORMAT_LABELS,
    FORMATS,
    GENERIC_CSV,
    GENERIC_JSONL,
    HEADER_ROW,
    SHOPIFY_ORDERS,
    SQUARE_ITEMS,
    Context,
    CsvRows,
    FileProblem,
    Header,
    TextStream,
    detect_format,
    looks_like_jsonl,
    row_error,
    row_from_ref,
    shorten,
)

__all__ = [
    "FORMATS",
    "GENERIC_CSV",
    "GENERIC_JSONL",
    "SHOPIFY_ORDERS",
    "SQUARE_ITEMS",
    "ParseRun",
    "detect_format",
    "parse",
    "row_error",
    "row_from_ref",
    "shorten",
]

# CSV formats: (module reading the records, required columns, every known column or None to ignore unknown ones)
_CSV_READERS: dict[str, Any] = {
    SHOPIFY_ORDERS: (shopify.read_orders, shopify.REQUIRED_COLUMNS, None),
    SQUARE_ITEMS: (square.read_orders, square.REQUIRED_COLUMNS, None),
    GENERIC_CSV: (generic.read_csv_orders, generic.REQUIRED_COLUMNS, generic.CSV_COLUMNS),
}


class ParseRun(Iterator[OrderInput | RowError]):
    """The iterator :func:`parse` returns: orders and errors, with progress attributes."""

    def __init__(self, fileobj: IO[bytes], *, format: str | None, merchant: Any, filename: str = ""):  # noqa: A002
        if format is not None and format not in FORMATS:
            raise ValueError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
        self.format: str | None = format
        self.filename = filename
        self._stream: TextStream | None = None
        self._records: CsvRows | generic.JsonLines | None = None
        self._header_row = HEADER_ROW
        context = Context(currency=merchant.currency.upper(), timezone=merchant.timezone, filename=filename)
        try:
            self._items = self._open(fileobj, context)
        except FileProblem as problem:
            self._items = iter([problem.error])

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read if self._stream is not None else 0

    @property
    def rows_read(self) -> int:
        return self._records.records if self._records is not None else 0

    def __next__(self) -> OrderInput | RowError:
        return next(self._items)

    def __iter__(self) -> ParseRun:
        return self

    def _open(self, fileobj: IO[bytes], context: Context) -> Iterator[OrderInput | RowError]:
        self._stream = stream = TextStream(fileobj)
        if self.format == GENERIC_JSONL or (self.format is None and looks_like_jsonl(stream.head)):
            self.format = GENERIC_JSONL
            self._records = records = generic.JsonLines(stream)
            return _require_data(generic.read_jsonl_orders(records, context), records, 0)
        self._records = rows = CsvRows(stream)
        header = self._read_header(rows)
        rows.header = header.names
        reader, required, known = _CSV_READERS[self.format]  # type: ignore[index]
        problems = []
        missing = header.missing(required)
        if missing:
            problems.append(f"missing required column(s): {', '.join(missing)}")
        if known is not None:
            unknown = header.unknown(known)
            if unknown:
                problems.append(f"unknown column(s): {', '.join(unknown)}")
        if header.repeated:
            problems.append(f"repeated column(s): {', '.join(header.repeated)}")
        if problems:
            detected = detect_format(header.names)
            hint = ""
            if detected not in (None, self.format):
                hint = f" This looks like a file in the format “{FORMAT_LABELS[detected]}”: choose that format."
            raise FileProblem(
                f"The header row does not fit the format “{FORMAT_LABELS[self.format]}”: {'; '.join(problems)}." + hint,
                row=self._header_row,
                value=",".join(header.names),
            )
        return _require_data(reader(rows, header, context), rows, self._header_row)

    def _read_header(self, rows: CsvRows) -> Header:
        for row, cells, error in rows:
            self._header_row = row
            if error is not None:
                raise FileProblem(f"The header row cannot be read: {error.reason}", row=row, value=error.value)
            header = Header(cells)  # type: ignore[arg-type]
            rows.records = 0  # the header is not a data record
            if self.format is None:
                self.format = detect_format(header.names)
                if self.format is None:
                    raise FileProblem(
                        "Unknown file format: the header row matches none of "
                        + "; ".join(FORMAT_LABELS[name] for name in FORMATS)
                        + ". Check that the first row names the columns (see the import page for each format).",
                        row=row,
                        value=",".join(header.names),
                    )
            return header
        raise FileProblem("The file is empty.", row=HEADER_ROW)


def _require_data(
    items: Iterator[OrderInput | RowError], records: CsvRows | generic.JsonLines, header_row: int
) -> Iterator[OrderInput | RowError]:
    """The reader's items, or one error when the file had no data at all."""
    yield from items
    if not records.records:
        if header_row:
            yield row_error(header_row, "", "", "The file has a header row but no data rows.")
        else:
            yield row_error(HEADER_ROW, "", "", "The file is empty.")


def parse(
    fileobj: IO[bytes],
    *,
    format: str | None,
    merchant: Any,
    filename: str = "",  # noqa: A002
) -> ParseRun:
    """Stream ``fileobj`` as orders and row errors (see the module docstring). ``merchant`` gives the currency
    (Square files carry none) and the time zone (Square files without a Time Zone column)."""
    return ParseRun(fileobj, format=format, merchant=merchant, filename=filename)
