"""Data files a Vensim model reads, confined to the model's own folder.

Vensim's ``GET XLS`` and ``GET DIRECT`` functions (``CONSTANTS``, ``DATA``, ``LOOKUPS``,
``SUBSCRIPT``) name a CSV or spreadsheet file and the sheet and cells to read. PySD resolves those
names against the folder of the file it translates -- cxsystems' private translation folder -- and
pastes every argument into the Python module it writes (the file between ``r'...'``, the others
between ``'...'``). This module is the one place that decides which of those files may be read:

1. :func:`find_data_calls` finds the calls in an equation; each argument must be a string literal.
2. :func:`argument_problem` checks an argument's text (no quote, backslash or control character
   that could leave the string literal; a file name relative, without ``..``, drive, URL, hidden
   part or indirect ``?name`` reference, and of a type PySD reads: :data:`DATA_SUFFIXES`).
3. :func:`confine` resolves a file name against the model's folder: it must stay inside it after
   symlinks are followed, exist, be a regular file (no device, FIFO or folder) and not be larger
   than :data:`MAX_DATA_FILE_BYTES`.
4. :func:`stage_data_files` copies the confined files into the translation folder at the same
   relative paths, re-checking what it really opens (no symlink, regular file, size) and its
   content (:func:`content_problem`: text without NUL bytes for ``.csv``/``.tab``/``.txt``; an
   ``.xls`` compound file; an ``.xlsx``/``.xlsm``/``.ods`` archive of bounded unpacked size with no
   external links). Nothing is written beside the user's model.
5. The files given at run time for data variables without an equation (``load_model(path,
   data_files=...)``, ``.tab``/``.csv``/``.tsv``) pass the same checks (:func:`runtime_data_files`)
   and are staged in order under :data:`RUNTIME_FOLDER` (:func:`stage_runtime_data_files`).

Spreadsheets are read later by pandas and openpyxl (``.xlsx``, ``.xlsm``; read-only, cached values:
formulas are never evaluated, and its XML goes through defusedxml or lxml without entity
resolution), xlrd (``.xls``, a binary format without XML) and odfpy (``.ods``, through defusedxml).
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from ..errors import UnsafeModelError

#: File types PySD reads (``pysd.py_backend.external``): delimited text and spreadsheets.
DATA_SUFFIXES = {".csv": "text", ".tab": "text", ".txt": "text", ".xls": "xls",
                 ".xlsx": "ooxml", ".xlsm": "ooxml", ".ods": "ods"}
#: Largest data file copied, in bytes.
MAX_DATA_FILE_BYTES = 50_000_000
#: Most bytes a spreadsheet archive (``.xlsx``, ``.xlsm``, ``.ods``) may unpack to, and most members.
MAX_UNPACKED_BYTES = 250_000_000
MAX_ARCHIVE_MEMBERS = 20_000
#: Most distinct data files one model may read.
MAX_DATA_FILES = 500

#: The data functions allowed, by kind, with their argument roles (Vensim's order, PySD's too).
DATA_FUNCTIONS = {
    "CONSTANTS": ("file", "tab", "cell"),
    "DATA": ("file", "tab", "cell", "cell"),
    "LOOKUPS": ("file", "tab", "cell", "cell"),
    "SUBSCRIPT": ("file", "tab", "cell", "cell", "prefix"),
}

#: ``GET XLS DATA``, ``GET_DIRECT_CONSTANTS``, ... (PySD accepts spaces or underscores).
DATA_CALL = re.compile(r"\bGET[\s_\\]+(XLS|DIRECT)[\s_\\]+(CONSTANTS|DATA|LOOKUPS|SUBSCRIPT)\b",
                       re.IGNORECASE)
_SPACE = re.compile(r"[\s\\]*")
_STRING = re.compile(r"'([^']*)'")

#: Characters allowed in each kind of argument (all inert inside a Python string literal).
_ALLOWED = {
    "file": re.compile(r"[\w .\-/()&+#]+"),
    "tab": re.compile(r"[\w .,;:\-()&+#]*"),
    "cell": re.compile(r"[\w.*$:]+"),
    "prefix": re.compile(r"[\w .\-]*"),
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")
_ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"


@dataclass(frozen=True)
class DataCall:
    """One ``GET XLS|DIRECT <kind>(...)`` call in an equation: ``function`` as Vensim names it
    (``"GET DIRECT DATA"``), its string ``args``, and where it starts and ends in the equation."""

    function: str
    args: tuple[str, ...]
    start: int
    end: int

    @property
    def roles(self) -> tuple[str, ...]:
        return DATA_FUNCTIONS[self.function.rsplit(" ", 1)[1]]


@dataclass(frozen=True)
class DataFile:
    """A data file a model reads: its ``name`` as written (relative, ``/``-separated), the
    confined ``path`` it resolves to, the model ``source`` and ``line`` that name it, and the
    file's ``identity`` (device, inode) when it was confined."""

    name: str
    path: Path
    source: str
    line: int
    identity: tuple[int, int] = (0, 0)


