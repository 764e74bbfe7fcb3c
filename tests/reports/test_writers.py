"""The file writers on their own (no database): formula neutralisation, CSV bytes, XLSX types and sheets."""

from __future__ import annotations

import gzip
import hashlib
from datetime import date, datetime
from decimal import Decimal

import pytest

from reports.writers import (
    DATE,
    DATETIME,
    INTEGER,
    MONEY,
    NUMBER,
    PERCENT,
    TEXT,
    XLSX_MAX_DATA_ROWS,
    Column,
    CsvWriter,
    ReportTooLarge,
    XlsxStreamWriter,
    XlsxWriter,
    csv_safe,
    money_format,
)

from .xlsx_reader import count_rows, has_formulas, rows, sheet_names

FORMULA_LIKE = ["=1+2", "+33 6 12", "-5", "@SUM(A1)", "\tTAB", "\rCR", '=HYPERLINK("http://x")']


@pytest.mark.parametrize(
    ("_case", "value", "expected"),
    [
        ("equals", "=1+2", "'=1+2"),
        ("plus", "+33", "'+33"),
        ("minus", "-5", "'-5"),
        ("at", "@SUM(A1)", "'@SUM(A1)"),
        ("tab", "\tx", "'\tx"),
        ("carriage return", "\rx", "'\rx"),
        ("plain text", "Linen tee", "Linen tee"),
        ("inner equals", "a=b", "a=b"),
        ("none", None, ""),
    ],
)
def test_csv_safe(_case, value, expected):
    assert csv_safe(value) == expected


def test_csv_writer_neutralises_text_but_not_numbers(tmp_path):
    path = tmp_path / "r.csv"
    writer = CsvWriter(str(path), [Column("name", TEXT), Column("net", MONEY), Column("day", DATE)])
    writer.write_rows([(text, Decimal("-1.50"), date(2024, 3, 31)) for text in FORMULA_LIKE])
    size, digest = writer.close()
    data = path.read_bytes()
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    lines = data.decode().split("\n")
    assert lines[0] == "name,net,day"
    assert lines[1] == "'=1+2,-1.50,2024-03-31"
    assert lines[3] == "'-5,-1.50,2024-03-31"
    assert writer.rows == len(FORMULA_LIKE)


def test_gzip_csv_is_byte_for_byte_reproducible(tmp_path):
    digests = set()
    for name in ("a.csv.gz", "b.csv.gz"):
        writer = CsvWriter(str(tmp_path / name), [Column("n", INTEGER)], compress=True)
        writer.write_bytes(b"1\n2\n", rows=2)
        digests.add(writer.close()[1])
    assert len(digests) == 1
    assert gzip.decompress((tmp_path / "a.csv.gz").read_bytes()) == b"n\n1\n2\n"


def test_xlsx_types_formats_and_no_formula_cells(tmp_path):
    path = tmp_path / "r.xlsx"
    columns = [
        Column("name", TEXT),
        Column("orders", INTEGER),
        Column("units", NUMBER),
        Column("net", MONEY),
        Column("share", PERCENT),
        Column("day", DATE),
        Column("at", DATETIME),
    ]
    writer = XlsxWriter(
        str(path), columns, currency="EUR", title="Test", about=[("Data as of", "2024-05-01 10:00:00 Europe/Paris")]
    )
    writer.write_rows(
        [(text, 3, Decimal("1.5"), Decimal("-12.34"), Decimal("0.25"), date(1900, 3, 1), datetime(1900, 3, 1, 12))
         for text in FORMULA_LIKE]
    )  # fmt: skip
    writer.close()
    assert sheet_names(path) == ["Report", "Data"]
    assert not has_formulas(path)
    data = rows(path, 2)
    assert data[0] == [("s", name) for name in ("name", "orders", "units", "net", "share", "day", "at")]
    assert [cell[0] for cell in data[1]] == ["s", "n", "n", "n", "n", "n", "n"]
    assert [row[0][1] for row in data[1:]] == FORMULA_LIKE  # kept as typed, inert text cells
    assert [value for _, value in data[1][1:]] == ["3", "1.5", "-12.34", "0.25", "61", "61.5"]  # 1900-03-01 = 61
    info = rows(path, 1)
    assert info[0] == [("s", "Test")]
    assert ("s", "Data as of") in info[1]


def test_money_format_uses_the_merchants_currency():
    assert money_format("EUR") == '#,##0.00 "€";-#,##0.00 "€"'
    assert money_format("JPY") == '#,##0 "¥";-#,##0 "¥"'
    assert money_format("SEK") == '#,##0.00 "SEK";-#,##0.00 "SEK"'


def _write_numbers(path, count: int) -> XlsxWriter:
    writer = XlsxWriter(str(path), [Column("n", INTEGER)], currency="EUR", title="Big", about=[])
    writer.write_rows((n,) for n in range(1, count + 1))
    writer.close()
    return writer


@pytest.mark.slow
@pytest.mark.parametrize(
    ("count", "sheets"),
    [(XLSX_MAX_DATA_ROWS, ["Report", "Data"]), (XLSX_MAX_DATA_ROWS + 1, ["Report", "Data", "Data (2)"])],
)
def test_xlsx_fills_a_sheet_then_continues_on_the_next(tmp_path, count, sheets):
    path = tmp_path / "big.xlsx"
    writer = _write_numbers(path, count)
    assert writer.rows == count
    assert sheet_names(path) == sheets
    first_count, first_last = count_rows(path, 2)
    assert first_count == XLSX_MAX_DATA_ROWS + 1  # + header
    assert f"<v>{XLSX_MAX_DATA_ROWS}</v>".encode() in first_last
    if count > XLSX_MAX_DATA_ROWS:
        second_count, second_last = count_rows(path, 3)
        assert second_count == 2  # header + the one row past the first sheet
        assert f"<v>{count}</v>".encode() in second_last


