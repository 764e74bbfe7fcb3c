"""Report file writers: CSV (optionally gzip) and XLSX, both safe against spreadsheet formula injection.

- :class:`CsvWriter` takes raw CSV bytes (PostgreSQL ``COPY ... TO STDOUT`` output, already neutralised in SQL by
  :func:`sql_text_safe`) and Python rows (neutralised here by :func:`csv_safe`). It hashes the bytes as they are
  written (SHA-256 of the file as stored, compressed or not). gzip output has no name and a zero mtime, so the
  same data always gives the same file.
- :class:`XlsxWriter` uses XlsxWriter's constant-memory mode: rows go to disk as they come. Every cell is written
  with its typed method (``write_string``/``write_number``/``write_datetime``): the file holds no formula cell at
  all, so a text starting with ``=`` is inert without being changed. The first sheet, "Report", carries the
  parameters and the "data as of" time; data sheets follow with a frozen header row. Past
  ``XLSX_MAX_DATA_ROWS`` rows the data continue on a new sheet; past ``XLSX_MAX_SHEETS`` sheets
  :class:`ReportTooLarge` is raised (the caller fails the job with a message that offers CSV).
- :class:`XlsxStreamWriter`: the same workbook for SQL reports, with the data rows' XML rendered by PostgreSQL
  (``sql_xlsx_row``) and streamed into the sheets: ~7× faster than XlsxWriter cell by cell (see below).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter

XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included
XLSX_MAX_DATA_ROWS = XLSX_MAX_ROWS - 1
XLSX_MAX_SHEETS = 3
XLSX_MAX_TOTAL_ROWS = XLSX_MAX_DATA_ROWS * XLSX_MAX_SHEETS

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CODES = ", ".join(str(ord(character)) for character in FORMULA_START)  # for SQL: 61, 43, 45, 64, 9, 13

# Column types: how a value is formatted in XLSX (CSV writes them all as text).
TEXT, INTEGER, NUMBER, MONEY, PERCENT, DATE, DATETIME = (
    "text",
    "integer",
    "number",
    "money",
    "percent",
    "date",
    "datetime",
)

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "CAD": "CA$", "AUD": "A$"}
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "ISK", "VND"})


class ReportTooLarge(Exception):
    """More rows than an XLSX file can hold (three sheets of 1,048,575 rows)."""

    def __init__(self, rows: int, *, more: bool = False, per_sheet: int = XLSX_MAX_DATA_ROWS):
        self.rows = rows
        super().__init__(
            f"This report has {'more than ' if more else ''}{rows:,} rows: more than an Excel file can hold "
            f"({XLSX_MAX_SHEETS} sheets of {per_sheet:,} rows, {XLSX_MAX_SHEETS * per_sheet:,} in all). Nothing was "
            "cut: order it as CSV, which has no row limit, or narrow the filters."
        )


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT


def csv_safe(value: object) -> str:
    """A text cell no spreadsheet runs as a formula: one starting with =, +, -, @, tab or CR gets a leading '."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def sql_text_safe(expression: str) -> str:
    """The SQL twin of :func:`csv_safe`, for text columns exported with ``COPY``."""
    # ``ascii()`` is the first character's code point (0 for '', NULL for NULL): an integer test, no substring
    # built per row (``left(x, 1) IN (...)`` did, on each of the 9 text columns of every order line).
    return f"(CASE WHEN ascii({expression}) IN ({_FORMULA_CODES}) THEN '''' || {expression} ELSE {expression} END)"