def refusal(source, line: int | None, snippet: str, why: str,
            what: str = "data function") -> UnsafeModelError:
    """The one-line refusal ``model:line: refused data function '<snippet>': <why>`` (the
    snippet, a file name or argument, in full up to 300 characters; ``what`` names the kind)."""
    where = f"{source}:{line}" if line else f"{source}"
    shown = snippet if len(snippet) <= 300 else snippet[:297] + "..."
    return UnsafeModelError(f"{where}: refused {what} {shown!r}: {why}")


def find_data_calls(masked: str, eq: str) -> list[DataCall | tuple[int, str]]:
    """The data calls in one equation, in order.

    ``masked`` is the equation with quoted names blanked (so a quoted name that merely looks like
    a call is skipped), ``eq`` the equation itself (the same length). Each call is a
    :class:`DataCall`, or ``(offset, why)`` where a call's arguments are not all string literals.
    """
    calls: list[DataCall | tuple[int, str]] = []
    for m in DATA_CALL.finditer(masked):
        function = " ".join(["GET", m.group(1).upper(), m.group(2).upper()])
        pos = _SPACE.match(eq, m.end()).end()
        if pos >= len(eq) or eq[pos] != "(":
            calls.append((m.start(), f"{function} must be called with its arguments"))
            continue
        args: list[str] = []
        pos = _SPACE.match(eq, pos + 1).end()
        closed = False
        while pos < len(eq):
            if eq[pos] == ")" and not args:
                closed = True
                pos += 1
                break
            s = _STRING.match(eq, pos)
            if s is None:
                break
            args.append(s.group(1))
            pos = _SPACE.match(eq, s.end()).end()
            if pos < len(eq) and eq[pos] == ",":
                pos = _SPACE.match(eq, pos + 1).end()
                continue
            if pos < len(eq) and eq[pos] == ")":
                closed = True
                pos += 1
            break
        roles = DATA_FUNCTIONS[m.group(2).upper()]
        if not closed:
            calls.append((m.start(), f"every argument of {function} must be a 'quoted' text"))
        elif len(args) != len(roles):
            calls.append((m.start(), f"{function} takes {len(roles)} arguments, got {len(args)}"))
        else:
            calls.append(DataCall(function, tuple(args), m.start(), pos))
    return calls