@pytest.mark.slow
def test_xlsx_of_two_and_a_half_million_rows_loses_none(tmp_path):
    path = tmp_path / "huge.xlsx"
    writer = _write_numbers(path, 2_500_000)
    assert sheet_names(path) == ["Report", "Data", "Data (2)", "Data (3)"]
    counts = [count_rows(path, index) for index in (2, 3, 4)]
    assert [count - 1 for count, _ in counts] == [
        XLSX_MAX_DATA_ROWS,
        XLSX_MAX_DATA_ROWS,
        2_500_000 - 2 * XLSX_MAX_DATA_ROWS,
    ]
    assert b"<v>2500000</v>" in counts[2][1]
    assert writer.rows == 2_500_000


def test_xlsx_refuses_a_fourth_sheet_with_a_message_offering_csv(tmp_path):
    # Excel's limit is checked at full size above (slow); here the refusal itself, on one-row sheets.
    writer = XlsxWriter(
        str(tmp_path / "r.xlsx"), [Column("n", INTEGER)], currency="EUR", title="t", about=[], max_data_rows=1
    )
    with pytest.raises(ReportTooLarge) as raised:
        writer.write_rows((n,) for n in range(4))
    assert writer.rows == 3
    assert str(raised.value) == (
        "This report has more than 3 rows: more than an Excel file can hold (3 sheets of 1 rows, 3 in all). "
        "Nothing was cut: order it as CSV, which has no row limit, or narrow the filters."
    )
    assert str(ReportTooLarge(3_145_726)) == (
        "This report has 3,145,726 rows: more than an Excel file can hold (3 sheets of 1,048,575 rows, "
        "3,145,725 in all). Nothing was cut: order it as CSV, which has no row limit, or narrow the filters."
    )


# --- the streamed XLSX writer (rows rendered as XML by PostgreSQL) -------------------------------


def _xml_rows(start: int, stop: int, block: int = 50_000):
    """Row XML lines as PostgreSQL's COPY hands them over (``sql_xlsx_row``), in blocks."""
    for first in range(start, stop, block):
        yield b"".join(b'<row><c s="1"><v>%d</v></c></row>\n' % n for n in range(first, min(stop, first + block)))


def _stream(path, count: int, **kwargs) -> XlsxStreamWriter:
    writer = XlsxStreamWriter(
        str(path), [Column("n", INTEGER)], total=count, currency="EUR", title="Big", about=[], **kwargs
    )
    for data in _xml_rows(1, count + 1):
        writer.write_xml(data)
    writer.close()
    return writer


@pytest.mark.parametrize(
    ("count", "sheets"),
    [
        (0, ["Report", "Data"]),
        (XLSX_MAX_DATA_ROWS, ["Report", "Data"]),
        (XLSX_MAX_DATA_ROWS + 1, ["Report", "Data", "Data (2)"]),
    ],
)
def test_streamed_xlsx_fills_a_sheet_then_continues_on_the_next(tmp_path, count, sheets):
    path = tmp_path / "big.xlsx"
    writer = _stream(path, count)
    assert writer.rows == count
    assert sheet_names(path) == sheets
    assert not has_formulas(path)
    first_count, first_last = count_rows(path, 2)
    assert first_count == min(count, XLSX_MAX_DATA_ROWS) + 1
    if count:
        assert f"<v>{min(count, XLSX_MAX_DATA_ROWS)}</v>".encode() in first_last
    if count > XLSX_MAX_DATA_ROWS:
        assert count_rows(path, 3)[0] == 2
        assert f"<v>{count}</v>".encode() in count_rows(path, 3)[1]
    assert not (tmp_path / "big.xlsx.skeleton").exists()


@pytest.mark.slow
def test_streamed_xlsx_of_two_and_a_half_million_rows_loses_none(tmp_path):
    path = tmp_path / "huge.xlsx"
    writer = _stream(path, 2_500_000)
    assert sheet_names(path) == ["Report", "Data", "Data (2)", "Data (3)"]
    counts = [count_rows(path, index) for index in (2, 3, 4)]
    assert [n - 1 for n, _ in counts] == [XLSX_MAX_DATA_ROWS, XLSX_MAX_DATA_ROWS, 2_500_000 - 2 * XLSX_MAX_DATA_ROWS]
    assert b"<v>2500000</v>" in counts[2][1]
    assert writer.rows == 2_500_000


def test_streamed_xlsx_refuses_more_rows_than_three_sheets(tmp_path):
    with pytest.raises(ReportTooLarge):
        XlsxStreamWriter(
            str(tmp_path / "r.xlsx"), [Column("n", INTEGER)], total=7, currency="EUR", title="t", about=[],
            max_data_rows=2,
        )  # fmt: skip
    writer = _stream(tmp_path / "ok.xlsx", 6, max_data_rows=2)  # exactly three full sheets
    assert sheet_names(tmp_path / "ok.xlsx") == ["Report", "Data", "Data (2)", "Data (3)"]
    assert [rows(tmp_path / "ok.xlsx", index)[1:] for index in (2, 3, 4)] == [
        [[("n", "1")], [("n", "2")]],
        [[("n", "3")], [("n", "4")]],
        [[("n", "5")], [("n", "6")]],
    ]
    assert writer.rows == 6


def test_a_report_that_cannot_run_on_this_database_says_why():
    from reports.services import _failure_message

    error = NotImplementedError("the order-lines report streams its rows out of PostgreSQL with COPY")
    assert _failure_message(error) == (
        "This report cannot be built here: the order-lines report streams its rows out of PostgreSQL with COPY."
    )
