"""The project index: what each file of a project defines, imports and calls, joined across files.

Per file, a ``FileSummary`` (plain data, cached with the lint results and keyed on the file's
content) holds its module name, its imports resolved to qualified names, its functions and
classes (with their bases), the grad-guard wrappers it defines, and its calls of project code,
each with the grad guard at the call, the calling function, and whether the call repeats in a
loop of a function that trains.

``Project`` joins the summaries: which file defines a module, where each function is called from,
which functions every caller guards (a fixed point over the call graph, cycles not guarded), and
which files a file depends on (for the cache). Rules never see it directly: ``FileAnalysis`` asks
it through ``self.project`` when a question crosses a file (``resolve_call``, ``callers``,
``guarded_by_callers``, ``subclasses``, guard wrappers imported from another module). The value
of a helper in another file is computed by that file's own flow, on demand, from its parsed tree.

The project root is the nearest directory above the checked paths holding ``pyproject.toml``,
``setup.cfg``, ``setup.py`` or a VCS directory, never above a ``site-packages`` folder (an
installed package is a project of its own).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from memlint.analysis.syntax import FunctionNode, ParseFailure, cycle_collection_paused, dotted, parse_python

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git", ".hg", ".svn")
MAX_PROJECT_FILES = 5000
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", "env", ".env", "build", "dist", "node_modules", "__pycache__",
        ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".memlint_cache", "site-packages", ".eggs",
    }
)
MAX_RESOLVE_DEPTH = 6
# Where installed packages live: a package there is its own project, never part of one above it
# (pyenv's versions sit in a git checkout; all of site-packages is not one project either).
INSTALL_DIRS = frozenset({"site-packages", "dist-packages"})


@dataclass(frozen=True)
class CallSite:
    callee: str  # qualified name of the project function (or class method) it calls
    caller: str | None  # qualified name of the calling function; None at module level
    guard: str | None  # grad guard at the call ("off", "phase") or None
    line: int
    column: int  # ast col_offset
    in_training_loop: bool  # repeats in a loop of a function (or script) that trains


@dataclass
class FileSummary:
    path: str
    module: str
    digest: str
    imports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, int] = field(default_factory=dict)  # qualname -> line
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # qualname -> qualified bases
    guard_wrappers: tuple[str, ...] = ()
    calls: tuple[CallSite, ...] = ()
    parsed: bool = True
    # DataLoader calls: (line, ast column, may start workers); loader settings its configurations
    # declare (dataclass fields, class attributes, argparse defaults): (name, literal default, line).
    loaders: tuple[tuple[int, int, bool], ...] = ()
    settings: tuple[tuple[str, object, int, bool], ...] = ()  # ..., whether its group pins memory


def real_path(path: "Path | str", seen: "dict[str, str] | None" = None) -> Path:
    """``path`` with every symbolic link resolved (``Path.resolve``). ``seen`` remembers, across
    calls, the resolved directories: a file then costs one ``lstat`` instead of one per folder."""
    if seen is None:
        try:
            return Path(path).resolve()
        except (RuntimeError, OSError):  # a symbolic link loop (Python < 3.13 raises): the path as given
            return Path(os.path.abspath(path))
    return Path(_real(os.fspath(path), seen))


def _real(path: str, seen: dict[str, str]) -> str:
    absolute = os.path.abspath(path)
    if f"{os.sep}..{os.sep}" in f"{path}{os.sep}":  # lexical and real parents differ under a link
        return os.path.realpath(absolute)
    directory, name = os.path.split(absolute)
    if not name:
        return os.path.realpath(absolute)
    resolved = seen.get(directory)
    if resolved is None:
        resolved = seen[directory] = _real(directory, seen)  # one lstat per new folder
    full = os.path.join(resolved, name)
    return os.path.realpath(full) if os.path.islink(full) else full


def find_root(
    start: Path, marked: "dict[Path, bool] | None" = None, seen: "dict[str, str] | None" = None
) -> Path:
    """The project root above ``start``: the nearest directory with a project or VCS marker, else
    ``start``'s own directory. ``marked`` remembers, across calls, which directories have one;
    ``seen``, the resolved directories (see ``real_path``)."""
    start = real_path(start, seen)
    directory = start if start.is_dir() else start.parent
    candidate = directory
    while True:
        if has_marker(candidate, marked):
            return candidate
        if candidate.parent == candidate or candidate.name in INSTALL_DIRS:
            return directory
        candidate = candidate.parent


def has_marker(directory: Path, marked: "dict[Path, bool] | None" = None) -> bool:
    found = marked.get(directory) if marked is not None else None
    if found is None:
        base = str(directory)
        found = any(os.path.exists(os.path.join(base, marker)) for marker in ROOT_MARKERS)
        if marked is not None:
            marked[directory] = found
    return found


def module_name(root: Path, path: Path, seen: "dict[str, str] | None" = None) -> str:
    """Dotted module name of ``path`` under ``root`` (``src/`` layouts: relative to ``src``).
    ``seen``: resolved directories remembered across calls (see ``real_path``)."""
    if seen is not None and os.fspath(path).endswith(".py"):  # the common case, in strings
        real, base = _real(os.fspath(path), seen), _real(os.fspath(root), seen)
        if real.startswith(base.rstrip(os.sep) + os.sep):
            parts = real[len(base.rstrip(os.sep)) + 1 : -3].split(os.sep)
            if len(parts) > 1 and parts[0] == "src":
                parts = parts[1:]
            if parts and parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(p.replace("-", "_") for p in parts) or Path(path).stem
    try:
        relative = real_path(path, seen).relative_to(real_path(root, seen))
    except ValueError:
        return path.stem
    parts = list(relative.with_suffix("").parts)
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(p.replace("-", "_") for p in parts) or path.stem


def project_files(root: Path, limit: int = MAX_PROJECT_FILES) -> list[Path]:
    """The project's Python files, in a stable order (virtualenvs, builds and caches skipped)."""
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                found.append(Path(directory) / name)
                if len(found) >= limit:
                    return found
    return found


