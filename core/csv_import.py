"""Reading and validating CSV uploads, shared by every bulk import (stores, products, later sales and rules).

An import is described by a :class:`CsvSpec` (its columns, the key that identifies a row, a row-level check)
and run by :func:`run_import`, which reads the file, validates every row and only then hands the valid rows to
the caller's ``write`` function, inside the caller's transaction::

    result = run_import(file=upload, spec=STORE_CSV_SPEC, mode=mode, write=lambda rows: upsert(rows))

What the reader guarantees:

- **Streaming**: the file is read in 64 KiB chunks and parsed row by row; only the cleaned rows are kept.
- **Encoding**: UTF-8, with or without a byte-order mark. Anything else (Latin-1/Windows-1252 bytes, UTF-16,
  an Excel workbook, a PDF, any binary) stops the import with a message that says what the file is and how to
  save it as "CSV UTF-8" — naming the row for a stray non-UTF-8 byte. No guessing of legacy encodings: a wrong
  guess silently corrupts names.
- **Dialect**: comma, semicolon or tab separated (chosen from the header line), CRLF/LF/CR line endings,
  quoted fields with embedded separators, quotes and newlines. Malformed quoting is an error, not a silent merge
  of two rows.
- **Header**: names are matched without regard to case or surrounding spaces; missing required columns,
  unknown columns and repeated columns are all named in one error.
- **Rows**: every cell of every row is validated and every problem is reported as a :class:`RowError`
  ``(row, column, value, reason)``. Rows are numbered as a spreadsheet shows them: the header is row 1, the
  first data row is row 2 (a quoted multi-line cell still counts as one row). Blank rows are ignored.
  Duplicate keys inside one file are an error on each row involved, naming the other rows.
- **Modes**: ``all-or-nothing`` (the default) writes nothing unless the whole file is valid;
  ``skip-invalid`` writes the valid rows and reports the others.

Cell text is never interpreted beyond its column's parser: a value such as ``=HYPERLINK(...)`` is stored as
the plain text it is. Whoever exports data back to CSV must guard against formula injection there.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import csv
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

CHUNK_SIZE = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024  # a "line" longer than this is not a CSV row a person wrote
DELIMITERS = (",", ";", "\t")
HEADER_ROW = 1


class ImportMode(StrEnum):
    ALL_OR_NOTHING = "all-or-nothing"
    SKIP_INVALID = "skip-invalid"

    @classmethod
    def parse(cls, value: str | ImportMode) -> ImportMode:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"Unknown import mode {value!r}; use one of: {', '.join(cls)}.") from None


@dataclass(frozen=True, order=True)
class RowError:
    """One problem in a file: ``row`` as a spreadsheet numbers it (0 when it concerns the whole file),
    ``column`` ("" when it concerns the whole row), the offending ``value`` and a human ``reason``."""

    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        if self.column:
            where += f", column {self.column}"
        shown = f" (value: {self.value!r})" if self.value else ""
        return f"{where}: {self.reason}{shown}"


class CsvFileError(Exception):
    """The file as a whole cannot be imported (not UTF-8, binary, bad header, malformed quoting, ...)."""

    def __init__(self, reason: str, *, row: int = 0, column: str = "", value: str = ""):
        super().__init__(reason)
        self.error = RowError(row=row, column=column, value=value, reason=reason)


def _text(value: Any) -> str:
    return str(value)


@dataclass(frozen=True)
class Column:
    """One CSV column.

    ``required``: must appear in the header. ``blank``: an empty cell is allowed (and becomes ``empty``
    without calling ``parse``). ``parse`` turns the stripped cell text into a value or raises
    ``ValidationError``. ``description`` and ``example`` document the column on import pages and templates.
    """

    name: str
    required: bool = False
    blank: bool = True
    parse: Callable[[str], Any] = _text
    empty: Any = ""
    description: str = ""
    example: str = ""


@dataclass(frozen=True)
class CsvSpec:
    """What a file of one kind must look like.

    ``key``: the column that identifies a row (a store code, an SKU); duplicates within a file are errors.
    ``clean_row``: a row-level check run once every cell parsed; it receives and returns the dict of cleaned
    values (keys are the column names present in the file) and raises ``ValidationError`` — a dict names the
    columns. ``validate_header`` may add header rules (e.g. "all seven hours columns or none") by returning
    error messages. ``max_rows`` bounds a single file.
    """

    name: str
    columns: tuple[Column, ...]
    key: str | None = None
    clean_row: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    validate_header: Callable[[list[str]], list[str]] | None = None
    max_rows: int | None = None

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def template_csv(self) -> str:
        """A header-only CSV file listing every column, for download as a template."""
        return ",".join(self.column_names) + "\r\n"


@dataclass(frozen=True)
class ParsedRow:
    number: int
    values: dict[str, Any]


@dataclass
class ParsedCsv:
    header: list[str] = field(default_factory=list)
    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0
    invalid_rows: int = 0
    file_error: bool = False


@dataclass(frozen=True)
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportResult:
    """What an import did. ``applied`` is False when nothing was written because of errors (an all-or-nothing
    import with invalid rows, or a file that could not be read); ``invalid_rows`` were never written."""

    mode: str
    file_name: str = ""
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False

    @property
    def error_count(self) -> int:
        return len(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written_rows(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        if not self.applied:
            if self.total_rows and self.invalid_rows:
                return (
                    f"Nothing was imported: {self.error_count} error(s) in {self.invalid_rows} of "
                    f"{self.total_rows} row(s). Fix them and upload the file again."
                )
            return f"Nothing was imported: {self.errors[0].reason}" if self.errors else "Nothing was imported."
        text = (
            f"{self.total_rows} row(s) read: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        )
        if self.invalid_rows:
            text += f", {self.invalid_rows} skipped because of {self.error_count} error(s)"
        return text + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "file_name": self.file_name,
            "applied": self.applied,
            "total_rows": self.total_rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "invalid_rows": self.invalid_rows,
            "error_count": self.error_count,
            "errors": [error.as_dict() for error in self.errors],
        }

    def audit_data(self) -> dict[str, Any]:
        """The counts for an audit row (no cell values: they may hold personal data)."""
        data = self.as_dict()
        data.pop("errors")
        return data


# --- reading bytes into text lines ----------------------------------------------------------


class _UndecodableLine(Exception):
    def __init__(self, byte: int):
        self.byte = byte


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel workbook or a ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
)
_SAVE_AS_HINT = "Save it from your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file."


def _chunks(file: IO[bytes] | IO[str] | bytes | str) -> Iterator[bytes]:
    if isinstance(file, bytes | bytearray):
        yield bytes(file)
        return
    if isinstance(file, str):
        yield file.encode("utf-8")
        return
    if hasattr(file, "seek"):
        with contextlib.suppress(OSError, ValueError):  # a pipe: read from where it is
            file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def _physical_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split bytes on LF, CRLF or CR, keeping the endings (the csv module needs them for quoted newlines)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        lines = data.splitlines(keepends=True)
        # The last piece may be incomplete, or a CR whose LF is in the next chunk: keep it for later.
        pending = lines.pop() if lines and (lines[-1].endswith(b"\r") or not lines[-1].endswith(b"\n")) else b""
        if len(pending) > MAX_LINE_BYTES:
            raise CsvFileError(f"The file has a line longer than {MAX_LINE_BYTES // 1024} KiB: it is not a CSV file.")
        yield from lines
    if pending:
        yield pending


def _check_signature(first_bytes: bytes) -> None:
    if not first_bytes:
        raise CsvFileError("The file is empty.")
    if first_bytes.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError(f"The file is encoded as UTF-16, not UTF-8. {_SAVE_AS_HINT}")
    for signature, kind in _SIGNATURES:
        if first_bytes.startswith(signature):
            raise CsvFileError(f"This is {kind}, not a CSV file. {_SAVE_AS_HINT}")


def _text_lines(file) -> Iterator[str]:
    """Decode line by line so that a bad byte can be traced to its row (see :func:`_read_records`)."""
    first = True
    for raw in _physical_lines(_chunks(file)):
        if first:
            _check_signature(raw[:8])
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            first = False
        if b"\x00" in raw:
            raise CsvFileError(f"The file contains binary data (NUL bytes): it is not a CSV text file. {_SAVE_AS_HINT}")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _UndecodableLine(raw[exc.start]) from None
    if first:
        raise CsvFileError("The file is empty.")


def _sniff_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_records(file) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row_number, cells)`` for every CSV record, the header included (row 1)."""
    lines = _text_lines(file)
    rows_done = 0
    try:
        first = next(lines)
        reader = csv.reader(itertools.chain([first], lines), delimiter=_sniff_delimiter(first), strict=True)
        for cells in reader:
            rows_done += 1
            yield rows_done, cells
    except _UndecodableLine as exc:
        # The reader had finished ``rows_done`` rows when it asked for the line that failed.
        row = rows_done + 1
        raise CsvFileError(
            f"Row {row} is not UTF-8 text (it contains the byte 0x{exc.byte:02X}, typical of a Latin-1 or "
            f"Windows-1252 file). {_SAVE_AS_HINT}",
            row=row,
        ) from None
    except csv.Error as exc:
        row = rows_done + 1
        raise CsvFileError(f"Row {row} is not valid CSV ({exc}).", row=row) from None


