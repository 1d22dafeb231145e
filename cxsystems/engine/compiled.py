"""The compiled backend: a model's instructions (:mod:`cxsystems.engine.bytecode`) run by a virtual
machine compiled with numba (:mod:`cxsystems.engine.vm`), cached on disk, with the numpy engine's
semantics. The machine is the same for every model: it is compiled once per installation (about
2.8-3.2 s on 2 shared cores, numba's start included) and loaded from the cache afterwards: its
object code linked by llvmlite alone (:mod:`cxsystems.engine.native`, about 0.03-0.05 s in a new
process; numba is not imported), else by numba from its own cache (about 0.3-0.4 s, numba's import
and set-up nearly all of it); a model only costs its assembly into instructions (about 2 ms for
cx_service). The machine is one C function (:mod:`cxsystems.engine.vm` says why) called through
:mod:`ctypes`, which releases the GIL: a call over several blocks of worlds runs them on one thread
per core, each block in one thread (with its own scratch buffers), so the numbers do not depend on
the threads; both paths call the same machine code.

Which backend runs a call (``CompiledModel.run(..., backend=)``):

* ``"numpy"``: the numpy engine (the reference).
* ``"compiled"``: this backend; a model it does not run raises
  :class:`~cxsystems.errors.UnsupportedConstruct`, and so does a missing numba.
* ``"auto"`` (default; ``CXSYSTEMS_BACKEND`` overrides it): this backend when numba is installed,
  the model runs on it and it pays: the machine is already loaded in this process, or the numpy
  engine's time for this call (estimated from its size) plus the time it already spent on this
  model reaches the cost of getting the machine (:data:`LOAD_COST` from the cache,
  :data:`COMPILE_COST` for a cold compilation): the rent-or-buy rule, so one run never waits for a
  compilation while long work gets the fast path. Else the numpy engine; the reason is kept in
  ``CompiledModel.backend_note``.

Results agree with the numpy engine's within 1e-12 relative: the same operations in the same
order on the same doubles (bit for bit on cx_service and on the peer suite's models, where the
C library's ``exp``/``log`` ... and numpy's vectorised ones agree). A run in which any world
divides by zero (or gets a delay time shorter than the TIME STEP) is rerun by the numpy engine,
which raises or yields inf/NaN exactly as it always does.

The cache: ``$CXSYSTEMS_CACHE_DIR``, else ``$XDG_CACHE_HOME/cxsystems``, else
``~/.cache/cxsystems``, subfolder ``compiled``, created 0700 and used only if it is ours and
private (else a private temporary folder for this process). The machine is a file
``cx_<key>.py`` (key: sha256 of its source, Python, numba and llvmlite versions and the platform)
holding exactly :data:`cxsystems.engine.vm.SOURCE` (compared byte for byte before use, rewritten
atomically otherwise), plus in ``__pycache__`` the machine's object code as LLVM emitted it
(``cx_<key>.native.o``, written by the compilation, with the CPU it was compiled for) and, only
where that object cannot serve (another CPU, a symbol beyond the C library, not Linux), numba's
own cached machine code (writing it would add about 0.12 s to every cold compilation). Every
file's sha256 is listed in ``cx_<key>.json``: the files (numba's are pickles, ours is machine
code) are loaded only when they match that list, else all are deleted and recompiled. The source is executed from this package's text, never from
the file nor a ``.pyc``. (Someone who can write as this user could rewrite the list too: the
private folder is what keeps others out; the list keeps out stale or swapped files.)
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np

from ..errors import CxError, UnsupportedConstruct
from ..files import atomic_write
from . import vm
from .bytecode import NUMPY_ADVICE, Bytecode, assemble, reuse
from .data import data_series_at
from .result import EngineResult
from .run import closure as _closure
from .run import time_grid

BACKENDS = ("auto", "compiled", "numpy")
#: Seconds the machine's compilation takes (once per installation; measured 2.8-3.1 s in a new
#: process on 2 shared cores, numba's import included) and its cached load in a new process
#: (measured 0.03 s by the native path, 0.31-0.38 s when numba loads it: the slower one is kept):
#: the rent-or-buy thresholds of ``auto``.
COMPILE_COST = 3.0
LOAD_COST = 0.4
#: Worlds per block: the machine runs each instruction over a block (a thread runs whole blocks).
BLOCK = 256

_LOADED: dict[str, dict] = {}  # key -> {"kernel", "how", "seconds", "pid"}
_LOAD_LOCK = threading.Lock()
_PRIVATE_TMP: list = []


def numba_available() -> bool:
    """True if numba is installed (the compiled backend's only extra requirement); not imported here."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def default_backend() -> str:
    """The backend of ``backend=None``: ``CXSYSTEMS_BACKEND`` if set, else ``"auto"``."""
    value = os.environ.get("CXSYSTEMS_BACKEND", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise CxError(f"CXSYSTEMS_BACKEND={value!r}: choose from {', '.join(BACKENDS)}")
    return value


# ------------------------------------------------------------------------------------ the cache


def cache_root() -> Path:
    """Where kernels are cached (see the module's docstring); not created here."""
    env = os.environ.get("CXSYSTEMS_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "compiled"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cxsystems" / "compiled"


def _private(path: Path) -> bool:
    """True if ``path`` is a directory owned by this user that nobody else can write or read."""
    try:
        st = path.lstat()
    except OSError:
        return False
    import stat

    return (stat.S_ISDIR(st.st_mode) and (not hasattr(os, "getuid") or st.st_uid == os.getuid())
            and not st.st_mode & 0o077)


def _cache_dir() -> tuple[Path, bool]:
    """The folder kernels live in and whether it persists (False: a private temporary folder,
    used when the cache folder cannot be created private)."""
    root = cache_root()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        pass
    if _private(root):
        return root, True
    if not _PRIVATE_TMP:
        import atexit
        import shutil

        _PRIVATE_TMP.append(Path(tempfile.mkdtemp(prefix="cxsystems-compiled-")))  # 0700
        atexit.register(shutil.rmtree, _PRIVATE_TMP[0], True)
    return _PRIVATE_TMP[0], False


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[str, str]:
    """numba's and llvmlite's versions from the installed packages' metadata (read once; numba is
    not imported: its import is what the native path saves)."""
    from importlib.metadata import version

    return version("numba"), version("llvmlite")


def cache_key() -> str:
    """The machine's name in the cache: its source and everything that shapes its machine code."""
    parts = [hashlib.sha256(vm.SOURCE.encode()).hexdigest(), sys.version, *_versions(),
             platform.machine(), platform.system()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:  # the private folder keeps others out
        fh.write(data)


def _numba_files(folder: Path, stem: str) -> list[Path]:
    pycache = folder / "__pycache__"
    if not pycache.is_dir():
        return []
    return sorted(p for p in pycache.iterdir() if p.name.startswith(stem + "."))


def _purge(folder: Path, stem: str) -> None:
    for p in _numba_files(folder, stem) + [folder / f"{stem}.json"]:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _verified(folder: Path, stem: str, source: bytes) -> bool:
    """True if the source file holds exactly ``source`` and numba's files match the manifest."""
    manifest = folder / f"{stem}.json"
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))
        files = {p.name: p for p in _numba_files(folder, stem)}
        if listed.get("source") != hashlib.sha256(source).hexdigest() or set(listed["files"]) != set(files):
            return False
        return all(_sha(files[name]) == digest for name, digest in listed["files"].items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def kernel_path() -> Path:
    """The machine's source file in the cache (it may not exist yet)."""
    folder, _ = _cache_dir()
    return folder / f"cx_{cache_key()}.py"


def is_cached() -> bool:
    """True if the machine is loaded in this process or its verified files are in the cache."""
    key = cache_key()
    if key in _LOADED:
        return True
    folder, persistent = _cache_dir()
    stem = f"cx_{key}"
    data = vm.SOURCE.encode()
    try:
        return persistent and (folder / f"{stem}.py").read_bytes() == data and _verified(folder, stem, data)
    except OSError:
        return False


def _native_entry(folder: Path, stem: str):
    """The machine from its verified object code with llvmlite alone (:mod:`cxsystems.engine.native`),
    or None (no object listed, another CPU, a changed file, a symbol missing): then numba loads it."""
    from . import native

    try:
        listed = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
        spec = listed["native"]
        path = folder / "__pycache__" / spec["file"]
        data = path.read_bytes()
        if listed["files"].get(spec["file"]) != hashlib.sha256(data).hexdigest():
            return None  # read once, checked as read: a changed file is never loaded
        if spec["cpu"] != native.host_cpu():
            return None
        return native.load(data, spec["name"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _native_spec(kernel, folder: Path, stem: str) -> dict | None:
    """Write the machine code numba just compiled as an object file in ``__pycache__`` and return its
    manifest entry, or None when it cannot be taken (numba's internals changed, another CPU asked
    for): the next process then finds no object and lets numba cache the machine itself."""
    from . import native

    if not _native_wanted():
        return None
    try:
        cres = kernel.overloads[kernel.signatures[0]]
        data = bytes(cres.library._get_compiled_object())
        name = cres.fndesc.llvm_func_name
    except (AttributeError, IndexError, KeyError, RuntimeError, ValueError, TypeError):
        return None
    if native.undefined_symbols(data) is None:
        return None
    file = f"{stem}.native.o"
    try:
        (folder / "__pycache__").mkdir(mode=0o700, exist_ok=True)
        _atomic_write(folder / "__pycache__" / file, data)
    except OSError:
        return None
    return {"file": file, "name": name, "cpu": native.host_cpu()}


def _native_wanted() -> bool:
    """True where the machine's object code can serve: ELF (Linux) and numba compiling for this CPU."""
    return sys.platform.startswith("linux") and not (os.environ.get("NUMBA_CPU_NAME")
                                                     or os.environ.get("NUMBA_CPU_FEATURES"))


def _numba_entry(kernel):
    """The machine's entry as numba compiled or loaded it: the same C function as the native path."""
    from . import native

    cres = kernel.overloads[kernel.signatures[0]]
    return native.PROTOTYPE(cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name))


def load() -> dict:
    """The machine, loaded once per process: from the verified cache (its object code linked by
    llvmlite alone, else numba's cache), else compiled by numba (and cached). Returns ``{"kernel"
    (the C function, :data:`cxsystems.engine.native.PROTOTYPE`), "how" ("cache"|"compiled"),
    "path" ("native"|"numba"), "seconds", "pid"}``."""
    key = cache_key()
    got = _LOADED.get(key)
    if got is not None:
        return got
    with _LOAD_LOCK:
        got = _LOADED.get(key)
        if got is not None:
            return got
        t0 = time.perf_counter()
        folder, persistent = _cache_dir()
        stem = f"cx_{key}"
        refused = False
        src = folder / f"{stem}.py"
        data = vm.SOURCE.encode()
        try:
            same = src.read_bytes() == data
        except OSError:
            same = False
        if not same:
            _purge(folder, stem)
            _atomic_write(src, data)
        elif not _verified(folder, stem, data):
            _purge(folder, stem)  # unlisted or changed machine code is never loaded
        elif persistent:
            entry = _native_entry(folder, stem)
            if entry is not None:
                got = {"kernel": entry, "how": "cache", "path": "native", "seconds": time.perf_counter() - t0,
                       "pid": os.getpid()}
                _LOADED[key] = got
                return got
            refused = True  # verified, but no object for this CPU: numba's own cache serves from now on
        use_disk = persistent and "NUMBA_CACHE_DIR" not in os.environ  # else numba caches elsewhere
        module = types.ModuleType(stem)  # numba's cached code finds its globals by module name
        module.__file__ = str(src)
        # numba's own cache only when our object cannot serve (writing it costs ~0.12 s of a cold compile)
        module._CACHE = use_disk and (refused or not _native_wanted())
        sys.modules[stem] = module
        code = compile(vm.SOURCE, str(src), "exec")  # this package's text, never a file's or a .pyc
        exec(code, module.__dict__)  # noqa: S102 - the machine's static source (cxsystems.engine.vm)
        kernel = module.__dict__["kernel"]
        how = "cache" if sum(kernel.stats.cache_hits.values()) == 1 else "compiled"
        if use_disk and how == "compiled":  # list the machine code numba just wrote (and ours)
            spec = _native_spec(kernel, folder, stem)
            files = {p.name: _sha(p) for p in _numba_files(folder, stem)}
            listed = {"source": hashlib.sha256(data).hexdigest(), "files": files}
            if spec is not None:
                listed["native"] = spec
            _atomic_write(folder / f"{stem}.json", json.dumps(listed, indent=1, sort_keys=True).encode())
        got = {"kernel": _numba_entry(kernel), "how": how, "path": "numba", "seconds": time.perf_counter() - t0,
               "pid": os.getpid(), "dispatcher": kernel}
        _LOADED[key] = got
        return got


# --------------------------------------------------------------------------------------- runs


def bytecode_of(cm) -> Bytecode:
    """The instructions of ``cm``, assembled once and kept on it.

    Raises:
        UnsupportedConstruct: the compiled backend does not run this model.
    """
    got = cm.__dict__.get("_cx_bytecode")
    if got is None:
        try:
            got = assemble(cm)
        except UnsupportedConstruct as exc:
            got = exc
        cm.__dict__["_cx_bytecode"] = got
    if isinstance(got, UnsupportedConstruct):
        raise got
    return got


def _estimate_numpy_seconds(cm, n_steps: int, n_worlds: int, vector: bool) -> float:
    """About how long the numpy engine takes (measured on cx_service: 64 ns per evaluated slot and
    step for one run; 1 us + 0.8 ns per world for the vector flavour)."""
    per = 6.4e-8 if not vector else 1e-6 + 8e-10 * n_worlds
    return n_steps * max(1, len(cm.step_order)) * per


def choose(cm, backend: str, n_steps: int, n_worlds: int, vector: bool, method: str):
    """``(bytecode or None, note)``: what the compiled backend runs for this call, or None for numpy.
    Cheap when the answer is numpy: numba is not even imported."""
    if backend == "numpy":
        return None, "numpy: asked for"
    if method != "euler":
        if backend == "compiled":
            raise UnsupportedConstruct(f"the compiled backend integrates with Euler only, not {method}", NUMPY_ADVICE)
        return None, f"numpy: the compiled backend integrates with Euler only, not {method}"
    if backend == "compiled":
        if not numba_available():
            raise UnsupportedConstruct("the compiled backend needs numba (pip install numba)", NUMPY_ADVICE)
        return bytecode_of(cm), "compiled: asked for"
    loaded = bool(_LOADED)
    spent = cm.numpy_seconds
    need = _estimate_numpy_seconds(cm, n_steps, n_worlds, vector)
    if not loaded and spent + need < LOAD_COST:
        return None, "numpy: too little work to load the compiled machine"
    if not numba_available():
        return None, "numpy: numba is not installed"
    try:
        code = bytecode_of(cm)
    except UnsupportedConstruct as exc:
        return None, f"numpy: {exc.reason}"
    if not loaded and spent + need < COMPILE_COST and not is_cached():
        return None, "numpy: too little work yet to compile the machine"
    return code, "compiled"


def _program(code: Bytecode, slots, include) -> np.ndarray:
    """The instructions of the slots ``include`` admits, in order, repeats reused (:func:`reuse`)."""
    parts = [c for s, c, _ in slots if include(s)]
    return reuse(np.concatenate(parts)) if parts else np.zeros((0, 6), dtype=np.int64)


def _threads(n_blocks: int, pid: int) -> int:
    """Threads for a call of ``n_blocks`` blocks: one per core (at most one per block), and one in
    a forked worker process (its siblings already use the cores)."""
    if n_blocks < 2 or pid != os.getpid():
        return 1
    return max(1, min(n_blocks, os.cpu_count() or 1))


_POOL: dict = {}  # (pid, threads) -> the executor, started once per process (a call starts no thread)
_POOL_LOCK = threading.Lock()


def _pool(n: int):
    """This process's pool of ``n`` threads for the machine, started on first use and kept (a
    thread takes milliseconds to start, and ``ensemble()`` makes a call per chunk of worlds); a
    forked child makes its own (the parent's threads are not copied)."""
    key = (os.getpid(), n)
    pool = _POOL.get(key)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor

        with _POOL_LOCK:
            pool = _POOL.get(key)
            if pool is None:
                pool = _POOL[key] = ThreadPoolExecutor(n, thread_name_prefix="cxsystems-vm")
    return pool


def _run_blocks(call, n_blocks: int, n: int) -> None:
    """Run every block on ``n`` threads, which take contiguous ranges of a few blocks in turn from a
    shared counter, so a thread slowed by other work on the machine does not leave the others idle
    (the machine releases the GIL; a block writes only its own worlds of ``OUT`` and its own entry
    of ``ERR``, so the numbers do not depend on which thread ran it; ``call(q0, q1, scratch)`` gets
    the thread's own scratch, ``call(None)`` makes one). The calling thread works too."""
    if n <= 1:
        call(0, n_blocks, call(None))
        return
    import itertools

    step = max(1, n_blocks // (4 * n))
    turns = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        scratch = call(None)
        while (start := next(turns) * step) < n_blocks:
            call(start, min(start + step, n_blocks), scratch)

    futures = [_pool(n - 1).submit(work) for _ in range(n - 1)]
    work()
    for f in futures:
        f.result()


def run(cm, code: Bytecode, ctl: dict, settings: dict, n_worlds: int, capture: list, names: list):
    """One call on the compiled backend: an :class:`EngineResult` (variables, times, worlds), or
    None when a world divided by zero (or met another error): the caller reruns it on numpy."""
    kernels = load()
    memo = cm.__dict__.setdefault("_cx_memo", {})
    if len(memo) > 64:  # many different calls: keep the memo small
        memo.clear()
    key = ("grid", ctl["initial_time"], ctl["final_time"], ctl["time_step"], ctl["saveper"])
    if key not in memo:
        times, saved, rounded = time_grid(ctl)
        memo[key] = (np.asarray(times, dtype=float), np.asarray(saved, dtype=np.uint8), np.asarray(rounded))
    TIMES, SAVED, ROUNDED = memo[key]
    els = cm.ir.elements
    PB = np.empty((len(code.param_slots), n_worlds))
    SP, SF, SV, stepped = [], [], [], {}
    for j, slot in enumerate(code.param_slots.tolist()):
        s = settings.get(slot)
        PB[j] = els[slot].expr.value if s is None else s.base
        for from_week, value in (s.steps if s is not None else ()):
            SP.append(j)
            SF.append(from_week)
            SV.append(value)
            stepped[slot] = j
    key = ("plan", frozenset(stepped), tuple(capture))
    if key not in memo:  # the numpy engine's plan for this run: what each step evaluates
        dyn = cm.dynamic_slots(stepped.__contains__)
        wanted = _closure(set(capture), cm.step_deps)
        memo[key] = (_program(code, code.steps, lambda s: s in code.always or (s in dyn and s in code.critical)),
                     _program(code, code.steps, lambda s: s not in code.critical and s in dyn and s in wanted))
    crit, save = memo[key]
    DATA = np.zeros((max(1, len(code.data)), len(TIMES)))
    for i, e in enumerate(code.data):  # read at each step time, as the numpy engine reads it
        at = data_series_at(e.table.x, e.table.y, e.mode)
        DATA[i] = [at(t) for t in TIMES.tolist()]
    CTL = np.array([ctl["initial_time"], ctl["final_time"], ctl["time_step"], ctl["saveper"]], dtype=float)
    TX, TY, TS = code.tables
    block = BLOCK if n_worlds >= BLOCK else n_worlds
    n_blocks = -(-n_worlds // block)
    OUT = np.empty((len(capture), len(ROUNDED), n_worlds))
    ERR = np.zeros(n_blocks, dtype=np.int64)
    def f(x, dtype=np.float64):
        return np.ascontiguousarray(x, dtype=dtype)

    def i(x):
        return np.ascontiguousarray(x, dtype=np.int64)

    def prog(x):
        x = i(x)
        return x if x.ndim == 2 and x.shape[1] == 6 else i(np.zeros((0, 6)))  # always (n, 6)

    bufs = [f(PB), i(code.param_slots), i(sorted(stepped.values())), i(SP), f(SF), f(SV), i(code.const_slots),
            f(code.const_values), i(code.control_slots), f(CTL), i(code.data_slots), f(DATA), f(TIMES),
            f(SAVED, np.uint8), f(TX), f(TY), f(TS), prog(code.init), prog(crit), prog(save), prog(code.update),
            i(capture), OUT, ERR]
    if not (OUT.flags.c_contiguous and bufs[0].shape == (len(code.param_slots), n_worlds)):
        return None  # pragma: no cover - both made just above
    dims = [*bufs[0].shape] + [len(b) for b in bufs[1:11]] + [*bufs[11].shape] + [len(b) for b in bufs[12:22]]
    D = np.array(dims + [*OUT.shape, len(ERR)], dtype=np.int64)
    ptrs = [D.ctypes.data] + [b.ctypes.data for b in bufs]
    fn, NV, failed = kernels["kernel"], int(code.n_values), []

    def call(q0, q1=None, scratch=None):
        if q0 is None:  # this thread's scratch: a block's value table and a lookup's values
            return np.empty((NV, block)), np.empty(block)
        ret, exc = ctypes.c_int64(), ctypes.c_void_p()  # numba's convention: a status, never set here
        status = fn(ctypes.addressof(ret), ctypes.addressof(exc), q0, q1, block, NV, int(code.time_slot),
                    *ptrs, scratch[0].ctypes.data, scratch[1].ctypes.data)
        if status != 0:
            failed.append(status)

    _run_blocks(call, n_blocks, _threads(n_blocks, kernels["pid"]))
    if ERR.any() or failed:
        return None
    return EngineResult(names=list(names), times=ROUNDED.copy(), values=OUT)


__all__ = ["BACKENDS", "default_backend", "choose", "run", "load", "bytecode_of", "cache_root",
           "kernel_path", "is_cached", "numba_available"]
