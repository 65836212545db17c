"""Runs one script in this fresh process and records its memory; started by the verifier.

Usage (the verifier builds this): ``python -m memlint.verify.probe`` with
``MEMLINT_VERIFY_CODE`` (the file holding the source to run), ``MEMLINT_VERIFY_SCRIPT`` (the
original script's path: ``__file__``, ``sys.argv[0]`` and ``sys.path[0]`` are set from it, so
the code runs as if started with ``python SCRIPT``), ``MEMLINT_VERIFY_ARGS`` (a JSON list),
``MEMLINT_VERIFY_PRELOAD`` (comma-separated modules imported before the floor is taken) and
``MEMLINT_VERIFY_RESULT`` (where the measurements go, as JSON; never the script's stdout).

The peak is measured above a floor: after the preloads (``import torch`` alone is ~270 MB of
RSS), the kernel's high-water mark is reset by writing ``5`` to ``/proc/self/clear_refs``, so
``VmHWM`` at exit is the script's own peak plus the floor. This module imports nothing from
memlint so that the floor is the same with or without memlint installed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types

ENV_CODE = "MEMLINT_VERIFY_CODE"
ENV_SCRIPT = "MEMLINT_VERIFY_SCRIPT"
ENV_ARGS = "MEMLINT_VERIFY_ARGS"
ENV_PRELOAD = "MEMLINT_VERIFY_PRELOAD"
ENV_RESULT = "MEMLINT_VERIFY_RESULT"
_ENV_ALL = (ENV_CODE, ENV_SCRIPT, ENV_ARGS, ENV_PRELOAD, ENV_RESULT)


def proc_status_kb(field: str, pid: str = "self") -> int | None:
    """A ``kB`` field such as ``VmHWM`` or ``VmRSS`` from ``/proc/<pid>/status``."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _cuda_peaks() -> tuple[int | None, int | None]:
    """Peak CUDA bytes allocated/reserved, only where the script itself initialised CUDA."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    try:
        if not torch.cuda.is_initialized():
            return None, None
        return int(torch.cuda.max_memory_allocated()), int(torch.cuda.max_memory_reserved())
    except Exception:
        return None, None


def _run_as_main(code_path: str, script: str) -> None:
    """What ``python SCRIPT`` does, with the code read from ``code_path``."""
    filename = os.path.abspath(script)  # as Python >= 3.9 sets __main__.__file__
    with open(code_path, "rb") as source:
        code = compile(source.read(), filename, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=filename, __builtins__=__builtins__, __cached__=None, __spec__=None)
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def main() -> None:
    code_path = os.environ[ENV_CODE]
    script = os.environ[ENV_SCRIPT]
    args = json.loads(os.environ.get(ENV_ARGS, "[]"))
    preload = [m for m in os.environ.get(ENV_PRELOAD, "").split(",") if m]
    result_path = os.environ[ENV_RESULT]
    for name in _ENV_ALL:  # the script sees the environment it would see without the probe
        os.environ.pop(name, None)

    sys.argv = [script, *args]  # argv[0] as the user typed it; same cwd, so a relative one still works
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # Python resolves a symlinked script here
    for module in preload:
        try:
            __import__(module)
        except Exception:  # the script will report its own import errors
            pass
    preload_hwm = proc_status_kb("VmHWM")
    reset_ok = reset_high_water_mark()
    floor_kb = proc_status_kb("VmRSS") if reset_ok else preload_hwm
    start = time.perf_counter()
    raised: str | None = None
    try:
        _run_as_main(code_path, script)
    except BaseException as exc:
        raised = type(exc).__name__
        raise
    finally:
        wall = time.perf_counter() - start
        try:
            sys.stdout.flush()
        except Exception:
            pass
        allocated, reserved = _cuda_peaks()
        result = {
            "reset_ok": reset_ok,
            "floor_kb": floor_kb,
            "preload_hwm_kb": preload_hwm,
            "hwm_kb": proc_status_kb("VmHWM"),
            "cuda_allocated": allocated,
            "cuda_reserved": reserved,
            "wall_s": wall,
            "exception": raised,
        }
        with open(result_path, "w", encoding="utf-8") as out:
            json.dump(result, out)


if __name__ == "__main__":
    main()