# --- header and rows ------------------------------------------------------------------------


def _normalise_header_name(name: str) -> str:
    return name.strip().lower()


def _check_header(cells: list[str], spec: CsvSpec) -> list[str]:
    header = [_normalise_header_name(cell) for cell in cells]
    while header and not header[-1]:
        header.pop()  # trailing empty cells, as spreadsheets sometimes write
    known = set(spec.column_names)
    problems: list[str] = []
    missing = [name for name in spec.required_columns if name not in header]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    unknown = [name or "(empty)" for name in header if name not in known]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if not problems and spec.validate_header:
        problems.extend(spec.validate_header(header))
    if problems:
        raise CsvFileError(
            "The header row is not right: "
            + "; ".join(problems)
            + f". Expected columns: {', '.join(spec.column_names)} (required: {', '.join(spec.required_columns)}).",
            row=HEADER_ROW,
            value=",".join(cells)[:500],
        )
    return header


def _messages(error: ValidationError) -> list[str]:
    return [str(message) for message in error.messages]


def _validation_errors(error: ValidationError, *, row: int, values: Mapping[str, str]) -> list[RowError]:
    if not hasattr(error, "error_dict"):
        return [RowError(row, "", "", message) for message in _messages(error)]
    found = []
    for column, column_errors in error.error_dict.items():
        column = "" if column == NON_FIELD_ERRORS else column
        for column_error in column_errors:
            for message in _messages(column_error):
                found.append(RowError(row, column, values.get(column, ""), message))
    return found


