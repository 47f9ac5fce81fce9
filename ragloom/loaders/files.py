"""Read text, Markdown, PDF, HTML, DOCX, JSONL and BEIR corpora from disk into `Document`s.

A file is named by the path it was found under (`path_id`): the name of the folder given, then
the file's path inside it, POSIX-style, whatever the working directory (`docs`, `./docs/` and
`/home/me/docs` all name `docs/guide/a.md`); a file given itself goes by its file name. That
name is the id of a text or Markdown document and the `source` of every document (a JSONL or
BEIR record keeps the id it carries), so indexing the same folder twice yields the same ids.
Two files with one name are refused. A file's type is decided by its first bytes where they
show one (`ragloom.loaders.detect`), else by its extension. `iter_documents` walks files and
folders and skips what it cannot read (binary, undecodable, empty, a PDF without a text layer,
an encrypted or truncated file, a zip bomb), recording why::

    stream = iter_documents(["docs", "data/scifact"])
    documents = list(stream)
    for path, reason in stream.skipped:
        print(f"skipped {path}: {reason}")
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ragloom.errors import RagloomError
from ragloom.jsonl import JsonlError, get_field, parse_object
from ragloom.loaders.detect import sniff_file
from ragloom.loaders.docx import parse_docx
from ragloom.loaders.extracted import DocumentError, Extracted, user_fields
from ragloom.loaders.html import parse_html
from ragloom.loaders.markdown import parse_markdown
from ragloom.loaders.pdf import parse_pdf
from ragloom.loaders.record_keys import record_key_of, record_seed
from ragloom.progress import progress_bar
from ragloom.types import Document

StrPath = str | os.PathLike[str]
Format = Literal["text", "markdown", "jsonl", "beir", "pdf", "html", "docx"]
#: What a JSONL reader yields per parsed record: line number, document, record key or None.
Record = tuple[int, "Document", bytes | None]
#: Where a JSONL reader puts the records it recognised unparsed: (line number, document id).
Recognised = list[tuple[int, str]]

#: File extension -> format; `iter_documents` reads only these.
FORMATS: dict[str, Format] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
}
DEFAULT_EXTENSIONS = (".txt", ".md", ".markdown", ".jsonl", ".pdf", ".html", ".htm", ".docx")
BEIR_CORPUS = "corpus.jsonl"
#: Reserved metadata keys; a JSONL field of the same name is kept as `record_<name>`.
RESERVED_METADATA = ("source", "format")
#: Documents longer than this many characters are skipped as too large (file_loader's
#: `max_document_chars`): tokenizing a text takes about 280 bytes of memory per character
#: (2M characters, some 1,000 pages: about 0.5 GB; benchmarks/tokenize_memory.py), so one huge
#: file must not take the run down.
MAX_DOCUMENT_CHARS = 2_000_000
#: Show a progress bar when a load reads at least this many files.
PROGRESS_MIN_FILES = 20

_SURROGATE = re.compile("[\ud800-\udfff]")


class LoaderError(RagloomError):
    """A document source is missing or malformed (bad JSON line, missing field, duplicate id)."""


class RecordError(LoaderError, JsonlError):
    """One JSONL record is malformed (bad JSON, a missing or mistyped field): a stream lists
    it as failed and goes on with the other records; `load_jsonl` raises it."""


class UnreadableFileError(LoaderError):
    """A file could not be read as text; `iter_documents` skips these and reports why."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class Skipped(NamedTuple):
    """A file or record left out of a load, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class Source(NamedTuple):
    """A file to read (its path as found), the format to read it as and its name (`path_id`)."""

    path: Path
    format: Format
    id: str


def too_large(chars: int, limit: int) -> str:
    """Why a document was skipped for its size."""
    return f"too large: {chars:,} characters (max_document_chars is {limit:,})"


def path_id(path: StrPath, given: StrPath | None = None) -> str:
    """A file's name in an index: the name of `given`, the folder it was found in as passed to
    `ragloom index` (default: the file itself), then the file's POSIX path inside it. The
    working directory plays no part: `path_id("/srv/docs/a/b.md", "/srv/docs")` and, from
    /srv, `path_id("docs/a/b.md", "docs/")` are "docs/a/b.md"; `path_id("notes/c.txt")` is
    "c.txt". ValueError if `path` is not inside `given`."""
    absolute = Path(os.path.abspath(path))
    root = absolute if given is None else Path(os.path.abspath(given))
    try:
        inner = absolute.relative_to(root).parts
    except ValueError:
        raise ValueError(f"{path} is not inside {given}") from None
    return "/".join([root.name, *inner] if root.name else inner)


def _inside(name: str, entry: str) -> str:
    """The name of `entry` in the folder named `name` ("" for a file system root)."""
    return f"{name}/{entry}" if name else entry


def read_text(path: StrPath, encoding: str = "utf-8") -> str:
    """A file's decoded text, verbatim (no newline translation; a leading BOM is dropped)."""
    return _read_checked(path, encoding)[1]


