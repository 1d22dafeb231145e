"""Resource limits: what a single command may ask of the machine, checked before allocating.

A run that would not fit is refused up front with a one-line error that gives the estimate, the limit
and how to lower it, instead of growing until the machine's memory is gone.

* :data:`MAX_STEPS`: time steps in one run (``(FINAL TIME - INITIAL TIME) / TIME STEP``).
* :func:`memory_limit_bytes`: half of this machine's physical memory (at least 1 GiB), or the value
  of the environment variable ``CXSYSTEMS_MEMORY_LIMIT_MB`` when it is set.
"""

from __future__ import annotations

import os

from .errors import CxError

#: Most time steps one run may take (a 156-week model at TIME STEP 0.125 takes 1,248).
MAX_STEPS = 20_000_000
#: Environment variable that sets the memory limit, in MiB.
MEMORY_ENV = "CXSYSTEMS_MEMORY_LIMIT_MB"


def memory_limit_bytes() -> int:
    """The most memory one command may plan to use: ``$CXSYSTEMS_MEMORY_LIMIT_MB`` MiB if set, else
    half of the physical memory (at least 1 GiB)."""
    env = os.environ.get(MEMORY_ENV, "").strip()
    if env:
        try:
            mb = float(env)
        except ValueError:
            raise CxError(f"{MEMORY_ENV}={env!r}: give a number of MiB") from None
        if not mb > 0:
            raise CxError(f"{MEMORY_ENV}={env!r}: give a positive number of MiB")
        return int(mb * 2**20)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        total = 8 * 2**30
    return max(2**30, total // 2)


def gib(n_bytes: float) -> str:
    """``'82.0 GiB'``, ``'512 MiB'``."""
    if n_bytes >= 2**30:
        return f"{n_bytes / 2**30:,.1f} GiB"
    return f"{n_bytes / 2**20:,.0f} MiB"


def check_memory(estimate_bytes: float, what: str, lower: str) -> None:
    """Refuse a plan needing more than :func:`memory_limit_bytes`.

    Args:
        estimate_bytes: the planned memory.
        what: what needs it (``"--n 1,000,000,000 runs x 7 scenarios"``), starting the message.
        lower: how to need less (``"lower --n or run fewer scenarios"``).

    Raises:
        CxError: ``"<what> needs about 82.0 GiB, more than the limit of 12.0 GiB (half this machine's
            memory; set CXSYSTEMS_MEMORY_LIMIT_MB to change it): <lower>"``.
    """
    limit = memory_limit_bytes()
    if estimate_bytes > limit:
        source = (f"{MEMORY_ENV}" if os.environ.get(MEMORY_ENV, "").strip()
                  else f"half this machine's memory; set {MEMORY_ENV} to change it")
        raise CxError(f"{what} needs about {gib(estimate_bytes)}, more than the limit of {gib(limit)} "
                      f"({source}): {lower}")
