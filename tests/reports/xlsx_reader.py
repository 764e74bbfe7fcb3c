"""A minimal XLSX reader for assertions (no openpyxl here): sheet names, cell values and types, formulas."""

from __future__ import annotations

import re
import zipfile
from xml.etree import ElementTree


def _parse(data: bytes):
    return ElementTree.fromstring(data)  # noqa: S314 - our own test files


ROW = re.compile(rb"<row[ >]")
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def sheet_names(path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        root = _parse(archive.read("xl/workbook.xml"))
    return [sheet.get("name") for sheet in root.find("m:sheets", NS)]


def has_formulas(path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(
            re.search(rb"<f[ >]", archive.read(name))
            for name in archive.namelist()
            if name.startswith("xl/worksheets/")
        )


def _unescape(text: str) -> str:
    """OOXML's escape of control characters: ``_x000D_`` is a carriage return."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), text)


def _shared_strings(archive) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    root = _parse(archive.read("xl/sharedStrings.xml"))
    return [_unescape("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t"))) for si in root.findall("m:si", NS)]


def rows(path, sheet_index: int) -> list[list[tuple[str, str]]]:
    """Rows of the sheet (1-based index in the workbook) as [(type, value)], type "s" (text) or "n" (number)."""
    with zipfile.ZipFile(path) as archive:
        strings = _shared_strings(archive)
        root = _parse(archive.read(f"xl/worksheets/sheet{sheet_index}.xml"))
    result = []
    for row in root.iter(f"{{{NS['m']}}}row"):
        cells = []
        for cell in row.findall("m:c", NS):
            kind = cell.get("t") or "n"
            if kind == "s":
                cells.append(("s", strings[int(cell.find("m:v", NS).text)]))
            elif kind == "inlineStr":
                cells.append(("s", _unescape("".join(t.text or "" for t in cell.iter(f"{{{NS['m']}}}t")))))
            else:
                value = cell.find("m:v", NS)
                cells.append((kind, value.text if value is not None else ""))
        result.append(cells)
    return result


def count_rows(path, sheet_index: int) -> tuple[int, bytes]:
    """Number of <row> elements of a sheet and the last one's XML, streaming (for million-row sheets)."""
    count = 0
    tail = b""
    with zipfile.ZipFile(path) as archive, archive.open(f"xl/worksheets/sheet{sheet_index}.xml") as handle:
        while block := handle.read(1 << 20):
            data = tail + block
            count += len(ROW.findall(data)) - len(ROW.findall(tail))
            tail = data[-4096:]
    starts = [match.start() for match in ROW.finditer(tail)]
    return count, tail[starts[-1] :] if starts else b""
