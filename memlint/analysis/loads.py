"""Data held whole in memory: the facts MEM003 rests on.

- ``data_destination``: where a loaded array or tensor (``np.load``, ``torch.load``) goes, followed
  up its parents (wrappers, views, copies, device moves, a key of the loaded file) and through the
  local names it binds: a ``TensorDataset``, a ``Dataset`` attribute read per item, a device move,
  the return of a data loading function;
- ``archive_read_whole``: an ``.npz`` archive decompressed whole (``.items()``, ``dict(...)``);
  ``mmap_left_to_user``: an ``if`` that offers a mapped load next to this one;
- device moves: ``moves_to_device`` (``.cuda()``, ``.to(device)``), ``data_moved_in_constructor``
  (``self.data = data.to(device)`` in a data iterator's ``__init__``), ``whole_data_set``
  (``train_set.to(device)``), ``element_of_in_memory_set`` (each element of an unpickled list
  moved and kept);
- ``stacked_reads``: samples read from files one by one (a reader, a project helper that calls one,
  a video's frames) and stacked into one array;
- tables copied whole: ``table_values`` (``torch.tensor(df.values)`` of a table read from a file),
  ``copied_helper_array`` (an array a project helper preallocates and fills in a loop).
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from memlint.analysis import facts
from memlint.analysis.data import holds_items, indexed_per_item, is_dataset_class, looks_like_loader
from memlint.analysis.sizes import binding_before, expression_elements
from memlint.analysis.syntax import (
    FunctionNode,
    ancestors,
    dotted,
    iter_scope,
    keyword,
    last_name,
    literal_loop_bound,
    parent,
    self_attribute,
    string_parts,
    target_elements,
)

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

# Calls that hand back their first argument's data, with whether they copy it.
_WRAPPERS = {
    "torch.from_numpy": False,
    "torch.as_tensor": False,
    "numpy.asarray": False,
    "torch.tensor": True,
    "torch.Tensor": True,
    "torch.FloatTensor": True,
    "torch.LongTensor": True,
    "numpy.array": True,
    "numpy.ascontiguousarray": True,
}
# Methods that keep the (whole) data: views, and copies that are just as large.
_VIEW_METHODS = frozenset({"reshape", "view", "squeeze", "unsqueeze", "transpose", "permute", "T"})
_COPY_METHODS = frozenset(
    {"astype", "float", "double", "long", "int", "half", "bool", "byte", "contiguous", "clone", "copy", "type"}
)
DEVICE_METHODS = frozenset({"to", "cuda"})
# Attributes that hold index metadata or statistics, small next to the data they describe.
_METADATA_NAME = re.compile(
    r"(?i)(^|_)(offsets?|sizes?|lens|lengths?|index|indices|idx|starts?|ends?|stats?|mean|std|vocab|mapping|dict)$"
)
# Classes that hold a data set (LMOrderedIterator, TextDataset, CorpusLoader ...).
_DATA_CLASS = re.compile(r"Iterator|Dataset|Loader|Corpus|DataModule")
_RESHAPE_METHODS = _VIEW_METHODS | _COPY_METHODS | {"t", "narrow", "flatten", "long", "pin_memory"}
# A whole data set by its name (a receiver of `.to(device)` that moves all it holds).
_DATA_SET_NAME = re.compile(r"(?i)^(?:(?:train|training|val|valid|validation|test|eval|dev)_?(?:set|dataset|data|ds)|data_?set)$")
# Functions whose job is to load a data set (what they return is the data set).
_DATA_LOADING_FUNCTION = re.compile(
    r"(?i)^_*(?:load|read|get|fetch|open)_(?:the_)?(?:\w+_)?(?:data|dataset|datasets|split|corpus|samples|examples|tensors)$"
)
# Calls that stack a list of arrays or tensors into one.
STACKING_CALLS = frozenset(
    {"numpy.array", "numpy.asarray", "numpy.stack", "numpy.vstack", "numpy.concatenate", "torch.stack", "torch.cat", "torch.tensor"}
)
_DESERIALIZERS = frozenset({"pickle.load", "torch.load", "joblib.load", "numpy.load", "dill.load", "json.load"})
# Calls that allocate an array to be filled in place, and the size below which it is not a data set.
_PREALLOCATIONS = frozenset({"numpy.zeros", "numpy.empty", "numpy.ones", "numpy.full"})
_SMALL_ELEMENTS = 1_000_000
_PANDAS_READERS = re.compile(r"^pandas\.read_(csv|parquet|feather|pickle|hdf|json|table|excel|sql)$")


# ====================================================================================== where a load goes
def data_destination(file: "FileAnalysis", node: ast.Call) -> tuple[str, ast.AST | None, bool] | None:
    """Where the data a load reads is kept: (how it is kept, the assignment target or None, copied
    on the way), or None if it is not kept as a data set."""
    current: ast.AST = node
    copied = moved = picked = False
    while True:
        holder = parent(current)
        if isinstance(holder, ast.Call) and holder.args[:1] == [current] and file.qualname(holder.func) in _WRAPPERS:
            copied = copied or _WRAPPERS[file.qualname(holder.func) or ""]
            current = holder
        elif isinstance(holder, ast.Attribute) and holder.value is current:
            if holder.attr not in _VIEW_METHODS | _COPY_METHODS | DEVICE_METHODS:
                return None
            copied = copied or holder.attr in _COPY_METHODS
            moved = moved or holder.attr in DEVICE_METHODS
            call = parent(holder)
            current = call if isinstance(call, ast.Call) and call.func is holder else holder
        elif isinstance(holder, ast.Subscript) and holder.value is current:
            key = holder.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                if not facts.DATA_NAME.search(key.value) or facts.CHECKPOINT_HINT.search(key.value):
                    return None
                picked = True  # `torch.load(p)["dataset"]`
            current = holder
        else:
            break
    holder = parent(current)
    cls = file.enclosing_class(node)
    if isinstance(holder, ast.Call) and current in holder.args and last_name(holder.func) == "TensorDataset":
        return "wrapped in a `TensorDataset`", None, copied
    function = file.enclosing_function(node)
    if isinstance(holder, ast.Return) and function is not None and (picked or _DATA_LOADING_FUNCTION.match(function.name)):
        return f"returned as the data set of `{function.name}`", None, copied
    if not isinstance(holder, ast.Assign) or holder.value is not current or len(holder.targets) != 1:
        return None
    target = holder.targets[0]
    exprs = target_elements(target)
    if all(self_attribute(t) for t in exprs) and is_dataset_class(cls):
        if re.sub(r"[^a-z0-9]", "", cls.name.lower()) in facts.SMALL_BENCHMARK_CLASSES:  # type: ignore[union-attr]
            return None  # `class MNIST(Dataset)`: tens of MB, loaded whole by design
        attrs = [self_attribute(t) or "" for t in exprs]
        if any(_METADATA_NAME.search(a) for a in attrs) or not indexed_per_item(cls, attrs):
            return None
        return ("moved to the device", None, copied) if moved else ("kept on a `Dataset`", target, copied)
    names = [t.id for t in exprs if isinstance(t, ast.Name)]
    if not names or len(names) != len(exprs):
        return None
    if moved:
        return ("moved to the device", None, copied) if any(facts.DATA_NAME.search(n) for n in names) else None
    if picked:
        return "a data set pulled out of the loaded file", target, copied
    kind = _name_use(file, node, names)
    return (kind, target, copied) if kind is not None else None


def _name_use(file: "FileAnalysis", node: ast.AST, names: list[str]) -> str | None:
    """Does a local bound from the load feed a TensorDataset or a device move?"""
    scope = file.enclosing_function(node) or file.tree
    wanted = set(names)
    for inner in iter_scope(scope):
        if not isinstance(inner, ast.Call):
            continue
        if last_name(inner.func) == "TensorDataset" and any(_core_name(file, a) in wanted for a in inner.args):
            return "wrapped in a `TensorDataset`"
        if (
            isinstance(inner.func, ast.Attribute)
            and inner.func.attr in DEVICE_METHODS
            and _core_name(file, inner.func.value) in wanted
            and any(facts.DATA_NAME.search(n) for n in names)
        ):
            return "moved to the device"
    return None


def _core_name(file: "FileAnalysis", expr: ast.AST) -> str | None:
    """The name under wrappers: ``torch.from_numpy(x).float()`` -> ``x``."""
    for _ in range(8):
        if isinstance(expr, ast.Name):
            return expr.id
        if not isinstance(expr, ast.Call):
            return None
        if isinstance(expr.func, ast.Attribute) and (expr.func.attr in _VIEW_METHODS or expr.func.attr in _COPY_METHODS):
            expr = expr.func.value
        elif expr.args and file.qualname(expr.func) in _WRAPPERS:
            expr = expr.args[0]
        else:
            return None
    return None


def archive_read_whole(file: "FileAnalysis", node: ast.Call) -> bool:
    """``np.load(p).items()``, ``dict(np.load(p))``: every array of an archive (not a checkpoint)
    decompressed at once, kept by a data set class or repeated per file in a loop."""
    holder = parent(node)
    whole = (isinstance(holder, ast.Attribute) and holder.attr in ("items", "values") and isinstance(parent(holder), ast.Call)) or (
        isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and holder.func.id in ("dict", "list") and holder.args[:1] == [node]
    )
    if not whole or any(facts.CHECKPOINT_HINT.search(p) for p in string_parts(node.args[0])):
        return False
    return bool(holds_items(file.enclosing_class(node)) or file.enclosing_loops(node))


def mmap_left_to_user(node: ast.AST) -> bool:
    """``if use_mmap: np.load(p, mmap_mode="r") else: np.load(p)``: a choice left to the user."""
    for outer in ancestors(node):
        if isinstance(outer, ast.If):
            return any(isinstance(n, ast.Call) and keyword(n, "mmap_mode") is not None for n in ast.walk(outer))
        if isinstance(outer, (*FunctionNode, ast.ClassDef)):
            return False
    return False


# ====================================================================================== device moves
def moves_to_device(call: ast.Call) -> bool:
    """``.cuda()``, ``.to(device)``, ``.to(self.device)``, ``.to("cuda")``; not ``.to(torch.float16)``."""
    func = call.func
    if func.attr == "cuda":  # type: ignore[attr-defined]
        return True
    if not call.args:
        return False
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return "cuda" in first.value
    name = dotted(first)
    return name is not None and name.rsplit(".", 1)[-1].lower().endswith("device")


def data_moved_in_constructor(file: "FileAnalysis", node: ast.Call, receiver: ast.AST) -> tuple[str, str] | None:
    """``self.data = data.view(...).to(device)`` in the constructor of a data iterator: (the
    parameter moved whole, the class's name), or None."""
    holder = parent(node)
    function = file.enclosing_function(node)
    cls = file.enclosing_class(node)
    if not (isinstance(holder, ast.Assign) and holder.value is node and len(holder.targets) == 1 and self_attribute(holder.targets[0])):
        return None
    if function is None or function.name != "__init__" or cls is None or not _DATA_CLASS.search(cls.name):
        return None
    core = receiver
    while isinstance(core, ast.Call) and isinstance(core.func, ast.Attribute):
        if core.func.attr not in _RESHAPE_METHODS:
            return None
        core = core.func.value
    params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
    if not isinstance(core, ast.Name) or not facts.DATA_NAME.search(core.id) or core.id not in params:
        return None
    return core.id, cls.name


def whole_data_set(file: "FileAnalysis", node: ast.Call, receiver: ast.AST) -> str | None:
    """``train_set.to(device)``, or ``data.to(device)`` in ``for data in (train_set, val_set)``."""
    if not isinstance(receiver, ast.Name):
        return None
    if _DATA_SET_NAME.match(receiver.id):
        return receiver.id
    for loop in file.enclosing_loops(node):
        if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name) and loop.target.id == receiver.id:
            if isinstance(loop.iter, (ast.Tuple, ast.List)) and loop.iter.elts and all(
                isinstance(e, ast.Name) and _DATA_SET_NAME.match(e.id) for e in loop.iter.elts
            ):
                return receiver.id
    return None


