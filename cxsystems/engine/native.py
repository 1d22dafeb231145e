"""Loads the compiled machine's cached object code with llvmlite alone (numba is not imported).

The machine (:mod:`cxsystems.engine.vm`) is one function with a C calling convention (numba's:
``int32 kernel(void *ret, void *excinfo, int64 ..., pointers ...)``, status 0 when it went well);
:func:`cxsystems.engine.compiled.load` keeps its object code (ELF, as LLVM emitted it for this CPU)
in the private, verified cache. Here it is linked in process by LLVM's MCJIT and called through
:mod:`ctypes` (which releases the GIL). Every symbol the object needs is checked first: the C
library's (``exp``, ``memset`` ...) resolve in process, numba's reference counter's
``NRT_MemInfo_call_dtor`` (called only for memory the machine allocated, and it allocates none:
every array is a view of a caller's buffer) is a no-op here; any other symbol, or an object that is
not ELF for this machine, is refused (``None``): the caller then loads the machine with numba.
"""

from __future__ import annotations

import ctypes
import struct

#: The machine's prototype: status, then ``ret, excinfo, q0, q1, block, NV, TSLOT`` and 27 buffers.
N_INTS = 5
N_BUFFERS = 27
PROTOTYPE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                             *([ctypes.c_int64] * N_INTS), *([ctypes.c_void_p] * N_BUFFERS))

_STUBS = "define void @NRT_MemInfo_call_dtor(ptr %m) {\n  ret void\n}\n"
_KEEP: list = []  # the engines holding loaded code: kept for the process's life


def undefined_symbols(obj: bytes) -> list[str] | None:
    """The names an ELF64 little-endian relocatable object needs from outside (undefined global
    symbols of its ``.symtab``), or None when ``obj`` is not such an object or is malformed."""
    try:
        if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
            return None
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
        names: list[str] = []
        for sec in sections:
            if sec[1] != 2:  # SHT_SYMTAB
                continue
            _, _, _, _, off, size, link, _, _, entsize = sec
            stroff, strsize = sections[link][4], sections[link][5]
            for k in range(size // entsize):
                st_name, st_info, _, st_shndx, _, _ = struct.unpack_from("<IBBHQQ", obj, off + k * entsize)
                if st_shndx == 0 and st_name and st_info >> 4 in (1, 2):  # undefined, GLOBAL or WEAK
                    end = obj.index(b"\0", stroff + st_name, stroff + strsize)
                    names.append(obj[stroff + st_name:end].decode("ascii"))
        return names
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, ZeroDivisionError):
        return None


def host_cpu() -> str:
    """This CPU's name and features as LLVM sees them (the object is only loaded on the CPU it was
    compiled for)."""
    import llvmlite.binding as llvm

    return f"{llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


def load(obj: bytes, name: str):
    """The machine's entry ``name`` in ``obj`` as a :data:`PROTOTYPE` function, or None when the
    object cannot be linked here with llvmlite alone (see the module's docstring)."""
    needed = undefined_symbols(obj)
    if needed is None:
        return None
    try:
        import llvmlite.binding as llvm

        process = ctypes.CDLL(None)
        for sym in needed:
            if sym == "NRT_MemInfo_call_dtor":
                continue  # defined by the stub module below
            try:
                addr = ctypes.cast(getattr(process, sym), ctypes.c_void_p).value
            except AttributeError:
                return None
            llvm.add_symbol(sym, addr)
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        tm = llvm.Target.from_default_triple().create_target_machine()
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(_STUBS), tm)
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        addr = engine.get_function_address(name)
    except Exception:  # noqa: BLE001 - llvmlite's errors are RuntimeError and others: then numba
        return None
    if not addr:
        return None
    _KEEP.append(engine)
    return PROTOTYPE(addr)


__all__ = ["PROTOTYPE", "undefined_symbols", "host_cpu", "load"]