# Other files' analyses kept between two checked files (the helpers they call), by the size of
# their sources; beyond it they are all released at once (a tree costs about 30 times its source).
ANALYSES_KEPT_CHARS = 10_000_000


def digest_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def read_regular(path: Path | str, limit: int | None = None) -> bytes | None:
    """A regular file's bytes, or None: a FIFO or device is never read (it could block), and a
    file over ``limit`` bytes is left out of the project."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (limit is not None and info.st_size > limit):
            return None
        with open(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


_DEFINITIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})


def summarize(file: "FileAnalysis", digest: str, project_modules: frozenset[str]) -> FileSummary:
    """The summary of one analysed file; calls are kept only when they reach project code."""
    module = file.module_name
    summary = FileSummary(file.path, module, digest, imports=dict(file.imports))
    for node in file.nodes:
        if type(node) not in _DEFINITIONS:
            continue
        if isinstance(node, FunctionNode):
            summary.functions[file.qualified_name(node)] = node.lineno
        elif isinstance(node, ast.ClassDef):
            bases = []
            for base in node.bases:
                name = file.qualname(base)
                if name is None:
                    local = dotted(base)
                    if local in file.classes:
                        name = file.qualified_name(file.classes[local])
                bases.append(name or dotted(base) or "")
            summary.classes[file.qualified_name(node)] = tuple(bases)
    summary.guard_wrappers = tuple(f"{module}.{name}" for name in sorted(file.guard_wrappers))

    def in_project(name: str) -> bool:
        head = name.split(".")
        return any(".".join(head[:i]) in project_modules for i in range(len(head), 0, -1))

    from memlint.analysis.flow import steps_in

    calls = []
    trains_cache: dict[int, bool] = {}
    for node in file.nodes:
        if type(node) is not ast.Call:
            continue
        callee = _callee(file, node)
        if callee is None or not (callee.startswith(module + ".") or in_project(callee)):
            continue
        scope = file.enclosing_function(node)
        caller = file.qualified_name(scope) if scope is not None else None
        training = False
        if file.enclosing_loops(node):
            owner = scope or file.tree
            if id(owner) not in trains_cache:
                trains_cache[id(owner)] = steps_in(file, owner)
            training = trains_cache[id(owner)]
        calls.append(CallSite(callee, caller, file.guard_at(node), node.lineno, node.col_offset, training))
    summary.calls = tuple(calls)
    _summarize_loading(file, summary)
    return summary


def _summarize_loading(file: "FileAnalysis", summary: FileSummary) -> None:
    """The DataLoaders and loader settings of a file, for the loader rules' project questions."""
    from memlint.analysis import data

    summary.loaders = tuple(
        (call.lineno, call.col_offset, not data.loader_setting(file, call, "num_workers").off)
        for call in data.loader_calls(file)
    )
    entries = data.config_entries(file)
    summary.settings = tuple((e.name, e.value, e.node.lineno, data.pinned_group(entries, e)) for e in entries)  # type: ignore[attr-defined]


def _callee(file: "FileAnalysis", call: ast.Call) -> str | None:
    """The qualified name a call reaches: a function of this module, a method of the enclosing
    class (``self.f``), or an imported name (``utils.evaluate``, ``from .engine import step``)."""
    func = call.func
    if isinstance(func, ast.Name):
        if func.id in file.module_functions:
            return f"{file.module_name}.{func.id}"
        return file.imports.get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        cls = file.enclosing_class(call)
        return f"{file.qualified_name(cls)}.{func.attr}" if cls is not None else None
    name = dotted(func)
    if name is not None and name.split(".")[0] in file.imports:
        return file.qualname(func)
    return None


def _top_packages(summary: FileSummary) -> frozenset[str]:
    """The top-level packages a file imports (``torch`` for ``torch.nn.functional``)."""
    cached = summary.__dict__.get("_tops")
    if cached is None:
        cached = summary.__dict__["_tops"] = frozenset(q.split(".")[0] for q in summary.imports.values())
    return cached


