"""Reading an uploaded CSV or XLSX file as a header and rows of strings, with line numbers as a
spreadsheet shows them (the header is line 1)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, Any

from django.core.exceptions import ValidationError

ALLOWED_EXTENSIONS = (".csv", ".xlsx")
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
# The CSV module refuses longer cells; a customer row never needs more.
csv.field_size_limit(1024 * 1024)


# What makes Excel, LibreOffice or Google Sheets evaluate a cell ("=HYPERLINK(...)", "@SUM(...)",
# "+cmd|..."): our CSV exports write such cells with a leading apostrophe, which spreadsheets
# read as "this is text", and the importer strips it again so an export re-imports unchanged.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: str) -> str:
    """`value` as a spreadsheet shows it without evaluating it."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def unescape_cell(value: str) -> str:
    """The value neutralize_formula wrote `value` for."""
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def extension_of(file_name: str) -> str:
    name = file_name.lower()
    for extension in ALLOWED_EXTENSIONS:
        if name.endswith(extension):
            return extension
    raise ValidationError(f"{file_name!r} is not a .csv or .xlsx file.")


def _decodes_as(stream: IO[bytes], encoding: str) -> bool:
    """Whether the whole file decodes; read in chunks so a large file is not held in memory."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := stream.read(1024 * 1024):
            if b"\x00" in chunk:
                raise ValidationError(
                    "The file is not readable text (binary content); save it as CSV (UTF-8)."
                )
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    return True


def _detect_encoding(stream: IO[bytes]) -> str:
    """The first of utf-8-sig, cp1252 and latin-1 that decodes the whole file. latin-1 decodes
    any bytes, so a file is refused only when it holds NUL bytes (binary, not text)."""
    for encoding in ENCODINGS:
        if _decodes_as(stream, encoding):
            return encoding
    raise ValidationError("The file's text encoding could not be read; save it as CSV (UTF-8).")


def _sniff_dialect(head: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV would hold: whole numbers without '.0' (phones typed as
    numbers), dates as YYYY-MM-DD, booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class TabularFile:
    """Header and rows of an open file. `rows()` yields (line_number, cells, problem) for every
    non-blank row after the header: cells are strings; problem is "" or why the line could not
    be read (it is then reported, not dropped)."""

    def __init__(self, stream: IO[bytes], extension: str) -> None:
        self._stream = stream
        self._extension = extension
        self._workbook: Any = None
        self.header: list[str] = []
        self._rows: Iterator[tuple[int, list[str], str]] = iter(())
        self._text: io.TextIOWrapper | None = None
        if extension == ".xlsx":
            self._open_xlsx()
        else:
            self._open_csv()
        if not self.header or not any(h.strip() for h in self.header):
            raise ValidationError("The file has no header row (the first line must name the columns).")

    def _open_csv(self) -> None:
        encoding = _detect_encoding(self._stream)
        text = io.TextIOWrapper(self._stream, encoding=encoding, newline="")
        head = text.read(64 * 1024)
        if not head.strip():
            raise ValidationError("The file is empty.")
        text.seek(0)
        reader = csv.reader(text, _sniff_dialect(head))
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise ValidationError(f"The file is not a readable CSV file ({exc}).") from exc
        self.header = [h.strip() for h in first] if first else []
        self._text = text

        def rows() -> Iterator[tuple[int, list[str], str]]:
            line = 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # A broken quote swallows the rest of the file: report it on its line.
                    yield line + 1, [], f"The line could not be read as CSV ({exc})."
                    return
                # The line a record starts on (a quoted cell may span several lines).
                start, line = line + 1, reader.line_num
                if cells and any(c.strip() for c in cells):
                    yield start, [unescape_cell(c) for c in cells], ""

        self._rows = rows()

    def _open_xlsx(self) -> None:
        import openpyxl

        try:
            self._workbook = openpyxl.load_workbook(self._stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise ValidationError(
                f"The file is not a readable .xlsx workbook ({type(exc).__name__})."
            ) from exc
        sheet = self._workbook.worksheets[0] if self._workbook.worksheets else None
        if sheet is None:
            raise ValidationError("The workbook has no sheet.")
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None:
            raise ValidationError("The file is empty.")
        self.header = [_cell_text(v).strip() for v in first]
        while self.header and not self.header[-1]:
            self.header.pop()

        def rows() -> Iterator[tuple[int, list[str], str]]:
            for line, row in enumerate(values, start=2):
                cells = [unescape_cell(_cell_text(v)) for v in row]
                if any(c.strip() for c in cells):
                    yield line, cells, ""

        self._rows = rows()

    def rows(self) -> Iterator[tuple[int, list[str], str]]:
        return self._rows

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()
        if self._text is not None:
            # Leave the caller's stream open: the wrapper would close it with itself.
            self._text.detach()


@contextmanager
def open_tabular(stream: IO[bytes], file_name: str) -> Iterator[TabularFile]:
    """Open `stream` (binary, seekable) as the file type its name says; ValidationError for an
    empty, headerless, binary or damaged file."""
    extension = extension_of(file_name)
    stream.seek(0)
    tabular = TabularFile(stream, extension)
    try:
        yield tabular
    finally:
        tabular.close()
