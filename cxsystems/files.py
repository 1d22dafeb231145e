"""Files: atomic writes, output folders that appear whole, CSV and TOML, and the one rule that names
the file of an outcome.

Nothing here knows about models or charts; every writer in cxsystems goes through these helpers so
that:

* a reader never sees a half-written file (:func:`atomic_write`: a hidden temporary file beside the
  target, moved into place with ``os.replace``);
* a result folder is written whole or not at all (:func:`write_folder`: a hidden sibling folder is
  filled, then swapped in; it holds a manifest naming the run and its files), and a killed run
  leaves nothing that the next run does not remove;
* text cells of a CSV that a spreadsheet would run as a formula are escaped (:func:`write_csv`);
* every error names the user's path, never a temporary one.

Where outputs may go: an output file's folder, or an output folder's parent, must already exist
(cxsystems creates at most the last folder of a path, never a chain of missing parents); an existing
output folder is replaced only when it is empty or was written by cxsystems (its manifest lists
every file in it).
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import re
import shutil
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from .errors import CxError

#: Name of the manifest every output folder holds.
MANIFEST = "cxsystems-manifest.json"
#: Hidden temporary names: ``.<name>.<pid>.<random>.tmp`` (files), ``.<name>.cxtmp-<pid>-<random>``
#: and ``.<name>.cxold-<pid>-<random>`` (folders).
_TMP_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")
_TMP_DIR = re.compile(r"^\.(?P<name>.+)\.cx(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")
#: Characters that make a spreadsheet read a text cell as a formula (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ------------------------------------------------------------------------------ single files


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a hidden temporary file beside ``path``; on success move it onto ``path``.

    A reader never sees a half-written file, and nothing is left behind on error (a killed process
    leaves a hidden ``.tmp`` file that the next write beside it removes). ``mode`` is ``"w"``
    (text) or ``"wb"`` (binary); the file gets normal permissions (unlike ``mkstemp``).

    Raises:
        OSError: naming ``path`` (never the temporary file).
    """
    path = Path(path)
    remove_stale(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            with open(tmp, mode.replace("w", "x"), **open_kwargs) as fh:
                yield fh
            os.replace(tmp, path)
        except OSError as exc:
            raise _renamed(exc, path) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _renamed(exc: OSError, path: Path) -> OSError:
    """The same OSError, naming the user's ``path`` instead of a hidden temporary one."""
    name = exc.filename
    if name is None or Path(name) != path:
        return OSError(exc.errno, exc.strerror or str(exc), str(path))
    return exc


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a TOML file; unreadable or invalid files raise a one-line :class:`CxError`."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CxError(f"{p}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CxError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CxError(f"{p}: not UTF-8 text (byte {exc.start})") from None


def escape_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's advice
    for CSV injection); numbers and other text are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def escaped(df, *, index: bool = True):
    """A copy of a DataFrame with its formula-like text cells, column names and (with ``index``)
    index labels escaped (:func:`escape_cell`), ready for ``to_csv``."""
    import pandas as pd

    safe = df.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col].dtype):
            safe[col] = safe[col].map(escape_cell)
    if index and (safe.index.dtype == object or pd.api.types.is_string_dtype(safe.index.dtype)):
        safe.index = safe.index.map(escape_cell)
    safe.columns = [escape_cell(c) if isinstance(c, str) else c for c in safe.columns]
    return safe


def write_csv(df, path: str | os.PathLike, *, index: bool = True) -> Path:
    """Write a DataFrame as CSV, atomically, with formula-like text cells escaped (:func:`escaped`).

    Raises:
        OSError: the folder does not exist or is not writable (naming ``path``).
    """
    safe = escaped(df, index=index)
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8", newline="") as fh:
        safe.to_csv(fh, index=index)
    return path


#: Figure formats :func:`write_figure` writes, by suffix.
FIGURE_FORMATS = ("png", "svg", "pdf")


def check_format(fmt: str, option: str = "format") -> str:
    """Return ``fmt`` if it is a figure format; else a one-line CxError naming ``option``."""
    if fmt not in FIGURE_FORMATS:
        raise CxError(f"{option} = {fmt!r}: use one of {', '.join(FIGURE_FORMATS)}")
    return fmt


def write_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Save a matplotlib figure; the format comes from the suffix (``.png``, ``.svg``, ``.pdf``).

    Written atomically, with no creation date in SVG and PDF files (the same figure gives the same
    bytes).

    Raises:
        CxError: unsupported suffix.
        OSError: the folder does not exist or is not writable.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise CxError(f"{path}: unsupported chart format {path.suffix or '(none)'!r}; use .png, .svg or .pdf")
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi, facecolor="white", metadata=metadata)
    return path


# ------------------------------------------------------------------------------ naming


def slug(text: str) -> str:
    """File-name-safe lower-case slug: ``"Ticket Backlog"`` -> ``"ticket_backlog"``."""
    s = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    return s or "variable"


def outcome_stems(variables: Iterable[str], *, prefix: str = "", reserved: Iterable[str] = ()) -> dict[str, str]:
    """The one naming rule for an outcome's file: ``prefix + slug(variable name)``, made unique.

    The variable's model name is used (not its label), so the same outcome has the same stem in
    every command: ``Ticket Backlog`` -> ``ticket_backlog`` (compare) and ``fan_ticket_backlog``
    (robustness). A stem that clashes with ``reserved`` or an earlier one gets ``_2``, ``_3``, ...

    Returns:
        ``{variable: stem}`` in the order given.
    """
    used = {str(r) for r in reserved}
    out: dict[str, str] = {}
    for var in dict.fromkeys(variables):
        base = prefix + slug(var)
        stem, i = base, 2
        while stem in used:
            stem, i = f"{base}_{i}", i + 1
        used.add(stem)
        out[var] = stem
    return out