def element_of_in_memory_set(file: "FileAnalysis", node: ast.Call, receiver: ast.AST) -> str | None:
    """``for graph in graphs: graph.to(device)`` over an unpickled list, ``inputs[i] = t.to(device)``:
    each element of a data set held in memory moved and kept. The collection's name, or None."""
    holder = parent(node)
    kept = (isinstance(holder, ast.Expr)) or (
        isinstance(holder, ast.Assign) and holder.value is node and all(isinstance(t, (ast.Subscript, ast.Attribute)) for t in holder.targets)
    ) or (isinstance(holder, ast.Call) and isinstance(holder.func, ast.Attribute) and holder.func.attr == "append")
    loops = file.enclosing_loops(node)
    if not kept or not loops or not isinstance(loops[0], (ast.For, ast.AsyncFor)) or not isinstance(receiver, ast.Name):
        return None
    loop = loops[0]
    if receiver.id not in {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}:
        return None
    collection = loop.iter
    while isinstance(collection, ast.Call) and last_name(collection.func) in ("enumerate", "tqdm", "zip", "list", "sorted") and collection.args:
        collection = collection.args[0]
    if not isinstance(collection, ast.Name) or looks_like_loader(file, collection):
        return None
    bound = binding_before(file.enclosing_function(node) or file.tree, collection.id, loop)
    loaded = isinstance(bound, ast.Call) and file.qualname(bound.func) in _DESERIALIZERS
    mapped = (
        isinstance(bound, ast.Call)
        and isinstance(bound.func, ast.Attribute)
        and bound.func.attr in ("map", "apply")
        # a data-like name, or a column of a table mapped row by row: `df[col].map(embed)`
        and (facts.DATA_NAME.search(collection.id) is not None or isinstance(bound.func.value, ast.Subscript))
    )
    return collection.id if loaded or mapped else None