class Project:
    """Summaries of every file of a project, joined. Parsed trees of other files are loaded on
    demand (a helper's return value) and kept until ``forget_analyses`` releases them."""

    def __init__(self, root: Path, summaries: Iterable[FileSummary]) -> None:
        self.root = root
        self.summaries: dict[str, FileSummary] = {}
        self.by_module: dict[str, FileSummary] = {}
        self._callers: dict[str, list[tuple[FileSummary, CallSite]]] | None = None
        self._callers_key = object()
        for summary in summaries:
            self.add(summary)
        self._analyses: dict[str, "FileAnalysis | None"] = {}
        self._guarded: dict[str, bool] = {}
        self._texts: dict[str, str] = {}

    def add(self, summary: FileSummary) -> None:
        old = self.summaries.get(summary.path)
        if old is not None:
            self.by_module.pop(old.module, None)
        self.summaries[summary.path] = summary
        self.by_module[summary.module] = summary
        self._callers = None
        self._callers_key = object()  # what the derived indexes were built from
        self._guarded = {}
        self.__dict__.get("_analyses", {}).pop(summary.path, None)

    @property
    def callers_by_callee(self) -> dict[str, list[tuple[FileSummary, CallSite]]]:
        """Call sites by the qualified name of the function they reach: ``self.validate()`` in a
        subclass counts for the base class that defines ``validate``."""
        if self._callers is None:
            found: dict[str, list[tuple[FileSummary, CallSite]]] = {}
            canonical: dict[str, str] = {}
            for summary in self.summaries.values():
                for site in summary.calls:
                    name = canonical.get(site.callee)
                    if name is None:
                        located = self.locate(site.callee)
                        name = canonical[site.callee] = f"{located[0].module}.{located[1]}" if located else site.callee
                    found.setdefault(name, []).append((summary, site))
            self._callers = found
        return self._callers

    @property
    def modules(self) -> frozenset[str]:
        cached = self.__dict__.get("_modules")
        if cached is None or cached[0] is not self._callers_key:
            cached = self.__dict__["_modules"] = (self._callers_key, frozenset(self.by_module))
        return cached[1]

    # ------------------------------------------------------------------ names
    def summary(self, path: str) -> FileSummary | None:
        return self.summaries.get(os.path.abspath(path))

    def module_name(self, path: str) -> str:
        summary = self.summary(str(path))
        return summary.module if summary is not None else module_name(self.root, Path(path))

    def locate(self, qualified: str, depth: int = 0) -> tuple[FileSummary, str] | None:
        """The file defining ``qualified`` and the name inside it (``Class.method`` or ``f``),
        following re-exports (``from .utils import evaluate`` in a package ``__init__``)."""
        if depth > MAX_RESOLVE_DEPTH:
            return None
        parts = qualified.split(".")
        if len(parts) > 2 and parts[0] == self.root.name and parts[0] not in self.by_module:
            # `from networks.common.metrics import X` run from inside `networks/` (a `sys.path`
            # entry above the root): the root's own name as a package prefix.
            return self.locate(".".join(parts[1:]), depth + 1)
        for cut in range(len(parts) - 1, 0, -1):
            summary = self.by_module.get(".".join(parts[:cut]))
            if summary is None:
                continue
            inner = ".".join(parts[cut:])
            full = f"{summary.module}.{inner}"
            if full in summary.functions or full in summary.classes:
                return summary, inner
            head = parts[cut]
            target = summary.imports.get(head)
            if target is not None and target != qualified:
                rest = ".".join(parts[cut + 1:])
                return self.locate(f"{target}.{rest}" if rest else target, depth + 1)
            # A method of a class defined here, inherited from a base elsewhere.
            owner = ".".join(parts[: cut + 1])
            if owner in summary.classes and len(parts) > cut + 1:
                for base in summary.classes[owner]:
                    found = self.locate(f"{base}.{parts[-1]}", depth + 1) if base else None
                    if found is not None:
                        return found
            return None
        return None

    def analysis(self, summary: FileSummary) -> "FileAnalysis | None":
        """The parsed, analysed file of a summary (None when it cannot be read)."""
        if summary.path in self._analyses:
            return self._analyses[summary.path]
        from memlint.analysis.file import FileAnalysis

        found: FileAnalysis | None = None
        text = self.text(summary)
        if text is not None:
            try:
                tree = parse_python(text, summary.path)
                found = FileAnalysis(tree, summary.path, text, summary.module, ProjectView(self))
            except (ParseFailure, RecursionError):
                found = None
        self._analyses[summary.path] = found
        return found

    def forget_analyses(self, budget: int = ANALYSES_KEPT_CHARS) -> None:
        """Between two checked files: when the other files' analyses kept for the run hold more than
        ``budget`` characters of source, release them all (each is parsed again when next asked).
        All at once, so none can stay referenced from another one's memos and be parsed twice."""
        if sum(len(found.text) for found in self._analyses.values() if found is not None) <= budget:
            return
        released = [found for found in self._analyses.values() if found is not None]
        self._analyses.clear()
        for found in released:
            found.release()

    def text(self, summary: FileSummary) -> str | None:
        """A file's text: the caller's copy (an editor buffer) if it gave one, else the file's."""
        text = self._texts.get(summary.path)
        return text if text is not None else _read_text(summary.path)

    def remember_text(self, path: str, text: str) -> None:
        """The text of a file as the caller has it (an unsaved editor buffer, a decoded file)."""
        self._texts[os.path.abspath(path)] = text
        self._analyses.pop(os.path.abspath(path), None)

    def definition(self, qualified: str) -> tuple["FileAnalysis", ast.AST] | None:
        located = self.locate(qualified)
        if located is None:
            return None
        summary, inner = located
        owner = self.analysis(summary)
        if owner is None:
            return None
        node = _find_definition(owner.tree, inner.split("."))
        return (owner, node) if node is not None else None

    # ------------------------------------------------------------------ callers
    def sites(self, qualified: str) -> list[tuple[FileSummary, CallSite]]:
        return list(self.callers_by_callee.get(qualified, ()))

    def guarded(self, qualified: str, visiting: frozenset[str] = frozenset()) -> bool | None:
        """Every project call of ``qualified`` runs with grad off: under a guard, or inside a
        function itself guarded this way. None when the project never calls it."""
        if qualified in self._guarded:
            return self._guarded[qualified]
        sites = self.sites(qualified)
        if not sites:
            return None
        if qualified in visiting:
            return False
        result = True
        for _, site in sites:
            if site.guard is not None:
                continue
            if site.caller is None or self.guarded(site.caller, visiting | {qualified}) is not True:
                result = False
                break
        self._guarded[qualified] = result
        return result

    def caller_libraries(self, path: str) -> frozenset[str]:
        """Top-level packages imported by the project files that call this file's functions, or
        that this file imports from: a helper module that never imports torch still runs torch
        code for its callers, and a script that only imports the project's engine trains too."""
        summary = self.summary(path)
        if summary is None:
            return frozenset()
        callers = {caller.path: caller for _, sites in self._callees_under(summary.module) for caller, _ in sites}
        for target in self._imported_files(summary):
            callers[target.path] = target
        found: set[str] = set()
        for other in callers.values():
            found |= _top_packages(other)
        return frozenset(found)

    # ------------------------------------------------------------------ data loading
    def loader_sites(self, exclude: str = "", with_workers: bool = False) -> list[tuple[FileSummary, int, int]]:
        """DataLoader calls of the project's files (all but ``exclude``)."""
        return [
            (summary, line, column)
            for path, summary in sorted(self.summaries.items())
            if path != exclude
            for line, column, workers in summary.loaders
            if workers or not with_workers
        ]

    def config_defaults(self, name: str, pinned_only: bool = False) -> list[object]:
        """The literal defaults the project's configurations declare for the setting ``name``."""
        return [
            value
            for _, summary in sorted(self.summaries.items())
            for key, value, _, pinned in summary.settings
            if key == name and (pinned or not pinned_only)
        ]

    def derived_classes(self, qualified: str) -> list[tuple[FileSummary, str]]:
        """Classes of the project whose bases lead to ``qualified`` (transitively)."""
        found: list[tuple[FileSummary, str]] = []
        frontier, seen = [qualified], {qualified}
        while frontier and len(seen) < 200:
            target = frontier.pop()
            for summary in self.summaries.values():
                for name, bases in summary.classes.items():
                    if name not in seen and any(b == target or self._same_class(b, target) for b in bases):
                        seen.add(name)
                        frontier.append(name)
                        found.append((summary, name))
        return found

    def _same_class(self, name: str, target: str) -> bool:
        located = self.locate(name)
        return located is not None and f"{located[0].module}.{located[1]}" == target

    # ------------------------------------------------------------------ the cache
    def dependency_digest(self, path: str) -> str:
        """What one file's findings depend on beyond its own text: the files it imports from the
        project (three levels deep), the calls other files make of its functions, and the
        libraries the pre-filter counts for it (``caller_libraries``)."""
        summary = self.summary(path)
        if summary is None:
            return ""
        path = summary.path
        digest = hashlib.sha256()
        # the files it imports, three levels deep: each level a digest of the next (as a Merkle tree)
        digest.update(b"".join(self._imports_digest(target, 2) for target in self._imported_files(summary)))
        digest.update(self._loading_digest)  # the loader rules read them project-wide
        # which rules run on the file at all (the pre-filter reads its callers' imports too)
        digest.update(",".join(sorted(self.caller_libraries(path))).encode())
        for callee, _ in sorted(self._callees_under(summary.module), key=lambda item: item[0]):
            digest.update(b"".join(token for caller_path, token in self._site_tokens(callee) if caller_path != path))
        return digest.hexdigest()

    def _run_index(self, name: str) -> dict:
        """A memo of the joined summaries, emptied whenever a summary is added (``add``)."""
        held = self.__dict__.get(name)
        if held is None or held[0] is not self._callers_key:
            held = self.__dict__[name] = (self._callers_key, {})
        return held[1]

    def _imports_digest(self, summary: FileSummary, depth: int) -> bytes:
        """A file's digest together with those of what it imports, ``depth`` levels further."""
        index = self._run_index("_import_levels")
        key = (summary.path, depth)
        found = index.get(key)
        if found is None:
            found = hashlib.sha256(f"{summary.path}\0{summary.digest}\n".encode("utf-8", "surrogateescape"))
            if depth > 0:
                found.update(b"".join(self._imports_digest(target, depth - 1) for target in self._imported_files(summary)))
            found = index[key] = found.digest()
        return found

    def _site_tokens(self, callee: str) -> list[tuple[str, bytes]]:
        """The call sites of ``callee`` as (calling file, bytes for a digest), made once per run."""
        index = self._run_index("_site_bytes")
        found = index.get(callee)
        if found is None:
            found = index[callee] = [
                (
                    caller.path,
                    f"{callee}\0{caller.path}\0{site.caller}\0{site.guard}\0{site.line}\0{site.column}\0{site.in_training_loop}\n".encode(
                        "utf-8", "surrogateescape"
                    ),
                )
                for caller, site in self.callers_by_callee.get(callee, ())
            ]
        return found

    def _imported_files(self, summary: FileSummary) -> list[FileSummary]:
        """The project files ``summary`` imports from (the longest module prefix of each import)."""
        index = self._run_index("_imported")
        found = index.get(summary.path)
        if found is None:
            found = []
            for qualified in summary.imports.values():
                for candidate in _module_prefixes(qualified):
                    target = self.by_module.get(candidate)
                    if target is not None:
                        found.append(target)
                        break
            index[summary.path] = found
        return found

    @property
    def _loading_digest(self) -> bytes:
        cached = self.__dict__.get("_loading")
        if cached is None or cached[0] is not self._callers_key:
            loading = sorted((s.path, s.loaders, repr(s.settings)) for s in self.summaries.values() if s.loaders or s.settings)
            cached = self.__dict__["_loading"] = (self._callers_key, repr(loading).encode("utf-8", "surrogateescape"))
        return cached[1]

    def _callees_under(self, module: str) -> list[tuple[str, list[tuple[FileSummary, CallSite]]]]:
        """The called functions whose qualified name lies under ``module``, with their call sites."""
        index = self.__dict__.get("_under")
        if index is None or index[0] is not self._callers_key:
            under: dict[str, list[tuple[str, list[tuple[FileSummary, CallSite]]]]] = {}
            for callee, sites in self.callers_by_callee.items():
                parts = callee.split(".")
                for cut in range(1, len(parts)):
                    under.setdefault(".".join(parts[:cut]), []).append((callee, sites))
            index = self.__dict__["_under"] = (self._callers_key, under)
        return index[1].get(module, [])