def csv_cell(value: object, column_type: str) -> object:
    if value is None:
        return ""
    if column_type == TEXT:
        return csv_safe(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value  # numbers: their str() (Decimal keeps its exact digits)


class _HashingFile(io.RawIOBase):
    """Counts and hashes every byte on its way to the real file."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.raw.write(data)


class CsvWriter:
    def __init__(self, path: str, columns: Sequence[Column], *, compress: bool = False):
        self.columns = list(columns)
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._hashing = _HashingFile(self._raw)
        self._out = (
            gzip.GzipFile(filename="", fileobj=self._hashing, mode="wb", compresslevel=6, mtime=0)
            if compress
            else self._hashing
        )
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        self.rows = 0
        self.write_rows([[column.name for column in self.columns]], count=False)

    def write_bytes(self, data, rows: int = 0) -> None:
        """Already formatted CSV (COPY output)."""
        self._out.write(data)
        self.rows += rows

    def write_rows(self, rows: Iterable[Sequence], *, count: bool = True) -> None:
        # csv writes None as "" and numbers and dates as their str(): only text cells need work (neutralising).
        text_columns = [i for i, column in enumerate(self.columns) if column.type == TEXT]
        datetime_columns = [i for i, column in enumerate(self.columns) if column.type == DATETIME]
        special = text_columns + datetime_columns
        text = self._text
        writerow = self._csv.writerow
        n = 0
        for row in rows:
            if special:
                row = list(row)
                for i in text_columns:
                    value = row[i]
                    if value is not None and (not isinstance(value, str) or value.startswith(FORMULA_START)):
                        row[i] = csv_safe(value)
                for i in datetime_columns:
                    row[i] = csv_cell(row[i], DATETIME)
            writerow(row)
            n += 1
            if text.tell() > 1 << 20:
                self._flush_text()
        self._flush_text()
        if count:
            self.rows += n

    def _flush_text(self) -> None:
        self._out.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def close(self) -> tuple[int, str]:
        """Close the file; returns (bytes, SHA-256 hex) of the file as stored."""
        if self._out is not self._hashing:
            self._out.close()
        self._raw.close()
        return self._hashing.bytes, self._hashing.sha256.hexdigest()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()


def money_format(currency: str) -> str:
    decimals = "" if currency in ZERO_DECIMAL_CURRENCIES else ".00"
    symbol = CURRENCY_SYMBOLS.get(currency, currency).replace('"', "")
    return f'#,##0{decimals} "{symbol}";-#,##0{decimals} "{symbol}"'


class XlsxWriter:
    """Typed rows into an XLSX file with a "Report" header sheet and up to three data sheets."""

    def __init__(
        self,
        path: str,
        columns: Sequence[Column],
        *,
        currency: str,
        title: str,
        about: Sequence[tuple[str, object]],
        created: datetime | None = None,
        max_data_rows: int = XLSX_MAX_DATA_ROWS,
    ):
        self.path = path
        self.max_data_rows = max_data_rows
        self.columns = list(columns)
        self.workbook = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "default_date_format": "yyyy-mm-dd",
            },
        )
        if created is not None:
            self.workbook.set_properties({"title": title, "created": created})
        bold = self.workbook.add_format({"bold": True})
        self.formats = {
            TEXT: None,
            INTEGER: self.workbook.add_format({"num_format": "#,##0"}),
            NUMBER: self.workbook.add_format({"num_format": "#,##0.###"}),
            MONEY: self.workbook.add_format({"num_format": money_format(currency)}),
            PERCENT: self.workbook.add_format({"num_format": "0.0%"}),
            DATE: self.workbook.add_format({"num_format": "yyyy-mm-dd"}),
            DATETIME: self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        }
        self.header_format = self.workbook.add_format({"bold": True, "bottom": 1})
        info = self.workbook.add_worksheet("Report")
        info.set_column(0, 0, 22)
        info.set_column(1, 1, 60)
        info.write_string(0, 0, title, bold)
        for row, (label, value) in enumerate(about, start=2):
            info.write_string(row, 0, label, bold)
            self._write(info, row, 1, value, TEXT if not isinstance(value, datetime | date) else DATETIME)
        self.sheet = None
        self.sheets = 0
        self.sheet_row = 0
        self.rows = 0

    def _new_sheet(self) -> None:
        if self.sheets >= XLSX_MAX_SHEETS:
            raise ReportTooLarge(self.rows, more=True, per_sheet=self.max_data_rows)
        self.sheets += 1
        name = "Data" if self.sheets == 1 else f"Data ({self.sheets})"
        sheet = self.workbook.add_worksheet(name)
        for index, column in enumerate(self.columns):
            sheet.write_string(0, index, column.name, self.header_format)
            sheet.set_column(index, index, 12 if column.type != TEXT else 18)
        sheet.freeze_panes(1, 0)
        self.sheet = sheet
        self.sheet_row = 0

    def _write(self, sheet, row: int, col: int, value, column_type: str) -> None:
        if value is None or value == "":
            return
        if column_type == TEXT:
            sheet.write_string(row, col, str(value))
        elif column_type in (DATE, DATETIME):
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.replace(tzinfo=None)  # written as the local time it already is
            if isinstance(value, date):
                sheet.write_datetime(row, col, value, self.formats[column_type])
            else:
                sheet.write_string(row, col, str(value))
        else:
            sheet.write_number(row, col, float(value), self.formats[column_type])

    def write_rows(self, rows: Iterable[Sequence]) -> None:
        types = [column.type for column in self.columns]
        formats = [self.formats[t] for t in types]
        width = range(len(types))
        for row in rows:
            if self.sheet is None or self.sheet_row >= self.max_data_rows:
                self._new_sheet()
            self.sheet_row += 1
            r = self.sheet_row
            sheet = self.sheet
            for i in width:
                value = row[i]
                if value is None:
                    continue
                t = types[i]
                if t == TEXT:
                    sheet.write_string(r, i, value if isinstance(value, str) else str(value))
                elif t in (NUMBER, MONEY, INTEGER, PERCENT) and isinstance(value, int | float | Decimal):
                    sheet.write_number(r, i, float(value), formats[i])
                else:
                    self._write(sheet, r, i, value, t)
            self.rows += 1

    def close(self) -> tuple[int, str]:
        if self.sheet is None:
            self._new_sheet()  # an empty report still has its header row
        self.workbook.close()
        digest = hashlib.sha256()
        size = 0
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return size, digest.hexdigest()

    def abort(self) -> None:
        # Nothing to flush: the temporary file is removed by the caller.
        pass


# --- XLSX rows rendered by PostgreSQL ------------------------------------------------------------
# XlsxWriter costs ~10 µs a cell in Python (2,000-8,000 rows/s for an 18-column order-lines row on this machine).
# For SQL reports whose row count is known up front, PostgreSQL renders each row's XML itself (``sql_xlsx_row``,
# one text column per row, out through COPY) and :class:`XlsxStreamWriter` streams those rows into the data
# sheets of a workbook whose every other part (styles, the "Report" sheet, the header rows, frozen panes) is
# written by XlsxWriter. Cells are typed exactly as XlsxWriter types them: inline strings for text (no formula
# cell can exist: the XML has no <f>), numbers, dates as serial numbers with a date format.
# Rows and cells carry no ``r`` reference (optional in ECMA-376, §18.3.1.73 and §18.3.1.4: the position follows
# document order; Excel, LibreOffice, Google Sheets, openpyxl and calamine read it), so an empty value is written as
# an empty ``<c/>``: leaving it out would shift the cells after it.

# Characters XML 1.0 cannot carry (tab, LF and CR are kept, as character references).
_XML_INVALID = "[\\x01-\\x08\\x0B\\x0C\\x0E-\\x1F\\uFFFE\\uFFFF]"


def _sql_xml_text(expression: str) -> str:
    escaped = f"replace(replace(replace({expression}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    cleaned = f"regexp_replace({escaped}, E'{_XML_INVALID}', '', 'g')"
    return f"replace(replace(replace({cleaned}, E'\\t', '&#9;'), E'\\n', '&#10;'), E'\\r', '&#13;')"


def sql_xlsx_cell(expression: str, column_type: str, style: int) -> str:
    """SQL rendering one cell (``<c/>`` when NULL: cells carry no reference, so none may be left out)."""
    s = f' s="{style}"' if style else ""
    if column_type == TEXT:
        value = _sql_xml_text(f"({expression})::text")
        body = f"""'<c t="inlineStr"><is><t xml:space="preserve">' || {value} || '</t></is></c>'"""
    elif column_type == DATE:
        body = f"""'<c{s}><v>' || (({expression}) - date '1899-12-30')::text || '</v></c>'"""
    elif column_type == DATETIME:
        serial = f"(extract(epoch from (({expression})::timestamp - timestamp '1899-12-30')) / 86400)"
        body = f"""'<c{s}><v>' || round({serial}, 8)::text || '</v></c>'"""
    else:
        body = f"""'<c{s}><v>' || ({expression})::text || '</v></c>'"""
    return f"(CASE WHEN ({expression}) IS NULL THEN '<c/>' ELSE {body} END)"


def sql_xlsx_row(columns: Sequence[tuple[str, str]], styles: dict[str, int]) -> str:
    cells = " || ".join(sql_xlsx_cell(expression, kind, styles.get(kind, 0)) for expression, kind in columns)
    return f"('<row>' || {cells} || '</row>')"


# COPY ... (FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01'): a row is never quoted (its XML holds neither
# character, nor a raw newline), so each line is exactly one <row> element.
XLSX_COPY_OPTIONS = "FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01'"


class XlsxStreamWriter:
    """An XLSX file of ``total`` rows whose data rows arrive as XML lines (``write_xml``)."""

    def __init__(
        self,
        path: str,
        columns: Sequence[Column],
        *,
        total: int,
        currency: str,
        title: str,
        about: Sequence[tuple[str, object]],
        created: datetime | None = None,
        max_data_rows: int = XLSX_MAX_DATA_ROWS,
    ):
        if total > max_data_rows * XLSX_MAX_SHEETS:
            raise ReportTooLarge(total, per_sheet=max_data_rows)
        self.path = path
        self.total = total
        self.max_data_rows = max_data_rows
        self.sheets = max(1, -(-total // max_data_rows))
        self.skeleton = f"{path}.skeleton"
        self.columns = list(columns)
        book = XlsxWriter(self.skeleton, columns, currency=currency, title=title, about=about, created=created)
        for _ in range(self.sheets):
            book._new_sheet()
        book.workbook.close()
        self.styles = {kind: (fmt.xf_index if fmt is not None else 0) for kind, fmt in book.formats.items()}
        self.rows = 0
        self._archive = None
        self._sheet = None
        self._sheet_rows = 0
        self._sheet_index = 0
        self._suffix = b""
        self._entries = None
        self._pending = b""  # the start of a row whose end is in the next block

    # The skeleton's parts, in order; data sheets are sheet2.xml ... sheet{n+1}.xml.
    def _open(self) -> None:
        import zipfile

        source = zipfile.ZipFile(self.skeleton)
        self._source = source
        self._archive = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3)
        self._entries = iter(source.infolist())
        self._next_sheet()

    def _copy_until_data_sheet(self):
        for info in self._entries:
            name = info.filename
            if name.startswith("xl/worksheets/sheet") and name != "xl/worksheets/sheet1.xml":
                return info
            self._archive.writestr(info, self._source.read(name))
        return None

    def _next_sheet(self) -> None:
        import re
        import zipfile

        info = self._copy_until_data_sheet()
        self._sheet_index += 1
        if info is None or info.filename != f"xl/worksheets/sheet{self._sheet_index + 1}.xml":
            raise RuntimeError(f"data sheet {self._sheet_index} not where expected in the workbook")
        xml = self._source.read(info.filename)
        head, _, tail = xml.partition(b"</sheetData>")
        left = self.total - (self._sheet_index - 1) * self.max_data_rows
        rows_here = max(0, min(self.max_data_rows, left))
        last_column = _column_letter(len(self.columns) - 1)
        head = re.sub(
            rb'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last_column}{rows_here + 1}"/>'.encode(), head
        )
        target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        target.compress_type = zipfile.ZIP_DEFLATED
        self._sheet = self._archive.open(target, "w", force_zip64=True)
        self._sheet.write(head)
        self._suffix = b"</sheetData>" + tail
        self._sheet_rows = 0

    def _close_sheet(self) -> None:
        self._sheet.write(self._suffix)
        self._sheet.close()
        self._sheet = None

    def write_xml(self, data: bytes) -> None:
        """Row XML, one row a line, in order, in blocks of any size (a row cut at the end of a block waits for the
        next block: rows are counted, and sheets cut, on whole lines only)."""
        if self._archive is None:
            self._open()
        if self._pending:
            data = self._pending + data
            self._pending = b""
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self._pending = data[end:]
            data = data[:end]
        while data:
            room = self.max_data_rows - self._sheet_rows
            lines = data.count(b"\n")
            if lines <= room:
                self._sheet.write(data)
                self._sheet_rows += lines
                self.rows += lines
                return
            cut = -1
            for _ in range(room):
                cut = data.index(b"\n", cut + 1)
            self._sheet.write(data[: cut + 1])
            self._sheet_rows += room
            self.rows += room
            data = data[cut + 1 :]
            self._close_sheet()
            if self.rows >= self.total:
                raise ReportTooLarge(self.rows + 1, more=True, per_sheet=self.max_data_rows)
            self._next_sheet()

    write_bytes = write_xml  # the interface of CsvWriter, for COPY output

    def close(self) -> tuple[int, str]:
        import os

        if self._archive is None:
            self._open()
        if self._pending:
            raise RuntimeError("the last row's XML has no end of line")
        self._close_sheet()
        while self._sheet_index < self.sheets:  # rows fewer than announced: the remaining sheets keep their header
            self._next_sheet()
            self._close_sheet()
        for info in self._entries:
            self._archive.writestr(info, self._source.read(info.filename))
        self._archive.close()
        self._source.close()
        os.remove(self.skeleton)
        digest = hashlib.sha256()
        size = 0
        with open(self.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return size, digest.hexdigest()

    def abort(self) -> None:
        import os

        for closer in (self._sheet, self._archive, getattr(self, "_source", None)):
            with contextlib.suppress(Exception):
                if closer is not None:
                    closer.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.skeleton)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
