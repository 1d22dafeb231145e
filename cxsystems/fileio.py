"""File helpers shared by the library: atomic writes and TOML reading with one-line errors."""

from __future__ import annotations

import os
import tomllib
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import CxError


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a hidden temporary file beside ``path``; on success move it onto ``path``.

    A reader never sees a half-written file, and nothing is left behind on error. ``mode`` is
    ``"w"`` (text) or ``"wb"`` (binary); the file gets normal permissions (unlike ``mkstemp``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
