"""The first code a measured child process runs: ``python entry.py probe|estimate``.

1. Ties the process's life to memlint's: a watchdog thread blocks on a pipe that only memlint
   can write to; end-of-file means memlint is gone (even by SIGKILL), and the thread kills the
   whole process group, the script's own children included.
2. Makes ``memlint`` importable from the files this one sits among, without putting memlint's
   site-packages on ``sys.path`` (the script may run under another interpreter: ``--python``).
   Only ``memlint.measure``, ``memlint.verify.probe`` and ``memlint.estimate`` are imported
   here, and they need nothing beyond the standard library and the user's torch.
3. Hands over to the verifier's probe or the estimator's child.
"""

import importlib.util
import os
import signal
import sys
import threading


def watch_parent(fd: int) -> None:
    os.set_inheritable(fd, False)  # programs the script starts must not keep memlint's pipe open

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="memlint-watchdog", daemon=True).start()


def load_memlint() -> None:
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "memlint", os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["memlint"] = module
    spec.loader.exec_module(module)


def main() -> None:
    fd = os.environ.pop("MEMLINT_WATCHDOG_FD", None)
    if fd:
        watch_parent(int(fd))
    load_memlint()
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    del sys.argv[1:]
    if role == "probe":
        from memlint.verify.probe import main as run
    elif role == "estimate":
        from memlint.estimate.child import main as run
    else:
        sys.stderr.write(f"memlint entry: unknown role {role!r}\n")
        raise SystemExit(2)
    run()


if __name__ == "__main__":
    main()
