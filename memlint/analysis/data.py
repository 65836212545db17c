"""Data loading as the rules see it: DataLoader calls and their settings, configuration defaults,
and the Python containers a Dataset keeps.

Three questions the loader rules (MEM008, MEM011) ask, answered once here:

- what a DataLoader argument is, wherever it is written (keyword, position, a ``**kwargs`` dict
  built above the call), and which values it can take: a literal, a configured value (``args.x``,
  with the dataclass or argparse default the project gives it), a caller's argument, or unknown
  (``Setting``);
- which DataLoaders read instances of a Dataset class, in this file and across the project, and
  whether any DataLoader of the project starts workers at all;
- whether an attribute that a Dataset's ``__init__`` stores holds per-item Python objects (lists of
  paths, parsed annotation files, dicts filled in a loop, pandas object columns) rather than one
  buffer (arrays, tensors, memory maps), and whether ``__getitem__`` reads it per item.

Spellings MEM003 (``loads.py``) asks about as well: an expression that names a loader
(``looks_like_loader``), a Dataset class by its bases or its ``__getitem__`` (``is_dataset_class``,
``holds_items``), and attributes its ``__getitem__`` indexes (``indexed_per_item``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from memlint.analysis import facts
from memlint.analysis.syntax import FunctionNode, LoopNode, ancestors, dotted, iter_scope, keyword, parent, self_attribute

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

LITERAL, CONFIGURED, PARAMETER, UNKNOWN, ABSENT = "literal", "configured", "parameter", "unknown", "absent"
_RANK = {ABSENT: 0, LITERAL: 0, CONFIGURED: 1, PARAMETER: 2, UNKNOWN: 3}
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Setting:
    """What a setting can be. ``values``: the literal values it can take (a configured value's
    defaults included); ``open``: some configured part has no default memlint can read."""

    kind: str
    values: tuple = ()
    open: bool = False

    @property
    def off(self) -> bool:
        """Known to be falsy (0, False, None, left out) on every path."""
        if self.kind == ABSENT:
            return True
        return self.kind in (LITERAL, CONFIGURED) and not self.open and bool(self.values) and not any(self.values)

    def exceeds(self, bound: float) -> bool:
        return any(type(v) in (int, float) and v > bound for v in self.values)


def join(settings: list[Setting]) -> Setting:
    if not settings:
        return Setting(UNKNOWN)
    kind = max((s.kind for s in settings), key=lambda k: _RANK[k])
    values = tuple(dict.fromkeys(v for s in settings for v in s.values))
    return Setting(kind, values, any(s.open for s in settings))


# ====================================================================================== settings
def setting(file: "FileAnalysis", expr: ast.AST | None, at: ast.AST | None = None, depth: int = 0) -> Setting:
    """The values ``expr`` can take where it is read (``at``: the node it is read for)."""
    if expr is None:
        return Setting(ABSENT)
    if depth > _MAX_DEPTH:
        return Setting(UNKNOWN)
    at = at or expr
    if isinstance(expr, ast.Constant):
        return Setting(LITERAL, (expr.value,))
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.operand, ast.Constant):
        if isinstance(expr.op, ast.USub) and type(expr.operand.value) in (int, float):
            return Setting(LITERAL, (-expr.operand.value,))
        if isinstance(expr.op, ast.Not):
            return Setting(LITERAL, (not expr.operand.value,))
    if isinstance(expr, ast.IfExp):
        return join([setting(file, expr.body, at, depth + 1), setting(file, expr.orelse, at, depth + 1)])
    if isinstance(expr, ast.BoolOp):
        return join([setting(file, v, at, depth + 1) for v in expr.values])
    if isinstance(expr, ast.Name):
        return _name_setting(file, expr.id, at, depth)
    if isinstance(expr, (ast.Attribute, ast.Subscript)):
        return _attribute_setting(file, expr, at, depth)
    if isinstance(expr, (ast.Call, ast.BinOp)):
        parts = [expr.left, expr.right] if isinstance(expr, ast.BinOp) else [*expr.args, *(k.value for k in expr.keywords)]
        found = [setting(file, p, at, depth + 1) for p in parts]
        if any(s.kind == CONFIGURED for s in found):
            return Setting(CONFIGURED, open=True)  # computed from configured values
        return Setting(UNKNOWN)
    return Setting(UNKNOWN)


def _name_setting(file: "FileAnalysis", name: str, at: ast.AST, depth: int) -> Setting:
    scope = file.enclosing_scope(at)
    holder = scope if isinstance(scope, FunctionNode) else file.tree
    bound = [
        value
        for node, value in bindings(holder, name)
        if (node.lineno, node.col_offset) < (at.lineno, at.col_offset)  # type: ignore[attr-defined]
    ]
    if bound:
        return join([setting(file, value, value, depth + 1) if value is not None else Setting(UNKNOWN) for value in bound])
    if isinstance(holder, FunctionNode):
        default = _parameter_default(holder, name)
        if default is not False:
            values = setting(file, default, default, depth + 1).values if default is not None else ()
            return Setting(PARAMETER, values)
        if name in file.module_assigned:
            return _name_setting(file, name, file.tree.body[-1], depth + 1) if file.tree.body else Setting(UNKNOWN)
    return Setting(UNKNOWN)


def literal_values(file: "FileAnalysis", expr: ast.AST | None, at: ast.AST | None = None, depth: int = 0) -> tuple | None:
    """Every value ``expr`` can take where it is read, when the source fixes them all: literals,
    and a parameter's default together with what each caller of its function passes (this file and
    the project, a few calls up). None when some path is not a literal (configuration included: a
    command line can change it), or when a parameter has no default and no caller."""
    found = setting(file, expr, at)
    if found.kind == LITERAL and not found.open:
        return found.values
    if found.kind != PARAMETER or not isinstance(expr, ast.Name) or depth >= _MAX_DEPTH:
        return None
    func = file.enclosing_function(at or expr)
    if func is None:
        return None
    calls = file.callers(func)  # type: ignore[attr-defined]
    default = _parameter_default(func, expr.id)
    values: list = []
    if default is not None:
        given_default = setting(file, default, default, depth + 1)
        if given_default.kind != LITERAL or given_default.open:
            return None
        values.extend(given_default.values)
    elif not calls:
        return None  # no default, and nobody calling
    for owner, call in calls:
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None  # `f(*args)`, `f(**options)`: not known
        given = owner.argument_given(func, expr.id, call)
        if given is None:
            if default is None:
                return None
            continue
        passed = literal_values(owner, given, call, depth + 1)
        if passed is None:
            return None
        values.extend(passed)
    return tuple(dict.fromkeys(values))


def bindings(holder: ast.AST, name: str) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """Assignments of ``name`` in one scope: (statement, value) with value None when it is not a
    plain assignment (a loop target, an augmented assignment, unpacking)."""
    for node in iter_scope(holder):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    yield node, node.value
                elif isinstance(target, (ast.Tuple, ast.List)) and any(
                    isinstance(e, ast.Name) and e.id == name for e in target.elts
                ):
                    yield node, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            if node.value is not None:
                yield node, node.value
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            yield node, None
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and name in _target_ids(node.target):
            yield (node if not isinstance(node, ast.comprehension) else node.iter), None
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            yield node, node.value


def _target_ids(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _parameter_default(func: ast.FunctionDef | ast.AsyncFunctionDef, name: str):  # -> expr | None | False
    """The default of parameter ``name`` (None when it has none); False when it is no parameter."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in zip(positional, defaults):
        if arg.arg == name:
            return default
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        if arg.arg == name:
            return default
    if (args.vararg and args.vararg.arg == name) or (args.kwarg and args.kwarg.arg == name):
        return None
    return False