def _read_checked(path: StrPath, encoding: str) -> tuple[bytes, str, str]:
    """(raw bytes without a UTF-8 BOM, decoded text, the encoding used) of a readable text
    file; UnreadableFileError (naming the path as given) for a missing, binary or
    undecodable one."""
    name = Path(path).as_posix()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableFileError(name, f"cannot read: {exc.strerror or exc}") from None
    wide = _is_wide(encoding)
    if not wide and (bom := _wide_bom(data)):  # UTF-16/32 marked as such: read it as that
        encoding, wide = bom, True
    if not wide and b"\x00" in data:
        raise UnreadableFileError(name, "binary file (contains NUL bytes)")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(
            name, f"cannot decode as {encoding} at byte {exc.start}: {exc.reason}"
        ) from None
    if wide and "\x00" in text:
        raise UnreadableFileError(name, "binary file (contains NUL characters)")
    return data.removeprefix(codecs.BOM_UTF8), text.removeprefix("\ufeff"), encoding


def _is_wide(encoding: str) -> bool:
    """True for UTF-16/32, whose bytes hold NULs and whose line breaks are not b"\\n"."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _wide_bom(data: bytes) -> str | None:
    """The codec a UTF-32 or UTF-16 byte order mark at the start of `data` names, or None."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def load_text(path: StrPath, encoding: str = "utf-8", *, name: str | None = None) -> Document:
    """One plain-text file as a Document whose id is its name: `name`, by default its file
    name (`path_id`)."""
    source = name or path_id(path)
    text = read_text(path, encoding)
    return Document(text=text, id=source, metadata={"source": source, "format": "text"})


def load_markdown(path: StrPath, encoding: str = "utf-8", *, name: str | None = None) -> Document:
    """One Markdown file: its body verbatim (chunk spans index into it), YAML front matter
    fields as metadata, its title (front matter, else `# heading`) and heading sections; its
    id is `name`, by default its file name (`path_id`)."""
    source = name or path_id(path)
    try:
        extracted = parse_markdown(read_text(path, encoding))
    except DocumentError as exc:
        raise UnreadableFileError(Path(path).as_posix(), str(exc)) from None
    return _document(source, "markdown", extracted)


#: The format a file's first bytes show (`ragloom.loaders.detect`), and each binary format's parser.
_SNIFFED_FORMAT: dict[str, Format] = {"pdf": "pdf", "zip": "docx", "html": "html"}
_PARSERS: dict[str, Callable[[bytes], Extracted]] = {
    "pdf": parse_pdf,
    "html": parse_html,
    "docx": parse_docx,
}


def _document(source: str, fmt: str, extracted: Extracted) -> Document:
    """A parsed file as a Document named `source` (metadata: source, format, what the parser
    found)."""
    metadata: dict[str, Any] = {"source": source, "format": fmt, **extracted.metadata}
    return Document(text=extracted.text, id=source, metadata=metadata)