# ------------------------------------------------------------------------------ output places


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output file that cannot be written: a folder, or a file whose
    folder is missing two levels up or is not writable. Returns the path.

    The file's own folder may be new (cxsystems creates it when writing, see
    :func:`make_parent`) as long as the folder above it exists.

    Raises:
        CxError: naming ``option`` and the path.
    """
    path = Path(path)
    if path.is_dir():
        raise CxError(f"{option} {path}: is a directory; give a file name")
    parent = path.absolute().parent
    if parent.is_dir():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CxError(f"{option} {path}: folder {parent} is not writable")
        return path
    if parent.exists():
        raise CxError(f"{option} {path}: {parent} is not a directory")
    _check_parent(parent, parent.parent, option)
    if not os.access(parent.parent, os.W_OK | os.X_OK):
        raise CxError(f"{option} {path}: folder {parent.parent} is not writable")
    return path


def make_parent(path: str | os.PathLike) -> Path:
    """Create the folder of an output file if it is missing (one level only: see
    :func:`check_output_file`). Returns the path."""
    path = Path(path)
    parent = path.absolute().parent
    if not parent.is_dir():
        try:
            parent.mkdir()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(parent)) from None
    return path


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder :func:`write_folder` would not write: its parent is
    missing or not writable, it is a file, or it holds files cxsystems did not write.

    Raises:
        CxError: naming ``option``, the path and what is wrong.
    """
    path = Path(path)
    parent = path.absolute().parent
    if path.exists() and not path.is_dir():
        raise CxError(f"{option} {path}: is a file, not a folder")
    _check_parent(path, parent, option)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CxError(f"{option} {path}: folder {parent} is not writable")
    if path.is_dir():
        foreign = _foreign_files(path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise CxError(f"{option} {path}: the folder holds files cxsystems did not write ({shown}); "
                          "choose a new or empty folder")
    return path


def _check_parent(path: Path, parent: Path, option: str) -> None:
    if parent.exists() and not parent.is_dir():
        raise CxError(f"{option} {path}: {parent} is not a directory")
    if not parent.is_dir():
        raise CxError(f"{option} {path}: folder {parent} does not exist; create it first "
                      "(cxsystems creates only the last folder of a path)")


def _foreign_files(folder: Path) -> list[str]:
    """Names in ``folder`` not listed in its cxsystems manifest (all of them when it has none)."""
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return []
    listed: set[str] = set()
    try:
        listed = set(json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", []))
        listed.add(MANIFEST)
    except (OSError, ValueError, AttributeError):
        pass
    return [n for n in names if n not in listed]


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may still run (so its temporary files must be left alone).

    On POSIX, signal 0 asks without touching the process. Elsewhere (Windows, where ``os.kill``
    would end the process) every process counts as alive: nothing is ever removed there."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale(folder: str | os.PathLike, patterns: Iterable[re.Pattern] = (_TMP_FILE, _TMP_DIR), *,
                 dirs_only: bool = False) -> list[Path]:
    """Remove what a killed cxsystems process left in ``folder``: entries whose name matches one of
    ``patterns`` (each with a ``pid`` group; default: this module's hidden temporary files and
    folders), whose process no longer runs, and that belong to this user. With ``dirs_only``, real
    folders only. Symlinks are removed as links, never followed. Returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        m = next((m for m in (p.match(entry.name) for p in patterns) if m), None)
        if not m or _pid_alive(int(m["pid"])):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
            if (uid is not None and st.st_uid != uid) or (dirs_only and not is_dir):
                continue
            if is_dir:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def write_folder(folder: str | os.PathLike, writers: Mapping[str, Callable[[Path], Any]], *,
                 run: Mapping[str, Any] | None = None) -> list[Path]:
    """Write a result folder whole: every file or none.

    Each ``writers[name](path)`` writes one file at ``path`` inside a hidden sibling folder; with a
    manifest (:data:`MANIFEST`: the ``run`` description, the time, and the file names) the folder
    is then swapped in for ``folder`` (two renames). A failure or a kill before the swap leaves
    ``folder`` as it was; the hidden sibling is removed now or by the next run.

    Args:
        folder: the output folder (see :func:`check_output_folder` for what is accepted).
        writers: file name -> function writing that file at the given path.
        run: what produced the files (command, model, seed, ...), recorded in the manifest.

    Returns:
        The paths of the files in ``folder``, in the order of ``writers``.

    Raises:
        CxError: see :func:`check_output_folder`.
        OSError: a file cannot be written (naming the output folder's file, not the hidden one).
    """
    from .version import __version__

    folder = Path(folder)
    check_output_folder(folder)
    parent = folder.absolute().parent
    remove_stale(parent)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = parent / f".{folder.name}.cxtmp-{token}"
    old = parent / f".{folder.name}.cxold-{token}"
    tmp.mkdir()
    try:
        for name, write in writers.items():
            try:
                write(tmp / name)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror or str(exc), str(folder / name)) from None
        manifest = {"tool": "cxsystems", "version": __version__,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "run": dict(run or {}), "files": list(writers)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        if folder.is_dir():
            check_output_folder(folder)  # still only our files
            os.rename(folder, old)
        try:
            os.rename(tmp, folder)
        except OSError:
            if old.exists():
                os.rename(old, folder)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return [folder / name for name in writers]


def os_error_text(exc: OSError) -> str:
    """``<file>: Permission denied`` style text for an OSError (the file it names, if any)."""
    what = exc.strerror or (errno.errorcode.get(exc.errno or 0) if exc.errno else None) or type(exc).__name__
    name = exc.filename
    return f"{name}: {what}" if name else " ".join(str(exc).split()) or what