def is_config_reference(expr: ast.AST) -> bool:
    """``args.x``, ``self.cfg.data.x``, ``settings["x"]``: read from an object holding configuration."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    name = dotted(expr if not isinstance(expr, ast.Attribute) else expr.value)
    if name is None:
        return False
    return any(facts.CONFIG_NAME.search(part) for part in name.split("."))


def _attribute_setting(file: "FileAnalysis", expr: ast.Attribute | ast.Subscript, at: ast.AST, depth: int) -> Setting:
    if isinstance(expr, ast.Subscript):
        key = expr.slice.value if isinstance(expr.slice, ast.Constant) and isinstance(expr.slice.value, str) else None
    else:
        key = expr.attr
    if is_config_reference(expr):
        defaults = config_defaults(file, key) if key else []
        return Setting(CONFIGURED, tuple(dict.fromkeys(defaults)), open=not defaults)
    if isinstance(expr, ast.Attribute) and dotted(expr.value) == "self":
        cls = file.enclosing_class(at)
        init = file.methods(cls).get("__init__") if cls is not None else None
        if init is not None:
            stores = [
                node.value
                for node in iter_scope(init)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Attribute) and t.attr == expr.attr and dotted(t.value) == "self" for t in node.targets)
            ]
            if stores:
                return join([setting(file, value, value, depth + 1) for value in stores])
    return Setting(UNKNOWN)


# ====================================================================================== configuration
@dataclass(frozen=True)
class ConfigEntry:
    """A loader setting a configuration declares: a dataclass field or class attribute with a literal
    default, or an argparse option's default. ``group`` is the class or parser it belongs to."""

    name: str
    value: object
    node: ast.AST
    group: int


