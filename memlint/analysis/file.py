"""One file as the rules see it: imports, definitions, grad guards, loops, and value flows.

Built once per file; everything beyond the import table is computed on first use and memoized,
so a rule pays only for what it asks. Cross-file questions (what a helper in another module
returns, whether every caller in the project guards a function) go to ``self.project``.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Iterator, Sequence

from memlint.analysis import facts
from memlint.analysis.syntax import (
    FunctionNode,
    last_name,

    ScopeNode,
    SourceLines,
    ancestors,
    dotted,
    is_constant,
    iter_scope,
    link_parents,
    parent,
    unlink,
)

if TYPE_CHECKING:
    from memlint.analysis.flow import Flow
    from memlint.analysis.project import ProjectView

Scope = "ast.FunctionDef | ast.AsyncFunctionDef | ast.Module"


def import_bindings(node: ast.Import | ast.ImportFrom, package: str | None = None) -> Iterator[tuple[str, str]]:
    """(local name, qualified name) for each name an import binds.

    Relative imports resolve against ``package`` (the importing module's package) when it is known.
    """
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                yield alias.asname, alias.name
            else:
                top = alias.name.split(".")[0]  # `import torch.nn` binds `torch`
                yield top, top
        return
    module = node.module or ""
    if node.level:
        if package is None:
            return
        parts = package.split(".") if package else []
        if node.level - 1 > len(parts):
            return
        base = parts[: len(parts) - (node.level - 1)]
        module = ".".join([*base, module] if module else base)
    if not module:
        return
    for alias in node.names:
        if alias.name == "*":
            continue
        yield alias.asname or alias.name, f"{module}.{alias.name}"


class FileAnalysis:
    """What one file looks like to the rules; one instance per file per run."""

    def __init__(
        self,
        tree: ast.Module,
        path: str,
        text: str,
        module_name: str | None = None,
        project: "ProjectView | None" = None,
        project_modules: frozenset[str] | None = None,
    ) -> None:
        self.tree = tree
        self.path = path
        self.text = text
        self.lines = SourceLines(text)
        self.module_name = module_name or re.sub(r"\W", "_", path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0])
        self.is_package_init = path.replace("\\", "/").endswith("/__init__.py")
        self.package = self.module_name if self.is_package_init else self.module_name.rpartition(".")[0]
        self.project = project
        self.nodes = link_parents(tree)
        self.imports: dict[str, str] = {}
        self._collect_imports()
        if project_modules is None and project is not None:
            project_modules = project.project.modules
        if project_modules and self.package:
            self._imports_from_own_folder(project_modules)
        self._flows: dict[int, "Flow"] = {}
        self._returns: dict[int, tuple] = {}  # id(definition) -> (value, depth it was computed at)

    def release(self) -> None:
        """Drop the tree's parent links and everything memoized: the file's objects hold no
        reference cycle any more and are freed at once. The analysis is unusable afterwards."""
        unlink(self.tree)
        self.__dict__.clear()

    # ------------------------------------------------------------------ imports
    def _collect_imports(self) -> None:
        """Module-level imports first (also inside top-level if/try), then those in functions."""
        local: list[ast.Import | ast.ImportFrom] = []
        for node in self.nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if any(isinstance(a, ScopeNode) for a in ancestors(node)):
                    local.append(node)
                else:
                    self.imports.update(import_bindings(node, self.package))
        for node in local:
            for name, qualified in import_bindings(node, self.package):
                self.imports.setdefault(name, qualified)

    def _imports_from_own_folder(self, modules: frozenset[str]) -> None:
        """``from util import load`` in ``pkg/train.py``, where the project has no top-level ``util``
        but ``pkg/util.py``: the script runs from its own folder (Python puts it first on
        ``sys.path``), so the name is ``pkg.util.load``. A standard library name stays one
        (``import types`` beside a ``types.py`` of the package)."""
        for name, qualified in self.imports.items():
            head = qualified.split(".", 1)[0]
            if head not in modules and head not in sys.stdlib_module_names and f"{self.package}.{head}" in modules:
                self.imports[name] = f"{self.package}.{qualified}"

    @cached_property
    def libraries(self) -> frozenset[str]:
        own = frozenset(q.split(".")[0] for q in self.imports.values())
        if self.project is not None:
            return own | self.project.caller_libraries(self.path)
        return own

    def imports_any(self, roots: Sequence[str] | frozenset[str]) -> bool:
        return bool(self.libraries & frozenset(roots))

    def qualname(self, expr: ast.AST | None) -> str | None:
        """``T.nn.functional.relu`` -> ``torch.nn.functional.relu`` through the import table."""
        name = dotted(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        resolved = self.imports.get(head)
        if resolved is None:
            return None
        return f"{resolved}.{rest}" if rest else resolved

    def qualify(self, name: str) -> str | None:
        """``qualname`` of a dotted name given as text (``"utils.evaluate"``)."""
        head, _, rest = name.partition(".")
        resolved = self.imports.get(head)
        if resolved is None:
            return None
        return f"{resolved}.{rest}" if rest else resolved

    def call_qualname(self, node: ast.AST) -> str | None:
        return self.qualname(node.func) if isinstance(node, ast.Call) else None

    def keras_qualname(self, expr: ast.AST | None) -> str | None:
        return facts.keras_name(self.qualname(expr))

    def module_alias(self, module: str) -> str | None:
        """The local name bound to ``module`` itself (``T`` after ``import torch as T``)."""
        for local, qualified in self.imports.items():
            if qualified == module:
                return local
        return None

    def module_ref(self, module: str) -> tuple[str, tuple[str, ...]]:
        """How fix code should spell ``module``, and the imports the fix must add."""
        alias = self.module_alias(module)
        if alias is not None:
            return alias, ()
        return module, (module,)

    # ------------------------------------------------------------------ definitions
    @cached_property
    def functions(self) -> dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]:
        """Module-level functions and methods of module-level classes, by name."""
        table: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, FunctionNode):
                table.setdefault(stmt.name, []).append(stmt)
            elif isinstance(stmt, ast.ClassDef):
                for inner in stmt.body:
                    if isinstance(inner, FunctionNode):
                        table.setdefault(inner.name, []).append(inner)
        return table

    @cached_property
    def module_functions(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for stmt in self.tree.body:
            if isinstance(stmt, FunctionNode):
                found.setdefault(stmt.name, stmt)
        return found

    @cached_property
    def classes(self) -> dict[str, ast.ClassDef]:
        found: dict[str, ast.ClassDef] = {stmt.name: stmt for stmt in reversed(self.tree.body) if isinstance(stmt, ast.ClassDef)}
        for node in link_parents(self.tree):  # the node list is already there: no second walk
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, node)  # a module-level class wins over a nested one
        return found

    @staticmethod
    def methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for stmt in cls.body:
            if isinstance(stmt, FunctionNode):
                found.setdefault(stmt.name, stmt)
        return found

    def qualified_name(self, node: ast.AST) -> str:
        """``module.Class.method`` for a definition in this file."""
        parts = [node.name] if isinstance(node, (*FunctionNode, ast.ClassDef)) else []  # type: ignore[attr-defined]
        for outer in ancestors(node):
            if isinstance(outer, (*FunctionNode, ast.ClassDef)):
                parts.append(outer.name)
        return ".".join([self.module_name, *reversed(parts)])

    def class_bases(self, cls: ast.ClassDef) -> list[str]:
        """Base classes, qualified where the import table knows them."""
        names = []
        for base in cls.bases:
            names.append(self.qualname(base) or dotted(base) or "")
        return names

    def subclasses(self, cls: ast.ClassDef, roots: Sequence[str], depth: int = 0) -> bool:
        """Does ``cls`` derive from a class whose qualified name starts with one of ``roots``?

        Follows bases defined in this file, then the project's other files."""
        if depth > 8:
            return False
        for base in cls.bases:
            name = self.qualname(base)
            if name is not None:
                if any(name == r or name.startswith(r + ".") for r in roots):
                    return True
                if self.project is not None and self.project.class_subclasses(name, roots, depth + 1):
                    return True
                continue
            local = dotted(base)
            if local in self.classes and self.classes[local] is not cls:
                if self.subclasses(self.classes[local], roots, depth + 1):
                    return True
        return False

    def is_torch_module_class(self, cls: ast.ClassDef) -> bool:
        return self.subclasses(cls, ("torch.nn", "lightning", "pytorch_lightning"))

    # ------------------------------------------------------------------ structure
    @staticmethod
    def enclosing_function(node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for outer in ancestors(node):
            if isinstance(outer, FunctionNode):
                return outer
        return None

    @staticmethod
    def enclosing_class(node: ast.AST) -> ast.ClassDef | None:
        for outer in ancestors(node):
            if isinstance(outer, ast.ClassDef):
                return outer
        return None

    @staticmethod
    def enclosing_scope(node: ast.AST) -> ast.AST | None:
        """The function, lambda or class whose body holds ``node``; None at module level."""
        for outer in ancestors(node):
            if isinstance(outer, ScopeNode):
                return outer
        return None

    @staticmethod
    def enclosing_loops(node: ast.AST) -> list[ast.For | ast.AsyncFor | ast.While]:
        """Loops that repeat ``node`` within its scope, innermost first.

        A node in a ``for`` loop's ``iter`` or ``else`` runs once per loop, not per iteration; a
        ``while`` test runs every iteration.
        """
        loops: list = []
        child = node
        for outer in ancestors(node):
            if isinstance(outer, (ast.For, ast.AsyncFor)) and child in outer.body:
                loops.append(outer)
            elif isinstance(outer, ast.While) and (child in outer.body or child is outer.test):
                loops.append(outer)
            elif isinstance(outer, ScopeNode):
                break
            child = outer
        return loops

    @staticmethod
    def repeating_loop(node: ast.AST) -> ast.AST | None:
        """The innermost loop (or comprehension) whose every iteration runs ``node``."""
        child = node
        for outer in ancestors(node):
            if isinstance(outer, (ast.For, ast.AsyncFor)) and child in outer.body:
                return outer
            if isinstance(outer, ast.While) and (child in outer.body or child is outer.test):
                return outer
            if isinstance(outer, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) and child is outer.elt:
                return outer
            if isinstance(outer, ast.DictComp) and (child is outer.key or child is outer.value):
                return outer
            if isinstance(outer, ScopeNode):
                return None
            child = outer
        return None

    @staticmethod
    def repeating_loops(node: ast.AST) -> list[ast.AST]:
        """Every loop and comprehension of ``node``'s scope that repeats it, innermost first."""
        found: list[ast.AST] = []
        loop = FileAnalysis.repeating_loop(node)
        while loop is not None:
            found.append(loop)
            loop = FileAnalysis.repeating_loop(loop)
        return found

    @staticmethod
    def statement_of(node: ast.AST) -> ast.stmt | None:
        current: ast.AST | None = node
        while current is not None and not isinstance(current, ast.stmt):
            current = parent(current)
        return current  # type: ignore[return-value]

    @staticmethod
    def block_of(stmt: ast.stmt) -> tuple[list[ast.stmt], int] | None:
        """The statement list holding ``stmt`` and its index there."""
        holder = parent(stmt)
        if holder is None:
            return None
        for field in ("body", "orelse", "finalbody"):
            block = getattr(holder, field, None)
            if isinstance(block, list):
                for index, item in enumerate(block):
                    if item is stmt:
                        return block, index
        return None

    # ------------------------------------------------------------------ grad guards
    def grad_guard_kind(self, expr: ast.AST) -> str | None:
        """Classify an expression used in ``with`` or as a decorator.

        ``"off"``: no_grad / inference_mode / set_grad_enabled(False) / a guard wrapper;
        ``"phase"``: ``set_grad_enabled(<expr>)`` (the train/eval idiom); ``"on"``: enable_grad or
        set_grad_enabled(True); None otherwise.
        """
        args: list[ast.expr] | None = None
        target = expr
        if isinstance(expr, ast.Call):
            args = expr.args
            target = expr.func
        name = self.qualname(target)
        if name is None:
            local = dotted(target)
            if local is not None and local in self.guard_wrappers:
                return "off"
            if local is not None and self.project is not None and self.project.is_guard_wrapper(self, local):
                return "off"
            if local is not None and facts.GUARD_LIKE_NAME.search(local.split(".")[-1]):
                return "off"
            return None
        if name in facts.GUARD_OFF:
            if name.endswith("inference_mode") and args and is_constant(args[0], False):
                return None
            return "off"
        if name in facts.GUARD_ON:
            return "on"
        if name in facts.GUARD_SET:
            if not args:
                return None
            if is_constant(args[0], True):
                return "on"
            if is_constant(args[0], False):
                return "off"
            return "phase"
        if self.project is not None and self.project.is_guard_wrapper(self, dotted(target) or ""):
            return "off"
        if facts.GUARD_LIKE_NAME.search(name.split(".")[-1]) and not name.startswith("torch."):
            return "off"
        return None

    @cached_property
    def guard_wrappers(self) -> frozenset[str]:
        """Functions defined in this file that only hand back a grad guard.

        YOLO's ``smart_inference_mode()`` returns ``torch.inference_mode`` or ``torch.no_grad``: a
        decorator or ``with`` of it is a guard too.
        """
        top = {id(stmt): stmt for stmt in self.tree.body if isinstance(stmt, FunctionNode)}
        if not top:
            return frozenset()
        returns: dict[int, list[ast.Return]] = {}
        for node in link_parents(self.tree):  # one pass over the nodes, not one walk per function
            if isinstance(node, ast.Return):
                scope = next((a for a in ancestors(node) if isinstance(a, (*FunctionNode, ast.Lambda, ast.ClassDef))), None)
                if scope is not None and id(scope) in top:
                    returns.setdefault(id(scope), []).append(node)
        wrappers: set[str] = set()
        for key, found in returns.items():
            if all(r.value is not None and self._returns_guard(r.value) for r in found):
                wrappers.add(top[key].name)
        return frozenset(wrappers)

    def _returns_guard(self, value: ast.AST) -> bool:
        if isinstance(value, ast.IfExp):
            return self._returns_guard(value.body) and self._returns_guard(value.orelse)
        if isinstance(value, ast.Call):
            if isinstance(value.func, (ast.Call, ast.IfExp)):
                return self._returns_guard(value.func)
            return self.qualname(value.func) in facts.GUARD_OFF
        return self.qualname(value) in facts.GUARD_OFF

    def decorator_guard(self, func: ast.AST) -> str | None:
        for decorator in getattr(func, "decorator_list", ()):
            kind = self.grad_guard_kind(decorator)
            if kind in ("off", "phase"):
                return kind
        return None

    @cached_property
    def spells_a_guard(self) -> bool:
        """Does the text spell any grad guard (``no_grad``, ``inference_mode``, ``set_grad_enabled``,
        ``enable_grad``, or a name ``GUARD_LIKE_NAME`` matches)? Every guard ``guard_at`` can find in
        this file alone is spelled in it."""
        if not self.text.isascii():
            return True
        lowered = self.text.lower()
        return any(word in lowered for word in ("no_grad", "inference_mode", "set_grad_enabled", "enable_grad"))

    def guard_at(self, node: ast.AST, stop: ast.AST | None = None) -> str | None:
        """Grad mode at ``node`` from what encloses it in this file: ``with`` statements, decorators
        of enclosing functions, and ``set_grad_enabled(False)`` / ``ExitStack.enter_context(guard)``
        statements earlier in an enclosing block. "off", "phase" or None. ``enable_grad`` inside a
        guard turns it back on. The search stops above ``stop`` when given.
        """
        if self.project is None and not self.spells_a_guard:
            return None  # nothing here can turn grad off (guard wrappers of other files need a project)
        found: str | None = None
        child = node
        for outer in ancestors(node):
            kind: str | None = None
            if isinstance(outer, (ast.With, ast.AsyncWith)) and isinstance(child, ast.stmt):
                for item in outer.items:
                    kind = self.grad_guard_kind(item.context_expr) or kind
            elif isinstance(outer, FunctionNode) and isinstance(child, ast.stmt):
                kind = self.decorator_guard(outer)
            if kind is None and isinstance(child, ast.stmt):
                kind = self._block_prefix_guard(child)
            if kind == "on":
                return found
            if kind == "off":
                return "off"
            if kind == "phase":
                found = "phase"
            if outer is stop:
                break
            child = outer
        return found

    def _block_prefix_guard(self, stmt: ast.stmt) -> str | None:
        located = self.block_of(stmt)
        if located is None:
            return None
        block, index = located
        kind: str | None = None
        for at, found in self._block_guards(block):
            if at >= index:
                break
            kind = found if found != "keep" else kind
        return kind if kind != "on" else None

    def _block_guards(self, block: list[ast.stmt]) -> list[tuple[int, str | None]]:
        """Statements of a block that change grad mode for the rest of it, computed once per block:
        ``set_grad_enabled(...)`` and ``stack.enter_context(guard)``."""
        cache = self.__dict__.setdefault("_block_guard_cache", {})
        key = id(block)
        if key in cache:
            return cache[key]
        found: list[tuple[int, str | None]] = []
        for index, earlier in enumerate(block):
            if not isinstance(earlier, ast.Expr) or not isinstance(earlier.value, ast.Call):
                continue
            call = earlier.value
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "enter_context" and call.args:
                kind = self.grad_guard_kind(call.args[0])
                found.append((index, kind if kind is not None else "keep"))
            elif call.args and last_name(func) == "set_grad_enabled" and self.qualname(func) in facts.GUARD_SET:
                found.append((index, None if is_constant(call.args[0], True) else self.grad_guard_kind(call)))
        cache[key] = found
        self.__dict__.setdefault("_block_keepalive", []).append(block)
        return found

    # ------------------------------------------------------------------ callers
    @cached_property
    def calls_by_name(self) -> dict[str, list[ast.Call]]:
        """Calls in this file by the name they call: ``f(...)``, ``self.f(...)``, ``cls.f(...)``."""
        found: dict[str, list[ast.Call]] = {}
        for node in self.nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                found.setdefault(func.id, []).append(node)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
                found.setdefault(func.attr, []).append(node)
        return found

    def call_sites(self, name: str) -> list[tuple[str | None, ast.AST | None, ast.Call]]:
        """Calls of ``name`` in this file: (guard at the call, enclosing function, the call)."""
        cache = self.__dict__.setdefault("_call_sites", {})
        if name not in cache:
            cache[name] = [
                (self.guard_at(call), self.enclosing_function(call), call) for call in self.calls_by_name.get(name, ())
            ]
        return cache[name]

    def guarded_by_callers(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Every known call of ``func`` runs with grad off (in this file, and across the project when
        there is one); a function nobody calls is not guarded."""
        if self.project is not None:
            verdict = self.project.callers_guard(self, func)
            if verdict is not None:
                return verdict
        return self.called_only_under_guard(func.name)

    def called_only_under_guard(self, function_name: str) -> bool:
        """Every call of ``function_name`` in this file runs with grad off: under a guard, or inside
        a function itself called only under guards (to a fixed point; cycles are not guarded)."""
        memo: dict[str, bool] = {}

        def covered(name: str, visiting: frozenset[str]) -> bool:
            if name in memo:
                return memo[name]
            sites = self.call_sites(name)
            if not sites or name in visiting:
                return False
            result = all(
                guard is not None
                or (caller is not None and covered(caller.name, visiting | {name}))  # type: ignore[attr-defined]
                for guard, caller, _ in sites
            )
            memo[name] = result
            return result

        return covered(function_name, frozenset())

    # ------------------------------------------------------------------ library hooks
    def library_guarded_hook(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """A method the library calls itself under a grad guard (Lightning's validation_step ...)."""
        cls = self.enclosing_class(func)
        for roots, pattern, _source in facts.GUARDED_LIBRARY_HOOKS:
            if not pattern.match(func.name):
                continue
            if cls is not None and self.subclasses(cls, roots):
                return True
            if cls is not None and any("Lightning" in b for b in self.class_bases(cls)) and "lightning" in roots[0]:
                return True
            if self.imports_any(tuple(r.split(".")[0] for r in roots)):
                return True
        return False

    # ------------------------------------------------------------------ per-item callbacks
    def runs_per_item(self, scope: ast.AST | None) -> bool:
        """``scope`` (a function or a lambda) only ever runs on one element or one batch of a data
        set: every use of it hands it to a pipeline as its callback (``ds.map(f)``,
        ``ds.with_transform(f)``, ``DataLoader(collate_fn=f)``, ``map(f, xs)``, directly, through
        ``functools.partial`` or a lambda), or calls it from a function that itself runs per item
        (a class's ``__getitem__`` does).
        A function used nowhere, in any other way, or called from another file of the project,
        does not."""
        cache = self.__dict__.setdefault("_runs_per_item", {})

        def per_item(node: ast.AST, visiting: frozenset[int]) -> bool:
            if isinstance(node, ast.Lambda):
                return self._callback_position(node)
            if not isinstance(node, FunctionNode) or id(node) in visiting:
                return False
            if node.name == "__getitem__" and isinstance(parent(node), ast.ClassDef):
                return True  # a data set (or keras.utils.Sequence) hands out one item or batch per call
            if id(node) in cache:
                return cache[id(node)]
            uses = self._references(node)
            result = bool(uses) and not (self.project is not None and self.project.callers(self, node))
            for use in uses if result else ():
                call = parent(use)
                if isinstance(call, ast.Call) and call.func is use:  # called: per item if its caller is
                    result = per_item(self.enclosing_scope(call), visiting | {id(node)})  # type: ignore[arg-type]
                else:
                    result = self._callback_position(use)
                if not result:
                    break
            cache[id(node)] = result
            return result

        return scope is not None and per_item(scope, frozenset())

    def _references(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
        """Every load of ``func``'s name in this file (``f``, and ``self.f`` for a method)."""
        if isinstance(parent(func), ast.ClassDef):
            return [n for n in self.loads_by_name.get(func.name, ()) if isinstance(n, ast.Attribute) and dotted(n.value) in ("self", "cls")]
        return [n for n in self.loads_by_name.get(func.name, ()) if isinstance(n, ast.Name)]

    @cached_property
    def loads_by_name(self) -> dict[str, list[ast.AST]]:
        """Loads of each name in this file: ``f`` (a ``Name``) and ``x.f`` (an ``Attribute``)."""
        found: dict[str, list[ast.AST]] = {}
        for node in self.nodes:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                found.setdefault(node.id, []).append(node)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                found.setdefault(node.attr, []).append(node)
        return found

    def _callback_position(self, expr: ast.AST) -> bool:
        """``expr`` is handed to a data pipeline that calls it per element or per batch."""
        holder = parent(expr)
        if isinstance(holder, ast.keyword):
            call = parent(holder)
            per_item_method = isinstance(call, ast.Call) and last_name(call.func) in facts.PER_ITEM_METHODS
            return holder.arg in facts.PER_ITEM_KEYWORDS or (holder.arg == "function" and per_item_method)
        if not (isinstance(holder, ast.Call) and holder.args and holder.args[0] is expr):
            return False
        func = holder.func
        if self.qualname(func) == "functools.partial":
            return self._callback_position(holder)
        if isinstance(func, ast.Name):
            return func.id in facts.PER_ITEM_BUILTINS and self.qualname(func) is None
        return isinstance(func, ast.Attribute) and func.attr in facts.PER_ITEM_METHODS and self.qualname(func) is None

    # ------------------------------------------------------------------ files as evidence
    @cached_property
    def is_test_file(self) -> bool:
        """A pytest file, decided from its content (its name is only a hint): it imports pytest or
        defines ``test_*`` functions that assert, and it runs no training loop of its own."""
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        by_name = bool(re.match(r"(?:test_.*|.*_test|conftest)\.py$", name))
        has_pytest = "pytest" in self.libraries or "unittest" in self.libraries
        test_functions = [
            f for f in self.tree.body if isinstance(f, FunctionNode) and f.name.startswith("test")
        ] + [
            m
            for c in self.tree.body
            if isinstance(c, ast.ClassDef) and c.name.startswith("Test")
            for m in c.body
            if isinstance(m, FunctionNode) and m.name.startswith("test")
        ]
        asserting = any(any(isinstance(n, ast.Assert) for n in ast.walk(f)) for f in test_functions)
        if name == "conftest.py":
            return True
        if has_pytest and (test_functions or by_name):
            return True
        if test_functions and asserting:
            return True
        return False

    def in_test(self, node: ast.AST) -> bool:
        """``node`` is in a test function (``test*``) or in a test file."""
        func = self.enclosing_function(node)
        return (func is not None and func.name.startswith("test")) or self.is_test_file

    # ------------------------------------------------------------------ value flows
    def flow(self, scope: ast.AST, depth: int = 0) -> "Flow":
        """The value analysis of one function body (or the module body), computed once."""
        key = id(scope)
        found = self._flows.get(key)
        if found is None or found.depth > depth:
            from memlint.analysis.flow import Flow

            found = Flow(self, scope, depth)
            self._flows[key] = found
        return found

    def flow_of(self, node: ast.AST) -> "Flow":
        """The flow of the scope that holds ``node``."""
        scope = self.enclosing_function(node) or self.tree
        return self.flow(scope)

    @cached_property
    def lightning(self) -> bool:
        return self.imports_any(("lightning", "pytorch_lightning"))

    # ------------------------------------------------------------------ values across scopes
    def resolve_call(self, call: ast.Call) -> list[tuple["FileAnalysis", ast.FunctionDef | ast.AsyncFunctionDef]]:
        """The definitions a call may run: a function of this file, a method of the enclosing class
        (``self.f``), or a function of another project file reached through an import."""
        cache = self.__dict__.setdefault("_resolved_calls", {})
        key = id(call)
        if key in cache:
            return cache[key]
        found: list[tuple[FileAnalysis, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.module_functions:
                found = [(self, self.module_functions[func.id])]
            elif func.id in self.imports and self.project is not None:
                found = self.project.resolve_function(self, func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            cls = self.enclosing_class(call)
            method = self.find_method(cls, func.attr) if cls is not None else None
            if method is not None:
                found = [method]
            else:
                found = [(self, d) for d in self.functions.get(func.attr, ()) if self.enclosing_class(d) is not None]
        elif isinstance(func, ast.Attribute) and self.project is not None:
            name = dotted(func)
            if name is not None and name.split(".")[0] in self.imports:
                found = self.project.resolve_function(self, name)
        cache[key] = found
        return found

    def find_method(self, cls: ast.ClassDef, name: str, depth: int = 0) -> tuple["FileAnalysis", ast.FunctionDef | ast.AsyncFunctionDef] | None:
        """``name`` defined on ``cls`` or one of its bases (in this file or the project)."""
        own = self.methods(cls).get(name)
        if own is not None:
            return self, own
        if depth > 6:
            return None
        for base in cls.bases:
            local = dotted(base)
            if local in self.classes and self.classes[local] is not cls:
                found = self.find_method(self.classes[local], name, depth + 1)
                if found is not None:
                    return found
            elif local is not None and self.project is not None:
                located = self.project.resolve_class(self, local)
                if located is not None:
                    owner, base_cls = located
                    found = owner.find_method(base_cls, name, depth + 1)
                    if found is not None:
                        return found
        return None

    def method_of(self, value, name: str):  # -> tuple[FileAnalysis, def] | None
        """The method ``name`` of a value that is an instance (or model) of a class of this file or
        the project."""
        if not value.origin or value.kind not in ("instance", "model", "dataset"):
            return None
        short = value.origin.rsplit(".", 1)[-1]
        located = None
        if value.origin == f"{self.module_name}.{short}" and short in self.classes:
            located = (self, self.classes[short])
        elif self.project is not None:
            located = self.project.resolve_class(self, value.origin)
        if located is None:
            return None
        owner, cls = located
        return owner.find_method(cls, name)

    def return_value(self, definition: ast.AST, depth: int = 0):  # -> Value
        """What calling ``definition`` hands back (its flow's returns), computed once."""
        from memlint.analysis.values import UNK

        key = id(definition)
        cached = self._returns.get(key)
        # An unknown found deeper (helpers past MAX_DEPTH are unknown) is asked again nearer the
        # top: the answer must not depend on which rule asked first.
        if cached is not None and (cached[1] <= depth or cached[0].known):  # type: ignore[index]
            return cached[0]  # type: ignore[index]
        self._returns[key] = (UNK, depth)  # a recursive call sees "unknown"
        if any(dotted(d) in ("property", "functools.cached_property", "cached_property") for d in getattr(definition, "decorator_list", ())):
            value = UNK
        else:
            value = self.flow(definition, depth).return_value()
        self._returns[key] = (value, depth)
        return value

    def global_value(self, name: str):  # -> Value
        """What module-level code binds ``name`` to, when it is a model, a loss, a loader, a data set,
        an array or a definition (not a running value such as a loss tensor)."""
        from memlint.analysis.values import UNK

        found = self.class_value(name)
        if found.known:
            return found
        if name not in self.module_assigned or self.__dict__.get("_module_flow_running"):
            return UNK
        self.__dict__["_module_flow_running"] = True
        try:
            value = self.flow(self.tree).env.get(name, UNK)
        finally:
            self.__dict__["_module_flow_running"] = False
        return value if value.kind in _DEFINITION_KINDS else UNK

    def class_value(self, name: str):  # -> Value
        """A class this file defines, or imports from the project, as a value (unknown otherwise)."""
        from memlint.analysis.values import UNK, class_ref

        if name in self.classes:
            return class_ref(self.qualified_name(self.classes[name]))
        if name in self.imports and self.project is not None and name not in self.module_assigned:
            located = self.project.resolve_class(self, name)
            if located is not None:
                owner, cls = located
                return class_ref(owner.qualified_name(cls))
        return UNK

    @cached_property
    def module_assigned(self) -> frozenset[str]:
        """Names that module-level statements assign (not only import or define)."""
        found: set[str] = set()
        for node in self.nodes:
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and not isinstance(
                self.enclosing_scope(node), ScopeNode
            ):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Name):
                            found.add(sub.id)
        return frozenset(found)

    def attribute_value(self, cls: ast.ClassDef, attr: str):  # -> Value
        """What ``self.<attr>`` holds: the value ``__init__`` (or ``setup``/``build``) bound it to."""
        from memlint.analysis.values import UNK, join

        cache = self.__dict__.setdefault("_attributes", {})
        key = (id(cls), attr)
        if key in cache:
            return cache[key]
        cache[key] = UNK
        found = []
        for method_name in ("__init__", "setup", "build", "_build", "build_model"):
            method = self.methods(cls).get(method_name)
            if method is None:
                continue
            flow = self.flow(method, 1)
            for node in iter_scope(method):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Attribute) and target.attr == attr and dotted(target.value) == "self":
                            found.append(flow.value_of(node.value))
        value = join(found) if found else UNK
        if value.kind not in _DEFINITION_KINDS:
            value = UNK
        cache[key] = value
        return value

    def instance_of(self, class_qualname: str):  # -> Value
        """The value of ``C(...)`` for a class of this file or the project."""
        from memlint.analysis.values import DATASET, INSTANCE, UNK, Value, model

        short = class_qualname.rsplit(".", 1)[-1]
        cls = self.classes.get(short) if class_qualname.startswith(self.module_name + ".") else None
        owner: FileAnalysis = self
        if cls is None and self.project is not None:
            located = self.project.resolve_class(self, class_qualname)
            if located is not None:
                owner, cls = located
        if cls is None:
            return UNK
        if owner.is_torch_module_class(cls):
            return model("torch", class_qualname)
        if owner.keras_class_kind(cls) == "model":
            return model("keras", class_qualname)
        if owner.subclasses(cls, ("torch.utils.data",)):
            return Value(DATASET, origin=class_qualname)
        return Value(INSTANCE, origin=class_qualname)


    # ------------------------------------------------------------------ classes, parameters, callers
    def locate_class(self, class_qualname: str) -> "tuple[FileAnalysis, ast.ClassDef] | None":
        """The class a qualified name (a value's ``origin``) names, in this file or the project."""
        short = class_qualname.rsplit(".", 1)[-1]
        if class_qualname.startswith(self.module_name + ".") and short in self.classes:
            return self, self.classes[short]
        if self.project is not None:
            return self.project.resolve_class(self, class_qualname)
        return None

    def keras_class_kind(self, cls: ast.ClassDef, depth: int = 0) -> str | None:
        """"model", "callback" or "layer" for a subclass (at any depth, in this file or the project)
        of a Keras model, callback or layer; None otherwise."""
        if depth > 8:
            return None
        for base in cls.bases:
            name = facts.keras_name(self.qualname(base))
            if name is not None:
                if name in facts.KERAS_MODEL_BASES:
                    return "model"
                if name in facts.KERAS_CALLBACK_BASES:
                    return "callback"
                if name.startswith("keras.layers.") or name == "keras.Layer":
                    return "layer"
            local = dotted(base)
            located = None
            if local in self.classes and self.classes[local] is not cls:
                located = (self, self.classes[local])
            elif local is not None and self.project is not None:
                located = self.project.resolve_class(self, local)
            if located is not None:
                kind = located[0].keras_class_kind(located[1], depth + 1)
                if kind is not None:
                    return kind
        return None

    def class_attribute(self, class_qualname: str, attr: str):  # -> Value
        """What ``obj.<attr>`` holds for an object of a class named by a value's ``origin``."""
        from memlint.analysis.values import UNK

        located = self.locate_class(class_qualname)
        if located is None:
            return UNK
        owner, cls = located
        value = owner.attribute_value(cls, attr)
        return value if value.known else owner.assigned_attribute(cls, attr)

    def assigned_attribute(self, cls: ast.ClassDef, attr: str):  # -> Value
        """``self.<attr>`` bound in any method of ``cls`` (``pre_main``, ``load``, ``reset``), when every
        binding gives the same kind of value; unknown otherwise."""
        from memlint.analysis.values import UNK, join

        memo = self.__dict__.setdefault("_assigned_attributes", {})
        if (id(cls), attr) not in memo:
            memo[(id(cls), attr)] = UNK  # a binding that reads the attribute itself sees "unknown"
            values = [
                self.flow(method, 1).value_of(node.value)
                for method in self.methods(cls).values()
                for node in iter_scope(method)
                if isinstance(node, ast.Assign) and any(_is_self_attribute(t, attr) for t in node.targets)
            ]
            value = join(values) if values else UNK
            memo[(id(cls), attr)] = value if value.kind in _DEFINITION_KINDS else UNK
        return memo[(id(cls), attr)]

    def argument_values(self, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> list:  # -> list[Value]
        """The values callers pass for ``param`` of ``func`` (in this file and the project; calls
        through ``self.f``, instances and ``C(...)`` for ``__init__``), one per call where it is given."""
        found = []
        for owner, call in [*self.callers(func), *self.method_callers(func)]:  # type: ignore[attr-defined]
            given = self.argument_given(func, param, call)
            if given is not None:
                found.append(owner.flow_of(call).value_of(given))
        return found

    def argument_given(self, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str, call: ast.Call) -> ast.expr | None:
        """The expression a call of ``func`` passes for ``param`` (by keyword or position), if any."""
        given = next((k.value for k in call.keywords if k.arg == param), None)
        params = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
        if given is None and param in params:
            bound_self = self.enclosing_class(func) is not None and parent(func) is self.enclosing_class(func)
            index = params.index(param) - (1 if bound_self else 0)
            args = call.args
            if 0 <= index < len(args) and not any(isinstance(a, ast.Starred) for a in args[: index + 1]):
                given = args[index]
        return given

    def method_callers(self, func: ast.AST) -> list:  # -> list[tuple[FileAnalysis, ast.Call]]
        """Calls of a method through an object rather than ``self``: ``agent.act(s)`` where ``agent``
        is an instance of the class (or, unknown, the method's name belongs to this class alone in the
        file), ``seg(x)`` for ``__call__``, ``C(...)`` for ``__init__``, and ``self.m()`` written in a
        base class of the project for a method that overrides it."""
        cls = parent(func)
        if not isinstance(cls, ast.ClassDef) or not isinstance(func, FunctionNode):
            return []
        cache = self.__dict__.setdefault("_method_callers", {})
        if id(func) in cache:
            return cache[id(func)]
        cache[id(func)] = []
        qualified = self.qualified_name(cls)
        unique = sum(1 for c in self.classes.values() if func.name in self.methods(c)) == 1
        found: list = []
        for node in self.nodes:
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if func.name in ("__call__", "__init__"):
                if isinstance(callee, (ast.Name, ast.Attribute)) and self.qualname(callee) is None:
                    value = self.flow_of(node).value_of(callee)
                    owner_cls = self.enclosing_class(node)
                    if not value.known and owner_cls is not None and dotted(callee) == f"self.{last_name(callee)}":
                        value = self.attribute_value(owner_cls, last_name(callee) or "")  # `self.speech(x)`
                    wanted = "class" if func.name == "__init__" else None
                    if value.origin == qualified and (value.kind == wanted or (wanted is None and value.kind != "class")):
                        found.append((self, node))
                    elif wanted is None and value.kind in ("instance", "model") and value.origin != qualified:
                        inherited = self.method_of(value, func.name)  # `self.gender(x)`, Gender(DnnSegmenter) inherits __call__
                        if inherited is not None and inherited[1] is func:
                            found.append((self, node))
                continue
            if not isinstance(callee, ast.Attribute) or callee.attr != func.name:
                continue
            if isinstance(callee.value, ast.Name) and callee.value.id in ("self", "cls"):
                continue
            if self.qualname(callee) is not None:
                continue  # `np.load(...)`: a module's function
            value = self.flow_of(node).value_of(callee.value)
            if value.origin == qualified or (not value.known and unique):
                found.append((self, node))
            elif value.origin and (inherited := self.method_of(value, func.name)) is not None and inherited[1] is func:
                found.append((self, node))  # `agent.act(s)` on a subclass that inherits `act`
        if self.project is not None:
            for base in self.class_bases(cls):
                if base and "." in base:
                    found.extend(self.project.calls_of(f"{base}.{func.name}"))
            for importer in self.project.importers(self, calling=func.name):  # `model = GameModel(); model.load(...)` elsewhere
                for node in importer.calls_named(func.name):
                    if importer.flow_of(node).value_of(node.func.value).origin == qualified:  # type: ignore[attr-defined]
                        found.append((importer, node))
        cache[id(func)] = found
        return found

    def calls_named(self, method: str) -> list[ast.Call]:
        """``x.<method>(...)`` calls of this file on any receiver but ``self``/``cls``."""
        index = self.__dict__.get("_attribute_calls")
        if index is None:
            index = {}
            for node in self.nodes:
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    receiver = node.func.value
                    if not (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")):
                        index.setdefault(node.func.attr, []).append(node)
            self.__dict__["_attribute_calls"] = index
        return index.get(method, [])


def _is_self_attribute(target: ast.AST, attr: str) -> bool:
    return isinstance(target, ast.Attribute) and target.attr == attr and dotted(target.value) == "self"


_DEFINITION_KINDS = frozenset({"model", "loss_fn", "optimizer", "loader", "dataset", "array", "function", "class", "instance"})


def _callers(self: FileAnalysis, func: ast.AST, in_training_loop: bool = False) -> list[tuple[FileAnalysis, ast.Call]]:
    """Where ``func`` is called: in this file (``f(...)``, ``self.f(...)``), and in the project
    (``in_training_loop``: there, only calls the summaries place in a loop that trains)."""
    found = [(self, call) for call in self.calls_by_name.get(func.name, ())]  # type: ignore[attr-defined]
    if self.project is not None:
        found.extend(self.project.callers(self, func, in_training_loop))
    return found


def _bound_unconditionally_before(self: FileAnalysis, name: str, node: ast.AST) -> bool:
    """``name`` is bound by a module-level statement that always runs before ``node``'s
    top-level statement (an import in the module body or a top-level ``try``)."""
    top = node
    for outer in ancestors(node):
        if isinstance(outer, ast.Module):
            break
        top = outer
    for stmt in self.tree.body:
        if stmt is top:
            return False
        parts = [stmt]
        if isinstance(stmt, ast.Try):
            parts = [*stmt.body, *[s for handler in stmt.handlers for s in handler.body]]
        for part in parts:
            if isinstance(part, (ast.Import, ast.ImportFrom)) and any(local == name for local, _ in import_bindings(part, self.package)):
                return True
            if isinstance(part, (ast.Assign, ast.AnnAssign)) and name in {
                n.id for t in (part.targets if isinstance(part, ast.Assign) else [part.target]) for n in ast.walk(t) if isinstance(n, ast.Name)
            }:
                return True
    return False


FileAnalysis.callers = _callers  # type: ignore[attr-defined]
FileAnalysis.bound_unconditionally_before = _bound_unconditionally_before  # type: ignore[attr-defined]
