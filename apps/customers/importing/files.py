"""Reading an uploaded CSV or XLSX file as a header and rows of strings, with line numbers as a
spreadsheet shows them (the header is line 1)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any
from xml.parsers import expat

from defusedxml import ElementTree
from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_EXTENSIONS = (".csv", ".xlsx")
# The CSV module refuses longer cells (a broken quote then stops at this size instead of
# swallowing the file); IMPORT_MAX_CELL_CHARS is the product's limit, checked per cell.
csv.field_size_limit(1024 * 1024)
MB = 1024 * 1024
READ_CHUNK = 64 * 1024


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
        while chunk := stream.read(MB):
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


# Legacy encodings tried when a file is not UTF-8, in order of preference.
LEGACY_ENCODINGS = (
    "cp1252",
    "cp1250",
    "cp1254",
    "cp1257",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp932",
    "euc_jp",
    "gb18030",
    "big5",
    "cp949",
)
# Western, Central European, Turkish and Baltic Windows code pages read most Latin text alike;
# when they read a file equally well, Western European (the usual spreadsheet default) wins.
LATIN_ENCODINGS = frozenset({"cp1252", "cp1250", "cp1254", "cp1257"})
ENCODING_SAMPLE_BYTES = 4 * MB
ENCODING_NAMES = {
    "cp1252": "Windows Western European (cp1252)",
    "cp1250": "Windows Central European (cp1250)",
    "cp1254": "Windows Turkish (cp1254)",
    "cp1257": "Windows Baltic (cp1257)",
    "cp1251": "Windows Cyrillic (cp1251)",
    "koi8_r": "Cyrillic KOI8-R",
    "cp1253": "Windows Greek (cp1253)",
    "cp932": "Japanese Shift-JIS (cp932)",
    "euc_jp": "Japanese EUC-JP",
    "gb18030": "Chinese GB18030",
    "big5": "Chinese Big5",
    "cp949": "Korean (cp949)",
}
_TOKEN = re.compile(r"[^\s,;|\"'.:()\[\]/\\+\-]+")
_SCRIPT_FAMILY = {
    "HIRAGANA": "CJK",
    "KATAKANA": "CJK",
    "KATAKANA-HIRAGANA": "CJK",
    "HALFWIDTH": "CJK",
    "FULLWIDTH": "CJK",
    "CJK": "CJK",
}


# Signs real text holds next to digits or alone; any other symbol (box drawing, control
# characters) in a non-ASCII word marks a wrong reading.
_TEXT_SYMBOLS = frozenset("€£¥¢$°©®™§¶±×÷½¼¾¹²³«»„“”‘’–—…•‰·¡¿")


def _implausible_words(text: str) -> int:
    """How many words of `text` look like text decoded with the wrong code page: a symbol or
    control character touching a letter ("£ukasz" is "Łukasz" read as cp1252), letters of two
    scripts in one word, a capital after a small letter, a Latin word of three or more letters
    without one plain ASCII letter ("Čâŕí" is "Иван" read as cp1250), or one lone non-Latin
    letter among digits ("Ђ100" is "€100" read as cp1251), or any other symbol (box drawing,
    control characters). Real text in the right encoding scores 0; a currency sign or a degree
    next to digits ("€100", "5°") is fine."""
    bad = 0
    for word in _TOKEN.findall(text):
        if word.isascii():
            continue
        scripts: set[str] = set()
        ascii_letters = 0
        other_letters = 0
        previous_lower = False
        wrong = False
        for position, char in enumerate(word):
            if char.isascii():
                ascii_letters += char.isalpha()
                previous_lower = char.islower()
                continue
            if unicodedata.category(char)[0] not in "LM":
                neighbours = word[max(0, position - 1) : position] + word[position + 1 : position + 2]
                if char not in _TEXT_SYMBOLS or any(n.isalpha() for n in neighbours):
                    wrong = True
                    break
                continue
            if char.isupper() and previous_lower:
                wrong = True
                break
            other_letters += 1
            script = unicodedata.name(char, "?").split(" ")[0]
            scripts.add(_SCRIPT_FAMILY.get(script, script))
            previous_lower = char.islower()
        latin_only = scripts == {"LATIN"}
        if (
            wrong
            or len(scripts) > 1
            or (latin_only and not ascii_letters and len(word) >= 3)
            or (scripts and not latin_only and ascii_letters)
            or (scripts and not latin_only and other_letters == 1 and len(word) > 1)
        ):
            bad += 1
    return bad


def _detect_encoding(stream: IO[bytes]) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8. Otherwise the legacy
    encoding whose reading of the file's first ENCODING_SAMPLE_BYTES looks like real text
    (_implausible_words) and that decodes the whole file. When several read it equally well but
    differently (Japanese vs Chinese code pages on kanji-only names, Greek vs Cyrillic), the
    file is refused rather than imported as garbled names."""
    if _decodes_as(stream, "utf-8-sig"):
        return "utf-8-sig"
    stream.seek(0)
    sample = stream.read(ENCODING_SAMPLE_BYTES)
    stream.seek(0)
    scored: list[tuple[int, str, str]] = []
    for encoding in LEGACY_ENCODINGS:
        try:
            # Not final: the sample may end inside a multi-byte character.
            text = codecs.getincrementaldecoder(encoding)().decode(sample)
        except UnicodeDecodeError:
            continue
        scored.append((_implausible_words(text), encoding, text))
    best = min((score for score, _, _ in scored), default=None)
    tied = [(encoding, text) for score, encoding, text in scored if score == best]
    chosen: str | None = None
    if (
        tied
        and len({text for _, text in tied}) == 1
        or tied
        and all(encoding in LATIN_ENCODINGS for encoding, _ in tied)
    ):
        chosen = tied[0][0]
    if chosen is not None and _decodes_as(stream, chosen):
        return chosen
    if len(tied) > 1:
        readings = " or ".join(ENCODING_NAMES[encoding] for encoding, _ in tied[:3])
        raise ValidationError(
            f"The file is not UTF-8 and its text encoding cannot be told for sure (it reads as "
            f'{readings}). Save it as "CSV UTF-8" in your spreadsheet and upload it again.'
        )
    raise ValidationError(
        'The file\'s text encoding could not be read; save it as "CSV UTF-8" and upload it again.'
    )