# facts.LOADER_SETTING_NAME as the source may spell it (`--pin-memory` becomes `pin_memory`).
_SETTING_SPELLED = re.compile(r"prefetch|worker|pin[_-]memory|batch[_-]size", re.IGNORECASE)


def _spells_a_setting(text: str) -> bool:
    """``_SETTING_SPELLED.search(text)``, with plain substring tests for ASCII text (the
    case-insensitive pattern scans slowly, and it is asked of every file)."""
    if not text.isascii():
        return _SETTING_SPELLED.search(text) is not None
    lowered = text.lower()
    return any(word in lowered for word in _SETTING_WORDS)


_SETTING_WORDS = ("prefetch", "worker", "pin_memory", "pin-memory", "batch_size", "batch-size")


def config_entries(file: "FileAnalysis") -> list[ConfigEntry]:
    cached = file.__dict__.get("_config_entries")
    if cached is not None:
        return cached
    found: list[ConfigEntry] = []
    if not _spells_a_setting(file.text):
        file.__dict__["_config_entries"] = found
        return found  # no name here can be a loader setting (argparse's dashes included)
    for node in file.nodes:
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                target, value = None, None
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    target, value = stmt.target.id, stmt.value
                elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    target, value = stmt.targets[0].id, stmt.value
                if isinstance(value, ast.Call) and dotted(value.func) in ("field", "dataclasses.field"):
                    default = keyword(value, "default")
                    value = default.value if default is not None else None
                if target and facts.LOADER_SETTING_NAME.search(target) and _is_literal(value):
                    found.append(ConfigEntry(target, value.value, stmt, id(node)))  # type: ignore[union-attr]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            dest = _argparse_dest(node)
            default = keyword(node, "default")
            if dest and facts.LOADER_SETTING_NAME.search(dest):
                store_true = keyword(node, "action")
                if default is not None and _is_literal(default.value):
                    value = default.value.value  # type: ignore[attr-defined]
                elif store_true is not None and isinstance(store_true.value, ast.Constant) and store_true.value.value == "store_true":
                    value = False
                else:
                    continue
                group = id(file.enclosing_scope(node) or file.tree)
                found.append(ConfigEntry(dest, value, node, group))
    file.__dict__["_config_entries"] = found
    return found


def pinned_group(entries: list[ConfigEntry], entry: ConfigEntry) -> bool:
    """Does the configuration ``entry`` belongs to pin memory by default and not turn workers off?"""
    group = [e for e in entries if e.group == entry.group]
    pins = any(facts.PIN_MEMORY_NAME.search(e.name) and e.value is True for e in group)
    no_workers = any(e.name.endswith("workers") and e.value == 0 for e in group)
    return pins and not no_workers


def _is_literal(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and (expr.value is None or type(expr.value) in (int, float, bool))


def _argparse_dest(call: ast.Call) -> str | None:
    dest = keyword(call, "dest")
    if dest is not None and isinstance(dest.value, ast.Constant) and isinstance(dest.value.value, str):
        return dest.value.value
    options = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    long = [o for o in options if o.startswith("--")] or options
    if not long:
        return None
    return long[0].lstrip("-").replace("-", "_")


def config_defaults(file: "FileAnalysis", name: str, pinned_only: bool = False) -> list[object]:
    """The defaults that the configurations of this file, or else of the project, give ``name``
    (``pinned_only``: only configurations that also pin memory by default)."""
    entries = config_entries(file)
    own = [e.value for e in entries if e.name == name and (not pinned_only or pinned_group(entries, e))]
    if own:
        return own
    if file.project is not None and hasattr(file.project, "config_defaults"):
        return file.project.config_defaults(name, pinned_only)
    return []


# ====================================================================================== DataLoaders
def is_loader_call(file: "FileAnalysis", call: ast.Call) -> bool:
    """``DataLoader(...)`` (any import spelling), or ``super().__init__(...)`` in a DataLoader subclass."""
    if file.qualname(call.func) in facts.DATA_LOADER_CLASSES:
        return True
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and dotted(func.value.func) == "super"
    ):
        cls = file.enclosing_class(call)
        return cls is not None and file.subclasses(cls, tuple(facts.DATA_LOADER_CLASSES))
    return False