# ====================================================================================== samples read one by one
def stacked_reads(file: "FileAnalysis", node: ast.Call) -> str | None:
    """``np.array([imread(p) for p in paths])``, ``frames.append(...)`` in a loop then
    ``torch.stack(frames)``: the call that read each sample the stacking call ``node`` stacks, or None."""
    source = node.args[0]
    if isinstance(source, (ast.ListComp, ast.GeneratorExp)):
        if any(literal_loop_bound(_as_loop(g)) is not None for g in source.generators):
            return None
        return _reader_in(file, source.elt) or next((r for g in source.generators if (r := _frame_source(file, g.iter))), None)
    if isinstance(source, ast.Name):
        return _list_of_reads(file, node, source.id)
    return None


def _reader_in(file: "FileAnalysis", expr: ast.AST, depth: int = 0) -> str | None:
    """The call in ``expr`` that reads a sample from a file: a reader itself, a project helper whose
    body calls one (``load_image(path)``), or a local bound from one (``img = load_image(p)``)."""
    scope = file.enclosing_function(expr) or file.tree
    for inner in ast.walk(expr):
        if isinstance(inner, ast.Call) and (file.qualname(inner.func) or "") in facts.SAMPLE_READERS:
            return dotted(inner.func)
        if isinstance(inner, ast.Call) and depth < 2:
            for owner, definition in file.resolve_call(inner):
                if any(isinstance(n, ast.Call) and (owner.qualname(n.func) or "") in facts.SAMPLE_READERS for n in ast.walk(definition)):
                    return definition.name
        if isinstance(inner, ast.Name) and depth < 2:
            bound = binding_before(scope, inner.id, file.statement_of(expr) or expr)
            found = _reader_in(file, bound, depth + 1) if bound is not None else None
            if found is not None:
                return found
    return None