def _parse_row(
    number: int, cells: list[str], header: list[str], columns: Mapping[str, Column], spec: CsvSpec
) -> tuple[dict[str, Any] | None, list[RowError]]:
    extra = [cell for cell in cells[len(header) :] if cell.strip()]
    if extra:
        return None, [
            RowError(
                number,
                "",
                ",".join(extra)[:200],
                f"The row has {len(header) + len(extra)} values but the header has {len(header)} columns "
                "(a separator inside a value needs quotes).",
            )
        ]
    raw = {name: (cells[index].strip() if index < len(cells) else "") for index, name in enumerate(header)}
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for name, text in raw.items():
        column = columns[name]
        if not text:
            if column.blank:
                values[name] = copy.copy(column.empty)
            else:
                errors.append(RowError(number, name, "", "A value is required."))
            continue
        try:
            values[name] = column.parse(text)
        except ValidationError as exc:
            errors.extend(RowError(number, name, text, message) for message in _messages(exc))
    if not errors and spec.clean_row:
        try:
            values = spec.clean_row(values)
        except ValidationError as exc:
            errors.extend(_validation_errors(exc, row=number, values=raw))
    return (None if errors else values), errors


def parse_csv(file, spec: CsvSpec) -> ParsedCsv:
    """Read and validate a whole file; never raises for bad input (problems are in ``errors``)."""
    parsed = ParsedCsv()
    columns = {column.name: column for column in spec.columns}
    rows_by_key: dict[Any, list[int]] = {}
    try:
        records = _read_records(file)
        header_record = next(records, None)
        if header_record is None or not any(cell.strip() for cell in header_record[1]):
            raise CsvFileError("The file is empty: the first row must name the columns.", row=HEADER_ROW)
        parsed.header = header = _check_header(header_record[1], spec)
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue  # blank rows are ignored
            parsed.total_rows += 1
            if spec.max_rows and parsed.total_rows > spec.max_rows:
                raise CsvFileError(
                    f"The file has more than {spec.max_rows:,} rows; split it into smaller files.", row=number
                )
            values, errors = _parse_row(number, cells, header, columns, spec)
            if errors:
                parsed.errors.extend(errors)
                parsed.invalid_rows += 1
                continue
            if spec.key is not None and spec.key in values:
                rows_by_key.setdefault(values[spec.key], []).append(number)
            parsed.rows.append(ParsedRow(number, values))
    except CsvFileError as exc:
        parsed.errors.append(exc.error)
        parsed.rows = []
        parsed.file_error = True
        return parsed
    if not parsed.total_rows:
        parsed.errors.append(RowError(0, "", "", "The file has a header but no data rows."))
        parsed.file_error = True
        return parsed
    _reject_duplicate_keys(parsed, spec, rows_by_key)
    parsed.errors.sort(key=_by_row)  # stable: a row's errors stay in column order
    return parsed