def looks_like_loader(file: "FileAnalysis", expr: ast.AST) -> bool:
    """``torch...DataLoader(...)``, or an expression named like a loader (``train_loader``, ``self.loader``)."""
    if isinstance(expr, ast.Call):
        name = file.qualname(expr.func)
        return name is not None and name.startswith("torch.") and name.rsplit(".", 1)[-1] == "DataLoader"
    name = dotted(expr)
    return name is not None and bool(facts.LOADER_NAME.search(name.rsplit(".", 1)[-1]))


def loader_calls(file: "FileAnalysis") -> list[ast.Call]:
    cached = file.__dict__.get("_loader_calls")
    if cached is None:
        cached = [n for n in file.nodes if isinstance(n, ast.Call) and is_loader_call(file, n)] if "DataLoader" in file.text else []
        file.__dict__["_loader_calls"] = cached
    return cached


def loader_argument(file: "FileAnalysis", call: ast.Call, name: str) -> tuple[ast.expr | None, bool]:
    """The expression a DataLoader call passes as ``name`` (by keyword, position or a ``**`` dict
    built above it), and whether an unreadable ``*args`` / ``**kwargs`` may pass it instead."""
    found = keyword(call, name)
    if found is not None:
        return found.value, False
    hidden = False
    position = facts.DATA_LOADER_POSITIONS.get(name)
    if position is not None:
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                hidden = True
                break
            if index == position:
                return arg, False
    for kw in call.keywords:
        if kw.arg is None:
            entries = mapping_entries(file, kw.value, call)
            if entries is None:
                hidden = True
            elif name in entries:
                return entries[name], False
    return None, hidden


def loader_setting(file: "FileAnalysis", call: ast.Call, name: str) -> Setting:
    expr, hidden = loader_argument(file, call, name)
    if expr is None:
        return Setting(UNKNOWN) if hidden else Setting(ABSENT)
    return setting(file, expr, call)


def mapping_entries(file: "FileAnalysis", expr: ast.AST, at: ast.AST, depth: int = 0) -> dict[str, ast.expr] | None:
    """The keys a ``**mapping`` passes, when they can be read: a dict literal, ``dict(k=v)``, or a
    local name bound to one above ``at`` (with later ``d["k"] = v`` / ``d.update`` / ``del d["k"]``)."""
    if depth > 3:
        return None
    if isinstance(expr, ast.Dict):
        entries: dict[str, ast.expr] = {}
        for key, value in zip(expr.keys, expr.values):
            if key is None:
                inner = mapping_entries(file, value, at, depth + 1)
                if inner is None:
                    return None
                entries.update(inner)
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                entries[key.value] = value
            else:
                return None
        return entries
    if isinstance(expr, ast.Call) and dotted(expr.func) == "dict" and not expr.args:
        return {k.arg: k.value for k in expr.keywords if k.arg is not None} if all(k.arg for k in expr.keywords) else None
    if not isinstance(expr, ast.Name):
        return None
    scope = file.enclosing_scope(at)
    holder = scope if isinstance(scope, FunctionNode) else file.tree
    if isinstance(holder, FunctionNode) and _parameter_default(holder, expr.id) is not False:
        return None
    entries = {}
    bound = False
    where = (at.lineno, at.col_offset)  # type: ignore[attr-defined]
    outer = set(map(id, ancestors(at)))
    for node in iter_scope(holder):
        if (getattr(node, "lineno", 0), getattr(node, "col_offset", 0)) >= where:
            break
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == expr.id:
                    inner = mapping_entries(file, node.value, node, depth + 1)
                    if inner is None:
                        return None
                    entries.update(inner)
                    bound = True
                elif _is_key_of(target, expr.id):
                    entries[target.slice.value] = node.value  # type: ignore[attr-defined]
        elif isinstance(node, ast.Delete) and id(parent(node)) in outer:
            for target in node.targets:
                if _is_key_of(target, expr.id):
                    entries.pop(target.slice.value, None)  # type: ignore[attr-defined]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and dotted(node.func.value) == expr.id
        ):
            for kw in node.keywords:
                if kw.arg is not None:
                    entries[kw.arg] = kw.value
            for arg in node.args:
                inner = mapping_entries(file, arg, node, depth + 1)
                if inner is None:
                    return None
                entries.update(inner)
    return entries if bound else None