def path_problem(name: str, suffixes=DATA_SUFFIXES) -> str | None:
    """Why a data file name is not a plain path inside the model's folder (None if it is).

    Text only: relative, ``/``-separated, no ``..``, drive, URL, hidden part, indirect
    ``?name`` reference (Vensim's settings-file aliases, which PySD cannot follow), and a suffix
    in ``suffixes`` (:data:`DATA_SUFFIXES`; :data:`RUNTIME_SUFFIXES` for ``data_files=``).
    """
    if not name:
        return "the file name is empty"
    if name.startswith("?"):
        return ("an indirect file reference (Vensim's ?name, set outside the model) cannot be "
                "followed; name the file itself")
    if "\\" in name:
        return "a backslash in the file name; write folders with /"
    if re.match(r"^[A-Za-z]:", name):
        return "a drive in the file name; data files must be inside the model's folder"
    if _URL.match(name) or "//" in name:
        return "a URL; data files must be inside the model's folder"
    if name.startswith("/") or name.startswith("~"):
        return "an absolute path; data files must be inside the model's folder"
    parts = name.split("/")
    if any(p == ".." for p in parts):
        return "'..' leaves the model's folder; data files must be inside it"
    if any(not p.strip() or p.startswith(".") or p != p.strip() for p in parts):
        return "an empty, hidden or space-padded part in the file name"
    if not _ALLOWED["file"].fullmatch(name):
        return ("characters other than letters, digits, spaces and . - _ / ( ) & + # in the file "
                "name")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in suffixes:
        return (f"a {suffix or 'suffix-less'} file; models may read "
                f"{', '.join(sorted(suffixes))} files only")
    return None


def argument_problem(role: str, value: str) -> str | None:
    """Why one argument of a data call is refused (None if it is plain text of its kind)."""
    if re.search(r"['\"\\\x00-\x1f\x7f]", value):
        return ("a quote, backslash or control character in a data function's argument (PySD "
                "pastes it into generated code)")
    if role == "file":
        return path_problem(value)
    if not _ALLOWED[role].fullmatch(value):
        allowed = {"tab": "letters, digits, spaces and . , ; : - ( ) & + #",
                   "cell": "letters, digits and . * $ :",
                   "prefix": "letters, digits, spaces and . -"}[role]
        return f"a {role} argument may only hold {allowed}"
    return None


def confine(folder: str | os.PathLike, name: str) -> Path | str:
    """The file ``name`` (already passed by :func:`path_problem`) resolved inside ``folder``, or
    why it is refused: outside the folder once symlinks are followed, missing, not a regular
    file, or larger than :data:`MAX_DATA_FILE_BYTES`."""
    root = Path(folder).resolve()
    target = root.joinpath(*name.split("/"))
    try:
        real = target.resolve(strict=True)
    except FileNotFoundError:
        return "no such file in the model's folder"
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
        return f"cannot be resolved ({getattr(exc, 'strerror', None) or exc})"
    if not real.is_relative_to(root):
        return "a symlink to a file outside the model's folder"
    if real.suffix.lower() != PurePosixPath(name).suffix.lower():
        return f"a symlink to a {real.suffix or 'suffix-less'} file"
    try:
        st = real.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a folder, device or FIFO)"
    if st.st_size > MAX_DATA_FILE_BYTES:
        return f"{st.st_size:,} bytes, more than the {MAX_DATA_FILE_BYTES:,}-byte limit for data files"
    return real


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def content_problem(name: str, data: bytes) -> str | None:
    """Why the bytes of a data file do not hold what its suffix promises (None if they do)."""
    kind = DATA_SUFFIXES[PurePosixPath(name).suffix.lower()]
    if kind == "text":
        return "a NUL byte: not a text file" if b"\x00" in data else None
    if kind == "xls":
        return None if data.startswith(_OLE2) else "not an Excel 97-2003 (.xls) workbook"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "not a spreadsheet archive (a zip file)"
    if len(members) > MAX_ARCHIVE_MEMBERS:
        return f"{len(members):,} parts in the workbook, more than {MAX_ARCHIVE_MEMBERS:,}"
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        return (f"unpacks to {unpacked:,} bytes, more than the {MAX_UNPACKED_BYTES:,}-byte limit "
                "for spreadsheets")
    names = {m.filename for m in members}
    if kind == "ooxml":
        if "xl/workbook.xml" not in names:
            return "not an Excel workbook (.xlsx, .xlsm)"
        if any(n.startswith("xl/externalLinks/") for n in names):
            return "the workbook links to other workbooks; save it with the values only"
        return None
    try:
        mime = archive.read("mimetype") if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        mime = b""
    return None if mime.strip() == _ODS_MIME else "not an OpenDocument spreadsheet (.ods)"