class ProjectView:
    """What a ``FileAnalysis`` asks of the project (see ``file.py``)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def module_name(self, path: str) -> str:
        return self.project.module_name(path)

    def caller_libraries(self, path: str) -> frozenset[str]:
        return self.project.caller_libraries(path)

    def resolve_function(self, file: "FileAnalysis", name: str) -> list[tuple["FileAnalysis", ast.AST]]:
        qualified = file.qualify(name)
        if qualified is None:
            return []
        found = self.project.definition(qualified)
        if found is None or not isinstance(found[1], FunctionNode):
            return []
        return [found]

    def resolve_class(self, file: "FileAnalysis", name: str) -> tuple["FileAnalysis", ast.ClassDef] | None:
        qualified = name if name.startswith(file.module_name + ".") else (file.qualify(name) or name)
        found = self.project.definition(qualified)
        if found is None or not isinstance(found[1], ast.ClassDef):
            return None
        return found  # type: ignore[return-value]

    def imported_methods(self, file: "FileAnalysis", name: str, limit: int = 8) -> list[tuple["FileAnalysis", ast.AST]]:
        """Methods called ``name`` on the classes of the project modules ``file`` imports from: what
        ``obj.name(...)`` may run when ``obj`` comes from a factory (``get_logger(cfg)``) whose
        class memlint cannot tell."""
        modules = {q.rsplit(".", 1)[0] for q in file.imports.values() if "." in q} | set(file.imports.values())
        found: list[tuple[FileAnalysis, ast.AST]] = []
        for module in sorted(modules):
            summary = self.project.by_module.get(module)
            if summary is None or summary.module == file.module_name:
                continue
            for qualified in summary.functions:
                owner, _, method = qualified.rpartition(".")
                if method == name and owner in summary.classes:
                    located = self.project.definition(qualified)
                    if located is not None and isinstance(located[1], FunctionNode):
                        found.append(located)
                        if len(found) >= limit:
                            return found
        return found

    def class_subclasses(self, qualified: str, roots: Sequence[str], depth: int) -> bool:
        found = self.project.definition(qualified)
        if found is None or not isinstance(found[1], ast.ClassDef):
            return False
        owner, cls = found
        return owner.subclasses(cls, roots, depth)

    def is_guard_wrapper(self, file: "FileAnalysis", name: str) -> bool:
        if not name:
            return False
        qualified = file.qualify(name)
        if qualified is None:
            return False
        located = self.project.locate(qualified)
        if located is None:
            return False
        summary, inner = located
        return f"{summary.module}.{inner}" in summary.guard_wrappers

    def callers_guard(self, file: "FileAnalysis", func: ast.AST) -> bool | None:
        return self.project.guarded(file.qualified_name(func))

    def callers(self, file: "FileAnalysis", func: ast.AST, in_training_loop: bool = False) -> list[tuple["FileAnalysis", ast.Call]]:
        """Calls of ``func`` from the project's other files (``in_training_loop``: only those the
        summaries place in a loop of a function that trains)."""
        return self.calls_of(file.qualified_name(func), exclude=os.path.abspath(file.path), in_training_loop=in_training_loop)

    def importers(self, file: "FileAnalysis", calling: str | None = None) -> list["FileAnalysis"]:
        """The project's other files that import from ``file``'s module (``calling``: only those
        whose text spells a call of that method, ``.calling(``; the others are not parsed)."""
        prefix = file.module_name + "."
        found = []
        here = os.path.abspath(file.path)
        spelled = re.compile(rf"\.\s*{re.escape(calling)}\s*\(") if calling else None
        for summary in self.project.summaries.values():
            if summary.path == here:
                continue
            if any(q == file.module_name or q.startswith(prefix) for q in summary.imports.values()):
                if spelled is not None and not spelled.search(self.project.text(summary) or ""):
                    continue
                owner = self.project.analysis(summary)
                if owner is not None:
                    found.append(owner)
        return found

    def calls_of(
        self, qualified: str, exclude: str | None = None, in_training_loop: bool = False
    ) -> list[tuple["FileAnalysis", ast.Call]]:
        """The project's calls of a qualified name (``pkg.mod.Class.method``), outside ``exclude``.
        A caller's file is parsed only when its call can matter: asked ``in_training_loop``, the
        summary's flag filters first (a core helper has hundreds of callers)."""
        found = []
        for summary, site in self.project.sites(qualified):
            if summary.path == exclude or (in_training_loop and not site.in_training_loop):
                continue
            owner = self.project.analysis(summary)
            if owner is None:
                continue
            call = next(
                (
                    n
                    for n in owner.nodes
                    if isinstance(n, ast.Call) and n.lineno == site.line and n.col_offset == site.column
                ),
                None,
            )
            if call is not None:
                found.append((owner, call))
        return found


    def loader_calls(self, file: "FileAnalysis", with_workers: bool = False) -> list[tuple["FileAnalysis", ast.Call]]:
        """DataLoader calls in the project's other files, as parsed nodes."""
        found = []
        for summary, line, column in self.project.loader_sites(os.path.abspath(file.path), with_workers):
            owner = self.project.analysis(summary)
            if owner is None:
                continue
            call = next((n for n in owner.nodes if isinstance(n, ast.Call) and n.lineno == line and n.col_offset == column), None)
            if call is not None:
                found.append((owner, call))
        return found

    def config_defaults(self, name: str, pinned_only: bool = False) -> list[object]:
        return self.project.config_defaults(name, pinned_only)

    def subclasses_of(self, file: "FileAnalysis", qualified: str) -> list[tuple["FileAnalysis", ast.ClassDef]]:
        """Classes in the project's other files derived from ``qualified``."""
        found = []
        here = os.path.abspath(file.path)
        for summary, name in self.project.derived_classes(qualified):
            if summary.path == here:
                continue
            located = self.project.definition(name)
            if located is not None and isinstance(located[1], ast.ClassDef):
                found.append(located)  # type: ignore[arg-type]
        return found


def _module_prefixes(qualified: str) -> list[str]:
    parts = qualified.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _find_definition(tree: ast.Module, path: list[str]) -> ast.AST | None:
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in path:
        node = None
        for stmt in body:
            if isinstance(stmt, (*FunctionNode, ast.ClassDef)) and stmt.name == part:
                node = stmt
        if node is None:
            return None
        body = node.body  # type: ignore[attr-defined]
    return node


def _read_text(path: str) -> str | None:
    try:
        from memlint.source import read_source

        return read_source(Path(path)).text
    except Exception:
        return None


def build_project(
    root: Path,
    paths: Sequence[Path],
    cached: "dict[str, FileSummary] | None" = None,
    texts: "dict[str, tuple[bytes, str | None]] | None" = None,
    limit: int | None = None,
    seen: "dict[str, str] | None" = None,
) -> tuple[Project, dict[str, FileSummary]]:
    """Summarize every file (reusing ``cached`` summaries whose digest still matches) and join them.

    ``texts``: path -> (raw bytes, decoded text or None) already read by the caller. ``seen``:
    resolved directories (see ``real_path``). Returns the project and the summaries that were
    computed fresh (for the cache).
    """
    cached = cached or {}
    texts = texts or {}
    seen = {} if seen is None else seen
    modules = {os.path.abspath(p): module_name(root, p, seen) for p in paths}
    project_modules = frozenset(_all_prefixes(modules.values()))
    summaries: list[FileSummary] = []
    fresh: dict[str, FileSummary] = {}
    for path in paths:
        key = os.path.abspath(path)
        if key in texts:
            raw, text = texts[key]
        else:
            raw = read_regular(path, limit)  # type: ignore[assignment]
            if raw is None:
                continue
            text = None  # type: ignore[assignment]
        digest = digest_bytes(raw)
        old = cached.get(key)
        if old is not None and old.digest == digest and old.module == modules[key]:
            summaries.append(old)
            continue
        if text is None:
            text = _read_text(key)
        summary = FileSummary(key, modules[key], digest, parsed=False)
        if text is not None:
            from memlint.analysis.file import FileAnalysis  # only here: a warm run never loads the analysis

            with cycle_collection_paused():
                try:
                    file = FileAnalysis(parse_python(text, key), key, text, modules[key], project_modules=project_modules)
                    summary = summarize(file, digest, project_modules)
                    file.release()
                except (ParseFailure, RecursionError):
                    pass
        summaries.append(summary)
        fresh[key] = summary
    return Project(root, summaries), fresh


def _all_prefixes(names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            found.add(".".join(parts[:i]))
    return found


_IMPORT_WORDS = re.compile(r"^[ \t]*(?:from[ \t]+([.\w]+)[ \t]+import[ \t]+([^\n#]+)|import[ \t]+([^\n#]+))", re.MULTILINE)
_WORD = re.compile(r"[A-Za-z_]\w*")


def _import_words(text: str) -> set[str]:
    """Every name that appears in the import statements of a text (modules and imported names)."""
    words: set[str] = set()
    for match in _IMPORT_WORDS.finditer(text):
        for group in match.groups():
            if group:
                words.update(_WORD.findall(group))
    return words


def relevant_files(
    root: Path, targets: Sequence[Path], candidates: Sequence[Path], limit: int | None = None
) -> list[Path]:
    """The files of the project that can matter to the checked ones: the checked files, what they
    import (three levels), and the files that mention their modules (possible callers). A run that
    checks most of the project takes all of it."""
    target_set = {str(t) for t in targets}
    if len(target_set) * 2 >= len(candidates):
        return list(dict.fromkeys([*candidates, *targets]))
    modules = {str(p): module_name(root, p) for p in candidates}
    texts: dict[str, str] = {}

    def text_of(path: str) -> str:
        if path not in texts:
            raw = read_regular(path, limit)
            texts[path] = raw.decode("utf-8", errors="replace") if raw is not None else ""
        return texts[path]

    chosen = set(target_set)
    frontier = set(target_set)
    for _ in range(3):  # what the checked files import, transitively
        words: set[str] = set()
        for path in frontier:
            words |= _import_words(text_of(path))
        frontier = {p for p, m in modules.items() if p not in chosen and set(m.split(".")) & words}
        chosen |= frontier
        if not frontier:
            break
    names = {modules.get(t, Path(t).stem).rsplit(".", 1)[-1] for t in target_set}
    for path in modules:  # who may call them
        if path not in chosen and names & _import_words(text_of(path)):
            chosen.add(path)
    return list(dict.fromkeys(p for p in [*candidates, *targets] if str(p) in chosen))


def prepare(targets: Sequence[Path], cache=None, limit: int | None = None) -> dict[str, tuple[Project, str]]:  # type: ignore[no-untyped-def]
    """For each checked ``.py`` file: its project and the digest of what its findings depend on
    in other files. Summaries come from ``cache`` (a ``memlint.cache.Cache``) when unchanged."""
    by_root: dict[Path, list[Path]] = {}
    loose: list[Path] = []
    roots: dict[Path, Path] = {}
    marked: dict[Path, bool] = {}
    seen: dict[str, str] = {}  # resolved directories
    for target in targets:
        if target.suffix != ".py":
            continue
        if target.parent not in roots:
            roots[target.parent] = find_root(target, marked, seen)
        root = roots[target.parent]
        if has_marker(root, marked):
            by_root.setdefault(root, []).append(target)
        else:
            loose.append(target)
    if loose:  # no project marker above: the checked files' common folder (outside any package)
        by_root.setdefault(_unmarked_root(loose, seen), []).extend(loose)
    prepared: dict[str, tuple[Project, str]] = {}
    for root, members in by_root.items():
        if root.name in INSTALL_DIRS:
            candidates = installed_files(root, members, seen)
        elif has_marker(root, marked) or len(members) > 1 or root != real_path(members[0], seen).parent:
            candidates = project_files(root)
        else:  # a loose script: its own directory, and the packages in it that the script imports
            candidates = sorted(p for p in root.glob("*.py") if p.is_file())
            raw = read_regular(members[0], limit)
            words = _import_words(raw.decode("utf-8", errors="replace")) if raw is not None else set()
            for name in sorted(words):
                if name not in SKIP_DIRS and len(candidates) < MAX_PROJECT_FILES and (root / name / "__init__.py").is_file():
                    candidates.extend(project_files(root / name, MAX_PROJECT_FILES - len(candidates)))
        files = relevant_files(root, members, candidates, limit)
        cached = cached_summaries(cache, root)
        project, fresh = build_project(root, files, cached, limit=limit, seen=seen)
        if fresh:
            store_summaries(cache, root, cached, fresh, candidates)
        for member in members:
            prepared[str(member)] = (project, project.dependency_digest(str(member)))
    return prepared


_SUMMARIES = "project-summaries"


def cached_summaries(cache, root: Path) -> dict[str, FileSummary]:  # type: ignore[no-untyped-def]
    """The summaries of the project at ``root`` kept in ``cache`` (a ``memlint.cache.Cache``), by
    absolute path: one entry per project, each summary carrying the digest of its file's bytes
    (``build_project`` uses only those that still match)."""
    if cache is None or not getattr(cache, "enabled", False):
        return {}
    found = cache.get(cache.key(root, _SUMMARIES, ""), _SUMMARIES)
    if not isinstance(found, dict):
        return {}
    return {path: summary for path, summary in found.items() if isinstance(summary, FileSummary)}


def store_summaries(  # type: ignore[no-untyped-def]
    cache, root: Path, old: dict[str, FileSummary], fresh: dict[str, FileSummary], files: Sequence[Path]
) -> None:
    """Keep ``fresh`` summaries beside the ``old`` ones still in the project (``files``)."""
    if cache is None or not getattr(cache, "enabled", False):
        return
    present = {os.path.abspath(p) for p in files} | set(fresh)
    kept = {path: summary for path, summary in old.items() if path in present}
    kept.update(fresh)
    cache.put(cache.key(root, _SUMMARIES, ""), _SUMMARIES, kept)


def file_root(path: Path) -> Path:
    """The project root one file is checked in (flake8, the language server): the marked root
    above it, else its own folder raised out of any package (as ``prepare`` does for one file)."""
    root = find_root(path)
    return root if any((root / marker).exists() for marker in ROOT_MARKERS) else _unmarked_root([path])


def installed_files(root: Path, members: Sequence[Path], seen: "dict[str, str] | None" = None) -> list[Path]:
    """The files of the installed packages (``root`` is a site-packages folder) that hold
    ``members``: each package is a project of its own, the rest of site-packages is not in it."""
    found: list[Path] = []
    real_root = real_path(root, seen)
    for top in sorted({real_path(m, seen).relative_to(real_root).parts[0] for m in members}):
        found.extend(project_files(root / top) if (root / top).is_dir() else [root / top])
    return found


def root_files(root: Path, path: Path) -> list[Path]:
    """The files of the project at ``root`` for a file checked alone: the whole tree, or only the
    script's own folder when it is a loose script (or, installed, its own package)."""
    if root.name in INSTALL_DIRS:
        return installed_files(root, [path])
    if root == real_path(path).parent and not any((root / marker).exists() for marker in ROOT_MARKERS):
        return sorted(p for p in root.glob("*.py") if p.is_file())
    return project_files(root)


def _unmarked_root(members: Sequence[Path], seen: "dict[str, str] | None" = None) -> Path:
    """The root of checked files with no project marker above them (a downloaded archive, a
    folder of scripts): their common folder, raised out of any package so that absolute imports
    (``from pkg.utils import f``) resolve."""
    common = Path(os.path.commonpath([str(real_path(m, seen).parent) for m in members]))
    while (common / "__init__.py").exists() and common.parent != common:
        common = common.parent
    return common


class WarmProjects:
    """Projects kept for the life of a process (the language server's lint workers): the document
    being edited is summarized from its unsaved text on every lint; the other files are looked at
    again at most every ``refresh_seconds`` (summaries of unchanged files are reused)."""

    def __init__(self, refresh_seconds: float = 10.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._projects: dict[str, tuple[Project, float]] = {}

    def view(self, path: Path, text: str) -> ProjectView | None:
        import time

        from memlint.analysis.file import FileAnalysis

        root = file_root(path)
        key = str(root)
        found = self._projects.get(key)
        now = time.monotonic()
        if found is None or now - found[1] > self.refresh_seconds:
            files = root_files(root, path)
            old = found[0].summaries if found is not None else {}
            project, _ = build_project(root, files, dict(old))
            found = self._projects[key] = (project, now)
        project = found[0]
        absolute = os.path.abspath(path)
        name = module_name(root, Path(absolute))
        try:
            tree = parse_python(text, absolute)
        except (ParseFailure, RecursionError):
            return ProjectView(project)
        digest = digest_bytes(text.encode("utf-8", "surrogatepass"))
        current = project.summaries.get(absolute)
        if current is None or current.digest != digest:
            modules = project.modules | {name}
            summary = summarize(FileAnalysis(tree, absolute, text, name, project_modules=modules), digest, modules)
            project.add(summary)
            project.remember_text(absolute, text)
        return ProjectView(project)