def _is_key_of(target: ast.AST, name: str) -> bool:
    return (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and target.value.id == name
        and isinstance(target.slice, ast.Constant)
        and isinstance(target.slice.value, str)
    )


def loaders_reading(file: "FileAnalysis", cls: ast.ClassDef) -> list[tuple["FileAnalysis", ast.Call]]:
    """DataLoader calls, in this file and the project, whose data set is an instance of ``cls`` or
    of a class derived from it."""
    target = file.qualified_name(cls)
    candidates = [(file, call) for call in loader_calls(file)]
    if file.project is not None and hasattr(file.project, "loader_calls"):
        candidates.extend(file.project.loader_calls(file))
    found = []
    for owner, call in candidates:
        expr, _ = loader_argument(owner, call, "dataset")
        if expr is None:
            continue
        value = owner.flow_of(call).value_of(expr)
        if value.origin and value.kind in ("dataset", "instance") and derives_from(owner, value.origin, target):
            found.append((owner, call))
    return found


def loaders_with_workers(file: "FileAnalysis") -> list[tuple["FileAnalysis", ast.Call]]:
    """DataLoader calls in this file and the project that may start worker processes."""
    candidates = [(file, call) for call in loader_calls(file)]
    if file.project is not None and hasattr(file.project, "loader_calls"):
        candidates.extend(file.project.loader_calls(file, with_workers=True))
    return [(owner, call) for owner, call in candidates if not loader_setting(owner, call, "num_workers").off]


# ====================================================================================== Dataset classes
def is_dataset_class(cls: ast.ClassDef | None) -> bool:
    """A class with a ``*Dataset`` base, by its spelling."""
    return cls is not None and any((dotted(b) or "").rsplit(".", 1)[-1].endswith("Dataset") for b in cls.bases)


def holds_items(cls: ast.ClassDef | None) -> bool:
    """A data set class: a ``*Dataset`` base, or a ``__getitem__`` of its own."""
    return cls is not None and (is_dataset_class(cls) or any(isinstance(s, FunctionNode) and s.name == "__getitem__" for s in cls.body))


def derives_from(file: "FileAnalysis", qualified: str, target: str, depth: int = 0) -> bool:
    """Is the class ``qualified`` (as ``file`` names it) ``target`` or derived from it?"""
    if qualified == target:
        return True
    if depth > 8:
        return False
    located = _class(file, qualified)
    if located is None:
        return False
    owner, cls = located
    for base in cls.bases:
        local = dotted(base)
        if local in owner.classes:
            name = owner.qualified_name(owner.classes[local])
        else:
            name = owner.qualname(base) or local
        if name and derives_from(owner, name, target, depth + 1):
            return True
    return False


def _class(file: "FileAnalysis", qualified: str) -> tuple["FileAnalysis", ast.ClassDef] | None:
    short = qualified.rsplit(".", 1)[-1]
    if qualified == f"{file.module_name}.{short}" and short in file.classes:
        return file, file.classes[short]
    if file.project is not None:
        return file.project.resolve_class(file, qualified)
    return None