def load_document(
    path: StrPath, encoding: str = "utf-8", *, name: str | None = None, fmt: Format | None = None
) -> Document:
    """One text, Markdown, PDF, HTML or DOCX file as a Document named `name` (default: its file
    name), its type taken from its first bytes, else from `fmt` (default: its extension);
    UnreadableFileError with the reason for a file that cannot be indexed."""
    source = name or path_id(path)
    where = Path(path).as_posix()
    declared = fmt or FORMATS.get(Path(path).suffix.lower(), "text")
    kind = sniff_file(path)
    actual = _SNIFFED_FORMAT.get(kind or "", declared)
    if actual == "text":
        return load_text(path, encoding, name=source)
    if actual == "markdown":
        return load_markdown(path, encoding, name=source)
    if actual not in _PARSERS:
        raise UnreadableFileError(where, f"not a document file ({actual})")
    if kind is None and actual != "html":  # HTML may start with anything; PDF and DOCX may not
        raise UnreadableFileError(
            where, f"not a {actual.upper()} file: its first bytes say otherwise"
        )
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableFileError(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        return _document(source, actual, _PARSERS[actual](data))
    except DocumentError as exc:
        raise UnreadableFileError(where, str(exc)) from None


@dataclass
class _Reading:
    """What reading one JSONL file needs and fills besides the documents it yields: the
    encoding, the `known` record keys, the (line, id) of records recognised by them, and the
    malformed records (`bad`; None: the first one raises RecordError)."""

    encoding: str = "utf-8"
    known: dict[bytes, str] | None = None
    recognised: Recognised = field(default_factory=list)
    bad: list[Skipped] | None = None
    #: The file's name in the index (`source`, and `file:line` ids); None: `path_id(path)`.
    name: str | None = None

    def failed(self, error: JsonlError) -> None:
        """List a malformed record as failed, or raise it as a RecordError."""
        if self.bad is None:
            raise RecordError(error.where, error.reason) from None
        self.bad.append(Skipped(error.where, error.reason))


#: Makes a parsed record a Document: (record, line number, record key) -> Record.
Build = Callable[[dict[str, Any], int, bytes | None], Record]


def _records(
    path: StrPath, source: str, reading: _Reading, seed: int | None, build: Build
) -> Iterator[Record]:
    """`build`'s Record for each non-blank line of a JSONL file; a malformed line goes to
    `reading.failed`.

    With a `seed`, each line's record key is computed; a line whose key is in `reading.known`
    is not parsed: (its line number, the id `known` gives) goes to `reading.recognised`
    instead (see `ragloom.loaders.record_keys`). That path is the bulk of a re-index, so it is
    kept tight.
    """
    data, text, used = _read_checked(path, reading.encoding)
    # Split on "\n" only: JSON strings may legally hold U+2028, which splitlines() breaks on.
    # Keyed, a file whose encoding keeps b"\n" a line break is split as bytes: the keys are
    # hashed and the unchanged lines skipped without decoding them one by one.
    raw = seed is not None and not _is_wide(used)
    lines: Sequence[str | bytes] = data.split(b"\n") if raw else text.split("\n")
    del data, text
    utf8 = codecs.lookup(used).name == "utf-8"
    known, recognised = reading.known, reading.recognised
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        key = None
        if seed is not None:
            key = record_key_of(seed, line)
            if known and (doc_id := known.get(key)) is not None:
                recognised.append((line_no, doc_id))
                continue
        if isinstance(line, bytes) and not utf8:
            line = line.decode(used)
        try:
            record = build(parse_object(line, source, line_no), line_no, key)
        except JsonlError as error:
            reading.failed(error)
            continue
        yield record


def _record_id(record: dict[str, Any], id_field: str, where: str) -> str | None:
    """The record's id from `id_field`, else `_id`; None when both are absent or empty."""
    for name in (id_field, "_id"):
        value = record.get(name)
        if value is None or value == "":
            continue
        return str(get_field(record, name, "id", where))
    return None


def _check_unicode(where: str, **fields: str) -> None:
    """JsonlError for a field holding a lone surrogate (a JSON escape such as \\ud800 alone):
    not text, and no file, hash or database can store it."""
    for name, value in fields.items():
        if not value.isascii() and _SURROGATE.search(value):
            raise JsonlError(where, f"field {name!r} holds a lone surrogate: not valid Unicode")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _jsonl_records(
    path: StrPath, reading: _Reading, text_field: str = "text", id_field: str = "id"
) -> Iterator[Record]:
    """(line number, document, record key) per parsed record (see `_records`); a document
    whose id is its position gets no key."""
    source = reading.name or path_id(path)
    seed = None
    if reading.known is not None:
        seed = record_seed(source, "jsonl", text_field, id_field, reading.encoding)
    return _records(
        path,
        source,
        reading,
        seed,
        lambda record, line_no, key: _jsonl_document(
            record, source, line_no, key, text_field, id_field
        ),
    )


def _jsonl_document(
    record: dict[str, Any],
    source: str,
    line_no: int,
    key: bytes | None,
    text_field: str,
    id_field: str,
) -> Record:
    """One parsed JSONL record as a Document (JsonlError if a field is missing or wrong)."""
    text = record.get(text_field)
    if not isinstance(text, str):  # the usual case skips building the location string
        text = get_field(record, text_field, "string", f"{source}:{line_no}")
    doc_id = record.get(id_field)
    if not isinstance(doc_id, str) or not doc_id:
        where = f"{source}:{line_no}"
        doc_id = _record_id(record, id_field, where)
        if doc_id is None:
            doc_id, key = where, None
    if not (text.isascii() and doc_id.isascii()):
        _check_unicode(f"{source}:{line_no}", text=text, id=doc_id)
    metadata: dict[str, Any] = {"source": source, "format": "jsonl"}
    for name, value in record.items():
        if name in (text_field, id_field, "_id") or not _is_scalar(value):
            continue
        metadata[f"record_{name}" if name in RESERVED_METADATA else name] = value
    if isinstance(fields := record.get("metadata"), dict):  # {"metadata": {"team": "red"}}
        metadata.update(user_fields(fields))
    return line_no, Document(text=text, id=doc_id, metadata=metadata), key


def load_jsonl(
    path: StrPath, text_field: str = "text", id_field: str = "id", encoding: str = "utf-8"
) -> list[Document]:
    """One Document per JSON line; other scalar fields become metadata.

    The id comes from `id_field`, else `_id`, else `"<file>:<line>"`. Blank lines are ignored;
    a line that is not a JSON object or lacks a string `text_field` raises RecordError.
    """
    return [doc for _, doc, _ in _jsonl_records(path, _Reading(encoding), text_field, id_field)]


def _beir_records(path: StrPath, reading: _Reading) -> Iterator[Record]:
    """Like `_jsonl_records`, for a BEIR corpus (every record has an `_id`)."""
    corpus, name = Path(path), reading.name
    if corpus.is_dir():  # named from the folder, as `iter_documents` names it
        corpus = corpus / BEIR_CORPUS
        name = name or path_id(corpus, path)
    source = name or path_id(corpus)
    seed = None
    if reading.known is not None:
        seed = record_seed(source, "beir", "text", "_id", reading.encoding)
    return _records(
        corpus,
        source,
        reading,
        seed,
        lambda record, line_no, key: _beir_document(record, source, line_no, key),
    )


def _beir_document(record: dict[str, Any], source: str, line_no: int, key: bytes | None) -> Record:
    """One parsed BEIR record as a Document: title and text (JsonlError if malformed)."""
    where = f"{source}:{line_no}"
    doc_id = _record_id(record, "_id", where)
    if doc_id is None:
        raise JsonlError(where, f"missing field '_id' (fields: {', '.join(record)})")
    text = get_field(record, "text", "string", where)
    title = record.get("title") or ""
    if not isinstance(title, str):
        get_field(record, "title", "string", where)  # raises: present but not a string
    _check_unicode(where, text=text, title=title, id=doc_id)
    full_text = f"{title}\n\n{text}" if title.strip() else text
    metadata = {"title": title, "source": source, "format": "beir"}
    return line_no, Document(text=full_text, id=doc_id, metadata=metadata), key


def load_beir_corpus(path: StrPath, encoding: str = "utf-8") -> list[Document]:
    """A BEIR `corpus.jsonl` (or a BEIR dataset folder holding one): id `_id`, title + text."""
    return [doc for _, doc, _ in _beir_records(path, _Reading(encoding))]


def check_extensions(extensions: Iterable[str]) -> list[str]:
    """Problems with an extension list (each must be a supported `.ext`), as messages."""
    problems = []
    extensions = list(extensions)
    if not extensions:
        problems.append(f"no extensions given; supported: {', '.join(FORMATS)}")
    for ext in extensions:
        if not isinstance(ext, str) or not ext.startswith("."):
            hint = f" (did you mean '.{ext}'?)" if isinstance(ext, str) else ""
            problems.append(f"extension {ext!r} must start with '.'{hint}")
        elif ext.lower() not in FORMATS:
            problems.append(f"extension {ext!r} is not supported; supported: {', '.join(FORMATS)}")
    return problems


class DocumentStream(Iterator[Document]):
    """Documents from files and folders, with `skipped` filled in as iteration goes.

    Paths are checked and folders walked when the stream is made (a missing path, or two files
    with one name, raises LoaderError at once); files are read as it is iterated. Iterate it
    once. Skipped entries name a file or record by its name in the index (`path_id`).

    With `known` (an index's `{record key: doc_id}`), JSONL and BEIR records are keyed:
    `record_keys` gets each yielded document's key, and a record whose key is known is not
    parsed: its id goes to `recognised` instead (an unchanged document).
    """

    def __init__(
        self,
        paths: Iterable[StrPath],
        extensions: Iterable[str] = DEFAULT_EXTENSIONS,
        recursive: bool = True,
        encoding: str = "utf-8",
        *,
        text_field: str = "text",
        id_field: str = "id",
        progress: bool = False,
        known: dict[bytes, str] | None = None,
        max_chars: int | None = MAX_DOCUMENT_CHARS,
    ):
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        extensions = list(extensions)
        problems = check_extensions(extensions)
        if problems:
            raise LoaderError("; ".join(problems))
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise LoaderError(f"unknown encoding {encoding!r}") from None
        self.extensions = {ext.lower() for ext in extensions}
        self.recursive = recursive
        self.encoding = encoding
        self.text_field = text_field
        self.id_field = id_field
        self.skipped: list[Skipped] = []
        #: Ids of documents that exist but are empty: their old chunks must go from an index.
        self.empty_ids: list[str] = []
        #: Ids of documents whose record key was `known`: unchanged, neither parsed nor yielded.
        self.recognised: list[str] = []
        #: The record key of each yielded document that has one (only when `known` is given).
        self.record_keys: dict[str, bytes] = {}
        self.known = known
        self.max_chars = max_chars
        self.files_read = 0
        self._visited: set[Path] = set()
        self.sources: list[Source] = self._find_sources([Path(p) for p in paths])
        self._iterator = self._documents(progress and len(self.sources) >= PROGRESS_MIN_FILES)

    def __iter__(self) -> DocumentStream:
        return self

    def __next__(self) -> Document:
        return next(self._iterator)

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))

    def _find_sources(self, paths: list[Path]) -> list[Source]:
        """The files to read, each once, named by the path given that they were found under;
        LoaderError for a missing path or two files with one name."""
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise LoaderError(f"path does not exist: {', '.join(missing)}")
        found: dict[Path, Source] = {}  # by real path, in reading order
        named: dict[str, Source] = {}  # by name
        for path in paths:
            name = Path(os.path.abspath(path)).name
            self._visited = set()  # each walk finds all its files, even those of another
            walk = (
                self._directory(path, name, explicit=True)
                if path.is_dir()
                else [self._file(path, name, explicit=True)]
            )
            for source in walk:
                if source is None:
                    continue
                real = source.path.resolve()
                if (kept := found.get(real)) is not None:
                    # The same file reached twice (a folder and its file, or two nested
                    # folders): it is named from the outermost path given, whatever the order.
                    if kept.id.count("/") >= source.id.count("/"):
                        continue
                    del named[kept.id]
                if (other := named.get(source.id)) is not None:
                    raise LoaderError(
                        f"document id {source.id!r} would name two files, "
                        f"{other.path.as_posix()} and {source.path.as_posix()}: a file is named "
                        f"by its path from the folder given, starting with that folder's name "
                        f"(a file given itself: by its file name); give folders whose names "
                        f"differ (e.g. their parent folders), or rename one"
                    )
                found[real] = named[source.id] = source
        return list(found.values())

    def _file(self, path: Path, name: str, explicit: bool) -> Source | None:
        suffix = path.suffix.lower()
        if suffix not in self.extensions:
            if explicit:
                self._skip(name, f"extension {path.suffix or '(none)'!r} not in extensions")
            return None
        return Source(path, "beir" if path.name == BEIR_CORPUS else FORMATS[suffix], name)

    def _directory(self, directory: Path, name: str, explicit: bool) -> Iterator[Source]:
        corpus = directory / BEIR_CORPUS
        if corpus.is_file():  # a BEIR dataset folder: only its corpus holds documents
            source = self._file(corpus, _inside(name, BEIR_CORPUS), explicit)
            if source:
                yield source
            return
        real = directory.resolve()
        if real in self._visited:  # symlink cycle
            return
        self._visited.add(real)
        try:
            entries = sorted(directory.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            self._skip(name, f"cannot list folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            inner = _inside(name, entry.name)
            if entry.is_dir():
                if self.recursive:
                    yield from self._directory(entry, inner, explicit=False)
            elif entry.is_file():
                source = self._file(entry, inner, explicit=False)
                if source:
                    yield source
            elif entry.is_symlink() and entry.suffix.lower() in self.extensions:
                self._skip(inner, "broken or looping symbolic link")

    def _records(
        self, source: Source, recognised: Recognised
    ) -> Iterator[tuple[int | None, Document, bytes | None]]:
        """(line number, document, record key) of each parsed record of one file (no line
        number: a whole text or Markdown file); records recognised by key go to `recognised`,
        malformed ones to `skipped`."""
        path, fmt, name = source
        if fmt not in ("jsonl", "beir"):
            yield None, load_document(path, self.encoding, name=name, fmt=fmt), None
        else:
            reading = _Reading(self.encoding, self.known, recognised, self.skipped, name)
            yield from (
                _beir_records(path, reading)
                if fmt == "beir"
                else _jsonl_records(path, reading, self.text_field, self.id_field)
            )

    def _documents(self, show_progress: bool) -> Iterator[Document]:
        # Where each id was read: (file as found, line number or None for a whole file); the
        # string is only made for an error message (a million records).
        seen: dict[str, tuple[str, int | None]] = {}

        def where(file: str, line_no: int | None) -> str:
            return file if line_no is None else f"{file}:{line_no}"

        def duplicate(doc_id: str, file: str, line_no: int | None) -> LoaderError:
            return LoaderError(
                f"duplicate document id {doc_id!r}: from {where(*seen[doc_id])} and "
                f"{where(file, line_no)}"
            )

        bar = (
            progress_bar(len(self.sources), desc="loading", unit="file") if show_progress else None
        )
        try:
            for source in self.sources:
                file = source.path.as_posix()
                recognised: Recognised = []
                try:
                    records = list(self._records(source, recognised))
                except UnreadableFileError as exc:
                    self._skip(source.id, exc.reason)
                    records = []
                if recognised:  # unchanged records: their ids only
                    for number, doc_id in recognised:
                        if doc_id in seen:
                            raise duplicate(doc_id, file, number)
                        seen[doc_id] = (file, number)
                    self.recognised.extend(doc_id for _, doc_id in recognised)
                self.files_read += 1
                if bar is not None:
                    bar.update(1)
                for line_no, doc, key in records:
                    if not doc.text or doc.text.isspace():
                        empty = "empty file" if line_no is None else "empty text"
                        self._skip(where(source.id, line_no), empty)
                        self.empty_ids.append(doc.id)
                        continue
                    if self.max_chars is not None and len(doc.text) > self.max_chars:
                        size = too_large(len(doc.text), self.max_chars)
                        self._skip(where(source.id, line_no), size)
                        continue
                    if doc.id in seen:
                        raise duplicate(doc.id, file, line_no)
                    seen[doc.id] = (file, line_no)
                    if key is not None:
                        self.record_keys[doc.id] = key
                    yield doc
        finally:
            if bar is not None:
                bar.close()


def iter_documents(
    paths: Iterable[StrPath],
    extensions: Iterable[str] = DEFAULT_EXTENSIONS,
    recursive: bool = True,
    encoding: str = "utf-8",
    *,
    text_field: str = "text",
    id_field: str = "id",
    progress: bool = False,
    known: dict[bytes, str] | None = None,
    max_chars: int | None = MAX_DOCUMENT_CHARS,
) -> DocumentStream:
    """Documents from files and folders (walked in sorted order, hidden entries skipped).

    Dispatches on extension; `corpus.jsonl`, or a folder holding one, is read as BEIR. Unreadable,
    binary, undecodable and empty inputs are skipped and listed in the stream's `skipped`; a
    missing path, a malformed JSONL line or a duplicate document id raises LoaderError.
    `known` record keys: see `DocumentStream`. A document longer than `max_chars` characters
    is skipped (listed as failed with its size).
    """
    return DocumentStream(
        paths,
        extensions,
        recursive,
        encoding,
        text_field=text_field,
        id_field=id_field,
        progress=progress,
        known=known,
        max_chars=max_chars,
    )