def _frame_source(file: "FileAnalysis", expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Call) and (file.qualname(expr.func) or "") in facts.FRAME_SOURCES:
        return dotted(expr.func)
    return None


def _list_of_reads(file: "FileAnalysis", node: ast.Call, name: str) -> str | None:
    """``name`` grew in a loop (over data, not a few literal items) by samples read from files."""
    scope = file.enclosing_function(node) or file.tree
    for inner in iter_scope(scope):
        if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr == "append"):
            continue
        if dotted(inner.func.value) != name or not inner.args or getattr(inner, "lineno", 0) > node.lineno:
            continue
        loops = file.enclosing_loops(inner)
        if not loops or any(literal_loop_bound(loop) is not None for loop in loops):
            continue
        read = _reader_in(file, inner.args[0]) or _frame_source(file, getattr(loops[-1], "iter", None)) or _frame_source(file, getattr(loops[0], "iter", None))
        if read is not None:
            return read
    return None


def _as_loop(generator: ast.comprehension) -> ast.For:
    return ast.For(target=generator.target, iter=generator.iter, body=[], orelse=[])


# ====================================================================================== tables copied whole
def table_values(file: "FileAnalysis", expr: ast.AST, at: ast.AST) -> str | None:
    """``torch.tensor(df.values)`` (through locals, wrappers and copies) of a table a pandas reader
    read from a file: the table's name, or None."""
    scope = file.enclosing_function(at) or file.tree
    for _ in range(6):
        if isinstance(expr, ast.Name):
            bound = binding_before(scope, expr.id, file.statement_of(at) or at)
            if bound is None:
                return None
            expr = bound
        elif isinstance(expr, ast.Call) and (file.qualname(expr.func) in _WRAPPERS) and expr.args:
            expr = expr.args[0]
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _COPY_METHODS | {"to_numpy"}:
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute) and expr.attr == "values":
            table = expr.value  # `frame.values`, `frame.drop(columns=...).values`, `frame[cols].values`
            while isinstance(table, (ast.Call, ast.Subscript, ast.Attribute)) and not isinstance(table, ast.Name):
                table = table.func.value if isinstance(table, ast.Call) and isinstance(table.func, ast.Attribute) else getattr(table, "value", None)
            if not isinstance(table, ast.Name):
                return None
            frame = binding_before(scope, table.id, file.statement_of(at) or at)
            read = isinstance(frame, ast.Call) and _PANDAS_READERS.match(file.qualname(frame.func) or "")
            return table.id if read else None
        else:
            return None
    return None