def _by_row(error: RowError) -> int:
    return error.row


def _reject_duplicate_keys(parsed: ParsedCsv, spec: CsvSpec, rows_by_key: dict[Any, list[int]]) -> None:
    """A key on several rows is an error on each of them (we cannot know which one is meant)."""
    duplicated = {key: numbers for key, numbers in rows_by_key.items() if len(numbers) > 1}
    if not duplicated:
        return
    duplicate_rows = set()
    for key, numbers in duplicated.items():
        for number in numbers:
            others = [str(n) for n in numbers if n != number]
            parsed.errors.append(
                RowError(
                    number,
                    spec.key or "",
                    str(key),
                    f"Duplicate {spec.key} {key}: also on row{'s' if len(others) > 1 else ''} {', '.join(others)}. "
                    f"Each {spec.key} may appear only once in a file.",
                )
            )
        duplicate_rows.update(numbers)
    parsed.rows = [row for row in parsed.rows if row.number not in duplicate_rows]
    parsed.invalid_rows += len(duplicate_rows)


def run_import(
    *,
    file,
    spec: CsvSpec,
    mode: str | ImportMode,
    write: Callable[[list[ParsedRow]], WriteCounts],
    check: Callable[[list[ParsedRow]], list[RowError]] | None = None,
    file_name: str = "",
) -> ImportResult:
    """Validate the whole file, then call ``write`` with the valid rows (all of them, or none in
    all-or-nothing mode when any row is invalid). Run it inside the caller's ``transaction.atomic``.

    ``check`` is an optional second pass over the rows that passed the per-row validation, for rules that
    need the database (a store code that must exist, a date that must follow a stored one). It must be
    set-based (a few queries for the whole list) and return the errors it finds; their rows are not written.
    """
    mode = ImportMode.parse(mode)
    parsed = parse_csv(file, spec)
    if check is not None and parsed.rows:
        found = check(parsed.rows)
        if found:
            bad_rows = {error.row for error in found}
            parsed.rows = [row for row in parsed.rows if row.number not in bad_rows]
            parsed.invalid_rows += len(bad_rows)
            parsed.errors = sorted([*parsed.errors, *found], key=_by_row)
    result = ImportResult(
        mode=mode.value,
        file_name=file_name or os.path.basename(str(getattr(file, "name", "") or "")),
        total_rows=parsed.total_rows,
        invalid_rows=parsed.invalid_rows,
        errors=parsed.errors,
    )
    if parsed.file_error or (parsed.errors and mode == ImportMode.ALL_OR_NOTHING):
        return result
    counts = write(parsed.rows) if parsed.rows else WriteCounts()
    result.created, result.updated, result.unchanged = counts.created, counts.updated, counts.unchanged
    result.applied = True
    return result
