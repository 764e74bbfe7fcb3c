"""The shared CSV reader: encodings, dialects, header checks, per-row errors, duplicate keys and modes."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from core.csv_import import (
    Column,
    CsvSpec,
    ImportMode,
    ParsedRow,
    RowError,
    WriteCounts,
    parse_csv,
    run_import,
)


def _positive_int(text: str) -> int:
    if not text.isdigit():
        raise ValidationError("“%(value)s” is not a whole number.", params={"value": text})
    return int(text)


def _no_bob(values: dict) -> dict:
    if values.get("name") == "Bob" and values.get("qty") == 0:
        raise ValidationError({"qty": "Bob needs at least one."})
    return values


SPEC = CsvSpec(
    name="things",
    key="code",
    clean_row=_no_bob,
    columns=(
        Column("code", required=True, blank=False),
        Column("name", required=True, blank=False),
        Column("qty", parse=_positive_int, empty=None),
        Column("note"),
    ),
)


def _parse(data: bytes, spec: CsvSpec = SPEC):
    return parse_csv(io.BytesIO(data), spec)


def test_reads_utf8_with_bom_crlf_and_quoted_newlines_and_separators():
    # Given a UTF-8 file with a BOM, CRLF line endings and a quoted cell holding a comma, a quote and a newline
    data = '\ufeffcode,name,qty,note\r\nA1,"Café, ""the"" best",3,"line one\r\nline two"\r\nA2,Zoë,,\r\n'.encode()

    # When it is parsed
    parsed = _parse(data)

    # Then both rows are read with spreadsheet row numbers, the multi-line cell intact
    assert parsed.errors == []
    assert parsed.total_rows == 2
    assert parsed.rows == [
        ParsedRow(2, {"code": "A1", "name": 'Café, "the" best', "qty": 3, "note": "line one\r\nline two"}),
        ParsedRow(3, {"code": "A2", "name": "Zoë", "qty": None, "note": ""}),
    ]


def test_row_numbers_count_a_multiline_record_as_one_row():
    data = b'code,name,qty\nA1,"two\nlines",1\nA2,x,abc\n'
    parsed = _parse(data)
    assert parsed.errors == [RowError(3, "qty", "abc", "“abc” is not a whole number.")]


@pytest.mark.parametrize(
    ("case", "data", "expected_rows"),
    [
        ("semicolons", b"code;name;qty\nA1;One;1\n", [ParsedRow(2, {"code": "A1", "name": "One", "qty": 1})]),
        ("tabs", b"code\tname\nA1\tOne\n", [ParsedRow(2, {"code": "A1", "name": "One"})]),
        (
            "cr only",
            b"code,name\rA1,One\rA2,Two",
            [ParsedRow(2, {"code": "A1", "name": "One"}), ParsedRow(3, {"code": "A2", "name": "Two"})],
        ),
        ("header case and spaces", b" Code , NAME \nA1,One\n", [ParsedRow(2, {"code": "A1", "name": "One"})]),
        ("blank rows ignored", b"code,name\n\nA1,One\n,\n", [ParsedRow(3, {"code": "A1", "name": "One"})]),
        ("trailing empty cells", b"code,name,\nA1,One,,\n", [ParsedRow(2, {"code": "A1", "name": "One"})]),
    ],
)
def test_dialects(case, data, expected_rows):
    parsed = _parse(data)
    assert parsed.errors == [], case
    assert parsed.rows == expected_rows, case


def test_reads_in_chunks_across_boundaries(monkeypatch):
    # Given chunks so small that CRLF pairs and multi-byte characters straddle them
    monkeypatch.setattr("core.csv_import.CHUNK_SIZE", 3)
    data = "code,name\r\nA1,Crème brûlée\r\nA2,Ÿ\r\n".encode()

    parsed = _parse(data)

    assert parsed.errors == []
    assert [row.values["name"] for row in parsed.rows] == ["Crème brûlée", "Ÿ"]


def test_accepts_uploaded_files_and_text_streams():
    upload = SimpleUploadedFile("things.csv", b"code,name\nA1,One\n", content_type="text/csv")
    assert (
        _parse(upload.read()).rows
        == parse_csv(upload, SPEC).rows
        == parse_csv(io.StringIO("code,name\nA1,One\n"), SPEC).rows
    )


@pytest.mark.parametrize(
    ("case", "data", "expected"),
    [
        ("empty", b"", RowError(0, "", "", "The file is empty.")),
        ("only a BOM", b"\xef\xbb\xbf", RowError(1, "", "", "The file is empty: the first row must name the columns.")),
        ("header only", b"code,name\r\n", RowError(0, "", "", "The file has a header but no data rows.")),
        (
            "latin-1 byte on row 3",
            "code,name\nA1,Plain\nA2,Café\n".encode("latin-1"),
            RowError(
                3,
                "",
                "",
                "Row 3 is not UTF-8 text (it contains the byte 0xE9, typical of a Latin-1 or Windows-1252 file). "
                "Save it from your spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file.",
            ),
        ),
        (
            "excel workbook",
            b"PK\x03\x04\x14\x00\x06\x00binary",
            RowError(
                0,
                "",
                "",
                "This is an Excel workbook or a ZIP archive, not a CSV file. Save it from your spreadsheet as "
                "“CSV UTF-8 (comma delimited)” and upload that file.",
            ),
        ),
        (
            "binary with NUL bytes",
            b"\x00\x01\x02\x03garbage",
            RowError(
                0,
                "",
                "",
                "The file contains binary data (NUL bytes): it is not a CSV text file. Save it from your "
                "spreadsheet as “CSV UTF-8 (comma delimited)” and upload that file.",
            ),
        ),
        (
            "utf-16",
            "code,name\nA1,One\n".encode("utf-16"),
            RowError(
                0,
                "",
                "",
                "The file is encoded as UTF-16, not UTF-8. Save it from your spreadsheet as "
                "“CSV UTF-8 (comma delimited)” and upload that file.",
            ),
        ),
        (
            "unterminated quote",
            b'code,name\nA1,"One\nA2,Two\n',
            RowError(2, "", "", "Row 2 is not valid CSV (unexpected end of data)."),
        ),
        (
            "text after a closing quote",
            b'code,name\nA1,"One"x\n',
            RowError(2, "", "", "Row 2 is not valid CSV (',' expected after '\"')."),
        ),
    ],
)
def test_file_level_errors(case, data, expected):
    parsed = _parse(data)
    assert parsed.file_error, case
    assert parsed.rows == []
    assert parsed.errors == [expected], case


def test_header_names_missing_unknown_and_repeated_columns():
    parsed = _parse(b"Code,qty,colour,qty\nA1,1,red,2\n")
    assert parsed.file_error
    assert parsed.errors == [
        RowError(
            1,
            "",
            "Code,qty,colour,qty",
            "The header row is not right: missing required column(s): name; unknown column(s): colour; "
            "repeated column(s): qty. Expected columns: code, name, qty, note (required: code, name).",
        )
    ]


def test_every_row_error_is_collected_with_row_column_value_and_reason():
    # Given a file with several problems on several rows
    data = b"code,name,qty\nA1,,x\nA2,Ok,1\nA3,Bob,0\nA4,Ok,1,extra\n"

    parsed = _parse(data)

    # Then each is reported, and only the valid row is kept
    assert parsed.errors == [
        RowError(2, "name", "", "A value is required."),
        RowError(2, "qty", "x", "“x” is not a whole number."),
        RowError(4, "qty", "0", "Bob needs at least one."),
        RowError(
            5,
            "",
            "extra",
            "The row has 4 values but the header has 3 columns (a separator inside a value needs quotes).",
        ),
    ]
    assert parsed.rows == [ParsedRow(3, {"code": "A2", "name": "Ok", "qty": 1})]
    assert (parsed.total_rows, parsed.invalid_rows) == (4, 3)


def test_duplicate_keys_are_an_error_on_every_row_naming_the_others():
    parsed = _parse(b"code,name\nA1,One\nA2,Two\nA1,Again\nA1,Third\n")
    assert parsed.errors == [
        RowError(2, "code", "A1", "Duplicate code A1: also on rows 4, 5. Each code may appear only once in a file."),
        RowError(4, "code", "A1", "Duplicate code A1: also on rows 2, 5. Each code may appear only once in a file."),
        RowError(5, "code", "A1", "Duplicate code A1: also on rows 2, 4. Each code may appear only once in a file."),
    ]
    assert [row.number for row in parsed.rows] == [3]
    assert parsed.invalid_rows == 3


def test_formula_like_text_is_kept_as_plain_text():
    parsed = _parse(b'code,name\nA1,"=HYPERLINK(""http://evil.example"",""click"")"\n')
    assert parsed.rows[0].values["name"] == '=HYPERLINK("http://evil.example","click")'


def test_max_rows():
    spec = CsvSpec(name="small", columns=(Column("code", required=True),), max_rows=2)
    parsed = _parse(b"code\n1\n2\n3\n", spec)
    assert parsed.errors == [RowError(4, "", "", "The file has more than 2 rows; split it into smaller files.")]


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, rows):
        self.calls.append([row.number for row in rows])
        return WriteCounts(created=len(rows))


def test_all_or_nothing_writes_nothing_when_any_row_is_invalid():
    write = _Recorder()
    result = run_import(file=b"code,name\nA1,One\nA2,\n", spec=SPEC, mode="all-or-nothing", write=write)
    assert write.calls == []
    assert (result.applied, result.created, result.invalid_rows, result.total_rows) == (False, 0, 1, 2)
    assert result.summary() == "Nothing was imported: 1 error(s) in 1 of 2 row(s). Fix them and upload the file again."


def test_skip_invalid_writes_the_valid_rows_and_reports_the_others():
    write = _Recorder()
    result = run_import(
        file=b"code,name\nA1,One\nA2,\nA3,Three\n", spec=SPEC, mode=ImportMode.SKIP_INVALID, write=write
    )
    assert write.calls == [[2, 4]]
    assert result.summary() == "3 row(s) read: 2 created, 0 updated, 0 unchanged, 1 skipped because of 1 error(s)."
    assert result.as_dict() == {
        "mode": "skip-invalid",
        "file_name": "",
        "applied": True,
        "total_rows": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "invalid_rows": 1,
        "error_count": 1,
        "errors": [{"row": 3, "column": "name", "value": "", "reason": "A value is required."}],
    }


def test_check_hook_adds_database_errors_before_writing():
    write = _Recorder()

    def check(rows):
        return [
            RowError(row.number, "code", row.values["code"], "Unknown code.")
            for row in rows
            if row.values["code"] == "ZZ"
        ]

    result = run_import(file=b"code,name\nA1,One\nZZ,Two\n", spec=SPEC, mode="skip-invalid", write=write, check=check)
    assert write.calls == [[2]]
    assert result.errors == [RowError(3, "code", "ZZ", "Unknown code.")]
    assert result.invalid_rows == 1


def test_file_errors_never_write_even_in_skip_invalid_mode():
    write = _Recorder()
    result = run_import(file=b"", spec=SPEC, mode="skip-invalid", write=write)
    assert write.calls == []
    assert result.applied is False
    assert result.summary() == "Nothing was imported: The file is empty."


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="Unknown import mode 'maybe'"):
        run_import(file=b"code,name\nA1,One\n", spec=SPEC, mode="maybe", write=_Recorder())


def test_template_csv_lists_every_column():
    assert SPEC.template_csv() == "code,name,qty,note\r\n"