def copied_helper_array(file: "FileAnalysis", expr: ast.AST, at: ast.AST) -> str | None:
    """``torch.FloatTensor(features)`` where ``features`` is what a project function returns: an
    array it preallocates (``np.zeros(shape)``, size not spelled small) and fills in a loop. The
    function's name, or None."""
    if not (isinstance(expr, ast.Call) and expr.args and _WRAPPERS.get(file.qualname(expr.func) or "")):
        return None
    built = expr.args[0]
    if isinstance(built, ast.Name):
        scope = file.enclosing_function(at) or file.tree
        built = binding_before(scope, built.id, file.statement_of(at) or at)
    if not isinstance(built, ast.Call):
        return None
    for owner, definition in file.resolve_call(built):
        for ret in ast.walk(definition):
            if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Name) and _filled_preallocation(owner, definition, ret):
                return definition.name
    return None


def _filled_preallocation(owner: "FileAnalysis", definition: ast.AST, ret: ast.Return) -> bool:
    """``return feats`` where ``feats = np.zeros(shape)`` (not spelled small) is written item by item in a loop."""
    name = ret.value.id  # type: ignore[union-attr]
    bound = binding_before(definition, name, ret)
    if not (isinstance(bound, ast.Call) and owner.qualname(bound.func) in _PREALLOCATIONS):
        return False
    elements = expression_elements(owner, bound)
    if elements is not None and elements < _SMALL_ELEMENTS:
        return False
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name for t in node.targets)
        and owner.enclosing_loops(node)
        for node in ast.walk(definition)
    )