def spreadsheet_readers_problem(names: Iterable[str]) -> str | None:
    """Why the installed readers cannot open these workbooks safely (None if they can): openpyxl
    must parse with defusedxml (its ``OPENPYXL_DEFUSEDXML`` switch left on)."""
    if not any(DATA_SUFFIXES[PurePosixPath(n).suffix.lower()] == "ooxml" for n in names):
        return None
    try:
        import openpyxl
    except ImportError:
        return "openpyxl is not installed (pip install openpyxl)"
    if not getattr(openpyxl, "DEFUSEDXML", False):
        return ("openpyxl would parse the workbook's XML without defusedxml; install defusedxml "
                "and leave OPENPYXL_DEFUSEDXML unset")
    return None


def _read_confined(path: Path, identity: tuple[int, int]) -> bytes | str:
    """The bytes of ``path`` opened without following a symlink, or why it cannot be read; the
    file opened must be the one confined (same device and inode), not one swapped in since."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"cannot be opened ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file (a folder, device or FIFO)"
        if (st.st_dev, st.st_ino) != identity:
            return "the file changed after it was checked; load the model again"
        data = fh.read(MAX_DATA_FILE_BYTES + 1)
    if len(data) > MAX_DATA_FILE_BYTES:
        return f"more than the {MAX_DATA_FILE_BYTES:,}-byte limit for data files"
    return data


def _copy_confined(f: DataFile, dest: Path, what: str = "data function",
                   suffixes=DATA_SUFFIXES) -> Path:
    """Copy the confined file ``f`` to ``dest`` (a new file; its suffix says what the content must
    be): opened without following symlinks, still the file confined, within the size limit."""
    problem = path_problem(f.name, suffixes)
    data = problem or _read_confined(f.path, f.identity)
    if isinstance(data, str):
        raise refusal(f.source, f.line, f.name, data, what)
    problem = content_problem(dest.name, data)
    if problem:
        raise refusal(f.source, f.line, f.name, problem, what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return dest


def stage_data_files(files: Iterable[DataFile], workdir: str | os.PathLike) -> list[Path]:
    """Copy each confined data file into ``workdir`` at its name's relative path (where PySD,
    translating ``workdir``'s copy of the model, looks for it); return the copies.

    What is copied is what was opened: the file is opened without following symlinks and must
    still be the file confined (same device and inode), a regular file inside the size limit,
    whose content matches its suffix.

    Raises:
        UnsafeModelError: ``model:line: refused data function '<name>': <why>``.
    """
    root = Path(workdir)
    done: dict[str, Path] = {}
    files = list(files)
    for f in files:
        if f.name in done:
            continue
        done[f.name] = _copy_confined(f, root.joinpath(*f.name.split("/")))
    problem = spreadsheet_readers_problem(done)
    if problem:
        first = next(f for f in files if DATA_SUFFIXES[PurePosixPath(f.name).suffix.lower()] == "ooxml")
        raise refusal(first.source, first.line, first.name, problem)
    return list(done.values())


def data_files(named: Iterable[tuple[str, int]], source: str | os.PathLike) -> tuple[DataFile, ...]:
    """Confine every file a model names (``(name, line)`` pairs, names already passed by
    :func:`argument_problem`) to the folder of the model file ``source``.

    Raises:
        UnsafeModelError: ``model:line: refused data function '<name>': <why>`` for the first
            name that leaves the folder, is missing, not a regular file or too large, or when the
            model names more than :data:`MAX_DATA_FILES` files.
    """
    named = list(named)
    if not named:
        return ()
    folder = Path(source).parent
    found: dict[str, DataFile] = {}
    for name, line in named:
        if name in found:
            continue
        if len(found) >= MAX_DATA_FILES:
            raise refusal(source, line, name, f"more than {MAX_DATA_FILES} data files in one model")
        where = confine(folder, name)
        if isinstance(where, str):
            raise refusal(source, line, name, where)
        found[name] = DataFile(name, where, str(source), line, _identity(where))
    return tuple(found.values())


# ------------------------------------------------------------------ data files given at run time

#: Files for data variables without an equation (``load_model(path, data_files=...)``), as
#: Vensim and PySD take them at run time: delimited text, time in the first row or column and
#: the variables named in the other; the suffix each is staged with (PySD reads ``.tab``, ``.csv``).
RUNTIME_SUFFIXES = {".tab": ".tab", ".tsv": ".tab", ".csv": ".csv"}
#: Folder of the private translation folder holding those copies (``0/<name>``, ``1/<name>``, in
#: the order given); hidden, so no file a model names itself (:func:`path_problem`) can land there.
RUNTIME_FOLDER = ".data-files"
_RUNTIME = "data file (data_files=)"


def runtime_data_files(names, source: str | os.PathLike) -> tuple[DataFile, ...]:
    """Confine the data files given with ``data_files=`` (a name or a list of names, relative to
    the folder of the model file ``source``) exactly like the files a model names itself: text
    checks (:func:`path_problem`, suffixes :data:`RUNTIME_SUFFIXES`), then :func:`confine`.

    Raises:
        UnsafeModelError: ``model: refused data file (data_files=) '<name>': <why>``.
    """
    if names is None:
        return ()
    if isinstance(names, (str, os.PathLike)):
        names = [names]
    found: dict[str, DataFile] = {}
    for name in names:
        text = os.fspath(name) if isinstance(name, (str, os.PathLike)) else None
        if not isinstance(text, str):
            raise refusal(source, None, repr(name), "data_files takes file names (text)", _RUNTIME)
        if text in found:
            continue
        if len(found) >= MAX_DATA_FILES:
            raise refusal(source, None, text, f"more than {MAX_DATA_FILES} data files", _RUNTIME)
        problem = path_problem(text, RUNTIME_SUFFIXES)
        where = problem or confine(Path(source).parent, text)
        if isinstance(where, str):
            raise refusal(source, None, text, where, _RUNTIME)
        found[text] = DataFile(text, where, str(source), 0, _identity(where))
    return tuple(found.values())


def stage_runtime_data_files(files: Iterable[DataFile], workdir: str | os.PathLike) -> list[Path]:
    """Copy the files of :func:`runtime_data_files` into ``workdir``'s :data:`RUNTIME_FOLDER`, in
    order (``0/<name>``, ``1/<name>``, ``.tsv`` saved as ``.tab``), with the checks of
    :func:`stage_data_files`; return the copies."""
    root = Path(workdir) / RUNTIME_FOLDER
    out = []
    for i, f in enumerate(files):
        pure = PurePosixPath(f.name)
        staged = pure.stem + RUNTIME_SUFFIXES[pure.suffix.lower()]
        out.append(_copy_confined(f, root / str(i) / staged, _RUNTIME, RUNTIME_SUFFIXES))
    return out


def staged_runtime_data_files(workdir) -> tuple[Path, ...]:
    """The copies :func:`stage_runtime_data_files` made in ``workdir``, in the order given (none
    without a ``workdir``); only regular files, never a symlink."""
    if workdir is None:
        return ()
    root = Path(workdir) / RUNTIME_FOLDER
    out = []
    for i in range(MAX_DATA_FILES):
        folder = root / str(i)
        if folder.is_symlink() or not folder.is_dir():
            break
        out += sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink()
                      and p.suffix in (".tab", ".csv"))
    return tuple(out)