@dataclass(frozen=True)
class FileLimits:
    """What one import file may hold (settings IMPORT_MAX_*), read when a file is opened."""

    uncompressed_bytes: int
    compression_ratio: int
    rows: int
    columns: int
    cell_chars: int

    @classmethod
    def from_settings(cls) -> FileLimits:
        return cls(
            uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_MB * MB,
            compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
            rows=settings.IMPORT_MAX_ROWS,
            columns=settings.IMPORT_MAX_COLUMNS,
            cell_chars=settings.IMPORT_MAX_CELL_CHARS,
        )


# Small members compress very well when they are mostly markup; the ratio only matters for a
# member large enough to hurt.
RATIO_MIN_BYTES = MB
MAX_MEMBERS = 10_000
# openpyxl holds every shared string in memory, so they get a quarter of the uncompressed budget.
SHARED_STRINGS_SHARE = 4
SAVE_AGAIN = "Open it in your spreadsheet and save it again as .xlsx, or as CSV UTF-8."


def _too_many_rows(limits: FileLimits) -> ValidationError:
    return ValidationError(
        f"The file has more than {limits.rows:,} data rows, the most one import takes; "
        "split it into smaller files and import each."
    )


def _check_members(archive: zipfile.ZipFile, limits: FileLimits) -> None:
    """Refuse an archive that would expand beyond the limits, from the sizes its directory
    declares (zipfile never returns more bytes than a member declares: a lying header fails its
    CRC check instead of expanding further)."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ValidationError(
            f"The workbook holds {len(members):,} parts, more than a workbook has. {SAVE_AGAIN}"
        )
    total = sum(m.file_size for m in members)
    if total > limits.uncompressed_bytes:
        raise ValidationError(
            f"The workbook expands to {total // MB:,} MB when opened, more than the "
            f"{limits.uncompressed_bytes // MB:,} MB an import may hold; split it or save it as CSV."
        )
    for member in members:
        if member.file_size >= RATIO_MIN_BYTES and member.file_size > limits.compression_ratio * max(
            member.compress_size, 1
        ):
            raise ValidationError(
                f"The workbook's part {member.filename} expands "
                f"{member.file_size // max(member.compress_size, 1):,} times when opened (at most "
                f"{limits.compression_ratio} is allowed), which no real spreadsheet does: it is "
                f"refused as a zip bomb. {SAVE_AGAIN}"
            )
        if member.filename.lower().endswith("sharedstrings.xml") and (
            member.file_size > limits.uncompressed_bytes // SHARED_STRINGS_SHARE
        ):
            raise ValidationError(
                f"The workbook's texts take {member.file_size // MB:,} MB, more than the "
                f"{limits.uncompressed_bytes // SHARED_STRINGS_SHARE // MB:,} MB an import may hold; "
                "split it or save it as CSV."
            )


def _scan_xml(archive: zipfile.ZipFile, name: str, parser: Any) -> None:
    """Feed a member to an expat parser in small chunks: memory stays at one chunk whatever
    the member holds, and a DOCTYPE (entity tricks) is refused."""

    def refuse_doctype(*args: Any) -> None:
        raise ValidationError(
            f"The workbook's part {name} declares a DOCTYPE, which a workbook never does. {SAVE_AGAIN}"
        )

    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        with archive.open(name) as member:
            while chunk := member.read(READ_CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise ValidationError(f"The workbook's part {name} is damaged ({exc}). {SAVE_AGAIN}") from exc


def _check_shared_strings(archive: zipfile.ZipFile, name: str, limits: FileLimits) -> None:
    """Refuse a shared string (the text of a cell) longer than the cell limit while streaming
    it, before openpyxl would read it into memory."""
    state = {"in_text": False, "length": 0}

    def start(tag: str, attrs: Any) -> None:
        local = tag.rpartition("}")[2]
        if local == "si":
            state["length"] = 0
        elif local == "t":
            state["in_text"] = True

    def end(tag: str) -> None:
        if tag.rpartition("}")[2] == "t":
            state["in_text"] = False

    def text(data: str) -> None:
        if state["in_text"]:
            state["length"] += len(data)
            if state["length"] > limits.cell_chars:
                raise ValidationError(
                    f"A cell of the workbook holds more than {limits.cell_chars:,} characters, the "
                    "most a cell may hold; shorten it and upload the file again."
                )

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    _scan_xml(archive, name, parser)


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_ROW_TAG_SPAN = 64


def _count_row_tags(archive: zipfile.ZipFile, name: str, limit: int) -> int:
    """<row> elements in a worksheet, counted on the decompressed bytes in chunks (C speed, one
    chunk of memory); stops once past `limit`. Matches are counted only where a whole tag fits
    before the carried tail, so a tag split across chunks counts once."""
    count = 0
    tail = b""
    with archive.open(name) as member:
        while chunk := member.read(MB):
            buffer = tail + chunk
            cut = max(0, len(buffer) - _ROW_TAG_SPAN)
            count += sum(1 for m in _ROW_TAG.finditer(buffer) if m.start() < cut)
            tail = buffer[cut:]
            if count > limit:
                return count
    return count + sum(1 for _ in _ROW_TAG.finditer(tail))


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    """The archive path of the workbook's first sheet, the one imported (workbook.xml names it,
    its relationships file says where it is)."""
    names = {n.lower(): n for n in archive.namelist()}
    workbook = names.get("xl/workbook.xml")
    rels = names.get("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return None
    for name in (workbook, rels):
        if archive.getinfo(name).file_size > 16 * MB:
            raise ValidationError(f"The workbook's part {name} is larger than a workbook needs. {SAVE_AGAIN}")
    sheets = [e for e in ElementTree.fromstring(archive.read(workbook)).iter() if e.tag.endswith("}sheet")]
    if not sheets:
        return None
    rel_id = next((v for k, v in sheets[0].attrib.items() if k.endswith("}id")), None)
    for rel in ElementTree.fromstring(archive.read(rels)).iter():
        if rel.get("Id") == rel_id and rel.get("Target"):
            target = str(rel.get("Target")).lstrip("/")
            path = target if target.lower().startswith("xl/") else f"xl/{target}"
            return names.get(path.lower())
    return None


def check_xlsx(stream: IO[bytes], limits: FileLimits, *, count_rows: bool = False) -> None:
    """Refuse an .xlsx whose zip members would expand beyond the limits, whose shared strings
    hold a cell longer than the cell limit, or (count_rows) whose first sheet has more rows than
    an import takes; before openpyxl opens it, in bounded memory and time."""
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            _check_members(archive, limits)
            for name in archive.namelist():
                if name.lower().endswith("sharedstrings.xml"):
                    _check_shared_strings(archive, name, limits)
            sheet = _first_sheet(archive) if count_rows else None
            # The header is a row too.
            if sheet is not None and _count_row_tags(archive, sheet, limits.rows + 1) > limits.rows + 1:
                raise _too_many_rows(limits)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        ElementTree.ParseError,
        KeyError,
    ) as exc:
        raise ValidationError(f"The file is not a readable .xlsx workbook ({type(exc).__name__}).") from exc
    except (NotImplementedError, RuntimeError) as exc:  # unsupported compression, encryption
        raise ValidationError(f"The workbook cannot be read ({exc}). {SAVE_AGAIN}") from exc
    finally:
        stream.seek(0)


def count_rows_within(stream: IO[bytes], file_name: str) -> None:
    """ValidationError when the file has more data rows than IMPORT_MAX_ROWS, decided before
    anything is imported: an .xlsx by its first sheet's row elements, a CSV by its line count
    and, only when that is over the limit (a quoted cell may span lines), by reading it."""
    limits = FileLimits.from_settings()
    extension = extension_of(file_name)
    if extension == ".xlsx":
        check_xlsx(stream, limits, count_rows=True)
        return
    stream.seek(0)
    lines = 0
    while chunk := stream.read(4 * MB):
        lines += chunk.count(b"\n")
    stream.seek(0)
    if lines <= limits.rows:
        return
    with open_tabular(stream, file_name) as table:
        for count, _ in enumerate(table.rows(), start=1):
            if count > limits.rows:
                raise _too_many_rows(limits)


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
        self.limits = FileLimits.from_settings()
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
        if len(self.header) > self.limits.columns:
            raise ValidationError(
                f"The file has {len(self.header):,} columns, more than the {self.limits.columns} an "
                "import reads; remove the columns you do not import."
            )
        if any(len(h) > 200 for h in self.header):
            raise ValidationError("A column name in the header row is longer than 200 characters.")

    def _checked(self, line: int, cells: list[str], ordinal: int) -> tuple[int, list[str], str]:
        """The `ordinal`-th data row with the problem the limits find in it ('' when none); past
        the row limit the whole file is refused (the job fails with that message)."""
        if ordinal > self.limits.rows:
            raise _too_many_rows(self.limits)
        longest = max(range(len(cells)), key=lambda i: len(cells[i]), default=None)
        if longest is not None and len(cells[longest]) > self.limits.cell_chars:
            size = len(cells[longest])
            cells = [c if len(c) <= self.limits.cell_chars else c[:200] + "…" for c in cells]
            return (
                line,
                cells,
                (
                    f"column {longest + 1} holds {size:,} characters, more than the "
                    f"{self.limits.cell_chars:,} a cell may hold"
                ),
            )
        return line, cells, ""

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
            records = 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # A broken quote swallows the rest of the file: report it on its line.
                    yield (
                        line + 1,
                        [],
                        f"The line could not be read as CSV ({exc}); nothing after it was read. "
                        "Close the quote (or shorten the cell) and import the file again.",
                    )
                    return
                # The line a record starts on (a quoted cell may span several lines).
                start, line = line + 1, reader.line_num
                records += 1
                if cells and any(c.strip() for c in cells):
                    yield self._checked(start, [unescape_cell(c) for c in cells], records)

        self._rows = rows()

    def _open_xlsx(self) -> None:
        import openpyxl

        check_xlsx(self._stream, self.limits)
        try:
            self._workbook = openpyxl.load_workbook(self._stream, read_only=True, data_only=True)
        except ValidationError:
            raise
        except Exception as exc:  # openpyxl raises many types for a damaged file
            raise ValidationError(
                f"The file is not a readable .xlsx workbook ({type(exc).__name__})."
            ) from exc
        sheet = self._workbook.worksheets[0] if self._workbook.worksheets else None
        if sheet is None:
            raise ValidationError("The workbook has no sheet.")
        # The <dimension> a sheet declares is not trusted: "A1:XFD1048576" would make openpyxl
        # pad every row to 16,384 cells and yield a million empty rows. Without it, rows and
        # cells are only those the sheet holds.
        sheet.reset_dimensions()
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None:
            raise ValidationError("The file is empty.")
        self.header = [_cell_text(v).strip() for v in first[: self.limits.columns + 1]]
        while self.header and not self.header[-1]:
            self.header.pop()
        width = len(self.header)

        def rows() -> Iterator[tuple[int, list[str], str]]:
            for line, row in enumerate(values, start=2):
                # A row is at most 16,384 cells (the format's last column, XFD).
                cells = [unescape_cell(_cell_text(v)) for v in row]
                while len(cells) > width and not cells[-1]:
                    cells.pop()
                if any(c.strip() for c in cells):
                    yield self._checked(line, cells, line - 1)
                elif line - 1 > self.limits.rows:
                    raise _too_many_rows(self.limits)

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