# ====================================================================================== containers
def python_objects(file: "FileAnalysis", expr: ast.AST | None, cls: ast.ClassDef | None = None, depth: int = 0) -> str | None:
    """How ``expr`` holds per-item Python objects ("a list built by a comprehension",
    "`json.load(...)`"), or None: arrays, tensors, small literals and what cannot be told."""
    if expr is None or depth > _MAX_DEPTH:
        return None
    if isinstance(expr, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        if all(_small_literal(g.iter) for g in expr.generators):
            return None
        return "a dict built by a comprehension" if isinstance(expr, ast.DictComp) else "a list built by a comprehension"
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return python_objects(file, expr.left, cls, depth + 1) or python_objects(file, expr.right, cls, depth + 1)
    if isinstance(expr, ast.Subscript) and not isinstance(expr.slice, ast.Slice):
        inner = python_objects(file, expr.value, cls, depth + 1)
        return inner if inner and "parsed" in inner else None  # an entry of a parsed file is parsed data too
    if isinstance(expr, ast.Name):
        return _name_objects(file, expr, cls, depth)
    if not isinstance(expr, ast.Call):
        return None
    func = expr.func
    qualified = file.qualname(func) or ""
    if qualified in facts.PYTHON_OBJECT_SOURCES:
        if qualified in facts.FILE_LISTINGS:
            return f"a list of file names from `{qualified}`"
        return f"objects parsed by `{qualified}`"
    if qualified.startswith(facts.FLAT_DATA_PREFIXES) or qualified.startswith("pandas."):
        return None
    if isinstance(func, ast.Name) and func.id in facts.PYTHON_CONTAINER_BUILTINS and func.id not in file.imports:
        if not expr.args or all(_small_literal(a) for a in expr.args):
            return None
        inner = [python_objects(file, a, cls, depth + 1) for a in expr.args]
        if any(i for i in inner):
            return next(i for i in inner if i)
        if any(_flat(file, a) for a in expr.args):
            return None
        return f"a Python {'dict' if func.id == 'dict' else 'list'} built from data"
    if isinstance(func, ast.Attribute):
        if func.attr in facts.PYTHON_OBJECT_METHODS:
            return f"a list from `.{func.attr}()`"
        if func.attr in ("apply", "map") and expr.args and _object_column_function(file, expr.args[0]):
            return "a pandas object column (one Python object per row)"
        if func.attr in ("deepcopy", "copy") and dotted(func.value) == "copy" and expr.args:
            return python_objects(file, expr.args[0], cls, depth + 1)
    if qualified == "copy.deepcopy" and expr.args:
        return python_objects(file, expr.args[0], cls, depth + 1)
    return _helper_objects(file, expr, cls, depth)


def _small_literal(expr: ast.AST) -> bool:
    """A literal container or ``range`` of a literal size: bounded by the code itself."""
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return all(isinstance(e, ast.Constant) or _small_literal(e) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(isinstance(v, ast.Constant) or _small_literal(v) for v in expr.values if v is not None)
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Call) and dotted(expr.func) == "range":
        return all(isinstance(a, ast.Constant) for a in expr.args)
    return False


def _flat(file: "FileAnalysis", expr: ast.AST) -> bool:
    """An array, tensor or range: its elements are not kept as separate objects."""
    if isinstance(expr, ast.Call):
        name = file.qualname(expr.func) or ""
        if name.startswith(facts.FLAT_DATA_PREFIXES) or dotted(expr.func) == "range":
            return True
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in ("numpy", "to_numpy", "cpu", "keys"):
            return True
    return False


def _object_column_function(file: "FileAnalysis", expr: ast.AST) -> bool:
    name = file.qualname(expr) or dotted(expr) or ""
    return name in facts.OBJECT_COLUMN_FUNCTIONS


def _name_objects(file: "FileAnalysis", expr: ast.Name, cls: ast.ClassDef | None, depth: int) -> str | None:
    scope = file.enclosing_scope(expr)
    if not isinstance(scope, FunctionNode):
        return None
    bound = [
        (node, value)
        for node, value in bindings(scope, expr.id)
        if (node.lineno, node.col_offset) < (expr.lineno, expr.col_offset)
    ]
    for node, value in reversed(bound):
        if value is None:
            continue
        found = python_objects(file, value, cls, depth + 1)
        if found:
            return found
        if _empty_container(value) and _filled_in_loop(scope, expr.id):
            return "a Python container filled in a loop"
        return None
    return None


def _empty_container(expr: ast.AST) -> bool:
    if isinstance(expr, (ast.List, ast.Dict)) and not (expr.elts if isinstance(expr, ast.List) else expr.keys):
        return True
    name = dotted(expr.func) if isinstance(expr, ast.Call) else None
    return bool(name) and name.rsplit(".", 1)[-1] in ("list", "dict", "defaultdict", "OrderedDict") and not expr.args[1:]  # type: ignore[union-attr]


def _filled_in_loop(scope: ast.AST, name: str) -> bool:
    """``name.append(...)`` / ``name[k] = v`` / ``name.extend(...)`` / ``name += ...`` in a loop of ``scope``."""
    for node in iter_scope(scope):
        grows = False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("append", "extend", "insert", "add", "setdefault", "update"):
            grows = dotted(node.func.value) == name or (
                isinstance(node.func.value, ast.Subscript) and dotted(node.func.value.value) == name
            )
        elif isinstance(node, ast.Assign):
            grows = any(isinstance(t, ast.Subscript) and dotted(t.value) == name for t in node.targets)
        elif isinstance(node, ast.AugAssign):
            grows = dotted(node.target) == name
        if grows and any(isinstance(a, (*LoopNode, ast.comprehension)) for a in ancestors(node)):
            return True
    return False


def _helper_objects(file: "FileAnalysis", call: ast.Call, cls: ast.ClassDef | None, depth: int) -> str | None:
    """What a helper returns: a method of the Dataset (``self.load_annotations()``, overridden in a
    subclass), a static method (``Cls._index(...)``), or a function of this file or the project."""
    targets: list[tuple["FileAnalysis", ast.AST]] = []
    func = call.func
    if cls is not None and isinstance(func, ast.Attribute) and dotted(func.value) in ("self", cls.name, "cls"):
        found = file.find_method(cls, func.attr)
        if found is not None:
            targets.append(found)
            if _abstract(found[1]):
                targets.extend(overrides(file, cls, func.attr))
    else:
        targets.extend(file.resolve_call(call))
    for owner, definition in targets:
        owner_cls = owner.enclosing_class(definition) if owner is not file or cls is None else cls
        for node in iter_scope(definition):
            if isinstance(node, ast.Return) and node.value is not None:
                found_desc = python_objects(owner, node.value, owner_cls, depth + 1)
                if found_desc:
                    return found_desc
    return None


def _abstract(func: ast.AST) -> bool:
    body = [s for s in getattr(func, "body", []) if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return all(isinstance(s, (ast.Pass, ast.Raise)) for s in body)


def overrides(file: "FileAnalysis", cls: ast.ClassDef, name: str) -> list[tuple["FileAnalysis", ast.AST]]:
    """Definitions of method ``name`` in classes derived from ``cls`` (this file and the project)."""
    target = file.qualified_name(cls)
    found: list[tuple[FileAnalysis, ast.AST]] = []
    for other in file.classes.values():
        if other is not cls and derives_from(file, file.qualified_name(other), target) and name in file.methods(other):
            found.append((file, file.methods(other)[name]))
    if file.project is not None and hasattr(file.project, "subclasses_of"):
        for owner, other in file.project.subclasses_of(file, target):
            if name in owner.methods(other):
                found.append((owner, owner.methods(other)[name]))
    return found


@dataclass(frozen=True)
class StoredContainer:
    """``self.<attr>`` bound in ``__init__`` (or a method it calls) to per-item Python objects."""

    attr: str
    node: ast.stmt
    description: str


def stored_containers(file: "FileAnalysis", cls: ast.ClassDef) -> list[StoredContainer]:
    """Attributes that ``__init__`` (and the methods it calls on ``self``) bind to Python containers
    built from data; an attribute converted to an array later in ``__init__`` is left out."""
    init = file.methods(cls).get("__init__")
    if init is None:
        return []
    methods: list[tuple[FileAnalysis, ast.AST]] = [(file, init)]
    for node in iter_scope(init):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and dotted(node.func.value) == "self":
            found = file.find_method(cls, node.func.attr)
            if found is not None and found[1] is not init and found[0] is file:
                methods.append(found)
    stores: dict[str, list[tuple[ast.stmt, str | None]]] = {}
    for owner, method in methods:
        for node in iter_scope(method):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    attr, column = _self_target(target)
                    if attr is None:
                        continue
                    description = python_objects(owner, node.value, cls)
                    if column:  # `self.df[col] = ...`: only an object column counts
                        if description is None or "object column" not in description:
                            continue
                    elif description is None and _empty_container(node.value) and _filled_attribute(method, attr):
                        description = "a Python container filled in a loop"
                    elif description is None and _flat_value(owner, node.value):
                        description = ""  # converted to one buffer: clears what came before
                    stores.setdefault(attr, []).append((node, description))
    found: list[StoredContainer] = []
    for attr, entries in stores.items():
        containers = [(n, d) for n, d in entries if d]
        if not containers or entries[-1][1] == "":
            continue
        bodies = [m for _, m in methods]
        top = [(n, d) for n, d in containers if parent(n) in bodies]
        node, description = (top or containers)[0]
        found.append(StoredContainer(attr, node, description))  # type: ignore[arg-type]
    return found


def _self_target(target: ast.AST) -> tuple[str | None, bool]:
    """(attribute, is a column store) for ``self.x = ...`` and ``self.df[col] = ...``."""
    if isinstance(target, ast.Attribute) and dotted(target.value) == "self":
        return target.attr, False
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) and dotted(target.value.value) == "self":
        return target.value.attr, True
    return None, False


def _flat_value(file: "FileAnalysis", expr: ast.AST) -> bool:
    if _flat(file, expr):
        return True
    return isinstance(expr, ast.Call) and (file.qualname(expr.func) or "").startswith(facts.FLAT_DATA_PREFIXES)


def _filled_attribute(method: ast.AST, attr: str) -> bool:
    return _filled_in_loop(method, f"self.{attr}")


def items_read(file: "FileAnalysis", cls: ast.ClassDef) -> dict[str, ast.AST]:
    """Attributes ``__getitem__`` reads with the item's index (``self.samples[index]``,
    ``self.df.iloc[idx]``, also in methods it calls with the index), or that ``__iter__`` walks."""
    found: dict[str, ast.AST] = {}
    getitem = file.find_method(cls, "__getitem__")
    if getitem is not None:
        owner, method = getitem
        params = [a.arg for a in [*method.args.posonlyargs, *method.args.args]][1:2]  # type: ignore[attr-defined]
        _read_by_index(file, cls, owner, method, set(params), found, 0)
    iterate = file.find_method(cls, "__iter__")
    if iterate is not None:
        owner, method = iterate
        for node in iter_scope(method):
            source = None
            if isinstance(node, (ast.For, ast.comprehension)):
                source = node.iter
            elif isinstance(node, ast.Subscript):
                source = node.value
            while isinstance(source, ast.Call) and isinstance(source.func, (ast.Attribute, ast.Name)):
                source = source.func.value if isinstance(source.func, ast.Attribute) else (source.args[0] if source.args else None)
            attr = _self_attribute(source)
            if attr is not None:
                found.setdefault(attr, node)
    return found


def _self_attribute(expr: ast.AST | None) -> str | None:
    if isinstance(expr, ast.Attribute) and expr.attr in ("iloc", "loc", "at", "iat"):
        expr = expr.value
    return self_attribute(expr)


def indexed_per_item(cls: ast.ClassDef | None, attrs: list[str]) -> bool:
    """``self.<attr>[i]`` (not a string key) somewhere in the class's own ``__getitem__``."""
    if cls is None:
        return False
    wanted = set(attrs)
    for stmt in cls.body:
        if isinstance(stmt, FunctionNode) and stmt.name == "__getitem__":
            for node in ast.walk(stmt):
                if isinstance(node, ast.Subscript) and self_attribute(node.value) in wanted:
                    if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                        return True
    return False


def _read_by_index(
    file: "FileAnalysis", cls: ast.ClassDef, owner: "FileAnalysis", method: ast.AST, index_names: set[str],
    found: dict[str, ast.AST], depth: int,
) -> None:
    if depth > 3 or not index_names:
        return
    derived = set(index_names)
    for node in iter_scope(method):  # names computed from the index
        if isinstance(node, ast.Assign) and _mentions(node.value, derived):
            for target in node.targets:
                derived |= _target_ids(target)
    for node in iter_scope(method):
        if isinstance(node, ast.Subscript) and _mentions(node.slice, derived):
            attr = _self_attribute(node.value)
            if attr is not None:
                found.setdefault(attr, node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and dotted(node.func.value) == "self":
            passing = [i for i, a in enumerate(node.args) if _mentions(a, derived)]
            if not passing:
                continue
            callee = file.find_method(cls, node.func.attr)
            if callee is None:
                continue
            callee_owner, callee_def = callee
            params = [a.arg for a in [*callee_def.args.posonlyargs, *callee_def.args.args]][1:]  # type: ignore[attr-defined]
            names = {params[i] for i in passing if i < len(params)}
            _read_by_index(file, cls, callee_owner, callee_def, names, found, depth + 1)


def _mentions(expr: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(expr))

