"""How many elements a tensor or array holds, when the source spells it out.

A rule that judges size (a "whole data set" that is 100 scalars made two lines above, a "dead
tensor" that is a noise schedule of 1,000 floats) asks here. The answer is an element count or
None (unknown: loaded, computed by a model, shaped by a variable). Only literal shapes count;
elementwise arithmetic keeps the size of its largest operand, and a name has the size of its
last binding before the point asked about, in the same scope.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from memlint.analysis.syntax import FunctionNode, dotted, iter_scope, last_name, parent, target_names

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

# Creation functions whose positional arguments (or a shape tuple, or ``size=``) are the shape.
SHAPED_CREATIONS = frozenset(
    {"zeros", "ones", "empty", "full", "rand", "randn", "random", "random_sample", "standard_normal", "eye"}
)
# Creation functions whose size is a count argument: (index of the count, default when absent).
COUNTED_CREATIONS = {"linspace": (2, 50), "logspace": (2, 50), "arange": (None, None)}
# Random generators that take ``size=`` (or a shape after the distribution's parameters).
SIZED_RANDOM = frozenset({"uniform", "normal", "randint", "integers", "choice", "binomial", "poisson", "beta", "gamma"})
# Methods and library functions that keep their input's size (elementwise, casts, moves, sorts).
SIZE_KEEPING_METHODS = frozenset(
    {
        "to", "cuda", "cpu", "float", "double", "half", "long", "int", "bool", "clone", "detach", "contiguous",
        "sqrt", "exp", "log", "abs", "pow", "sin", "cos", "tanh", "sigmoid", "relu", "clamp", "clip",
        "cumprod", "cumsum", "flip", "reshape", "view", "squeeze", "unsqueeze", "flatten", "ravel", "astype",
        "copy", "numpy", "sort", "transpose", "permute", "t", "neg", "reciprocal", "square", "rsqrt",
    }
)
_LIBRARIES = ("torch", "numpy")
# Old-style tensor constructors: ``torch.Tensor(20, 1)`` is a shape, ``torch.Tensor(data)`` a copy of ``data``.
_LEGACY_CONSTRUCTORS = ("Tensor", "FloatTensor", "LongTensor", "DoubleTensor", "IntTensor")
_MAX_DEPTH = 10  # links of a chain of bindings and calls (casts, moves, wrappers) followed


def _literal_int(expr: ast.AST | None) -> int | None:
    if isinstance(expr, ast.Constant) and type(expr.value) is int and expr.value >= 0:
        return expr.value
    return None


def literal_count(file: "FileAnalysis", expr: ast.AST | None, depth: int = 0) -> int | None:
    """A non-negative integer the source spells: a literal, a name bound to one (``N_SAMPLES = 20``,
    also a module constant read inside a function), or ``+ - * //`` of those (``seq_length + 1``)."""
    if expr is None or depth > _MAX_DEPTH:
        return None
    value = _literal_int(expr)
    if value is not None:
        return value
    if isinstance(expr, ast.Name):
        bound = _binding(file, expr, module_constants=True)
        return literal_count(file, bound, depth + 1) if bound is not None else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
        left, right = literal_count(file, expr.left, depth + 1), literal_count(file, expr.right, depth + 1)
        if left is None or right is None or (isinstance(expr.op, ast.FloorDiv) and right == 0):
            return None
        if isinstance(expr.op, ast.Add):
            result = left + right
        elif isinstance(expr.op, ast.Sub):
            result = left - right
        elif isinstance(expr.op, ast.Mult):
            result = left * right
        else:
            result = left // right
        return result if result >= 0 else None
    return None


def _binding(file: "FileAnalysis", name: ast.Name, module_constants: bool = False) -> ast.AST | None:
    """The value ``name`` was last bound to before it is read, in its own scope; with
    ``module_constants``, a name a function neither receives nor assigns is looked up among the
    module's single-assignment names."""
    scope = file.enclosing_function(name) or file.tree
    bound = binding_before(scope, name.id, file.statement_of(name) or name)
    if bound is None and module_constants and isinstance(scope, FunctionNode) and not _local(scope, name.id):
        bound = _module_constant(file, name.id)
    return bound


def _local(function: ast.AST, name: str) -> bool:
    args = function.args  # type: ignore[attr-defined]
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
    if any(a.arg == name for a in params):
        return True
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store) for n in iter_scope(function))


def _module_constant(file: "FileAnalysis", name: str) -> ast.AST | None:
    """The value of a module-level name assigned exactly once, by a plain ``NAME = value``."""
    values = []
    for node in iter_scope(file.tree):
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            holder = parent(node)
            if not (isinstance(holder, ast.Assign) and node in holder.targets):
                return None
            values.append(holder.value)
    return values[0] if len(values) == 1 else None


def _shape_product(file: "FileAnalysis", parts: list[ast.AST]) -> int | None:
    """The product of a shape the source spells: ``(100, 1)``, ``100, 1``, ``[3]``, ``(N_SAMPLES, 1)``."""
    if len(parts) == 1 and isinstance(parts[0], (ast.Tuple, ast.List)):
        parts = list(parts[0].elts)
    total = 1
    for part in parts:
        value = literal_count(file, part)
        if value is None:
            return None
        total *= value
    return total


def _literal_sequence_length(expr: ast.AST) -> int | None:
    """Elements of a nested literal list or tuple of numbers: ``[[0.1, 0.2], [0.3, 0.4]]`` is 4."""
    if isinstance(expr, ast.Constant) and type(expr.value) in (int, float, bool):
        return 1
    if isinstance(expr, ast.UnaryOp):
        return _literal_sequence_length(expr.operand)
    if isinstance(expr, (ast.List, ast.Tuple)):
        total = 0
        for element in expr.elts:
            inner = _literal_sequence_length(element)
            if inner is None:
                return None
            total += inner
        return total
    return None


def creation_elements(file: "FileAnalysis", call: ast.Call) -> int | None:
    """Elements made by a torch / NumPy creation call whose shape is literal, or by a NumPy random
    generator's method (``rng.rand(100, 1)``); None for any other call."""
    qualified = file.qualname(call.func)
    method = last_name(call.func)
    if method is None:
        return None
    library_call = qualified is not None and qualified.split(".")[0] in _LIBRARIES
    generator_call = not library_call and isinstance(call.func, ast.Attribute) and _is_random_generator(file, call.func.value)
    if not (library_call or generator_call):
        return None
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    size_keyword = next((k.value for k in call.keywords if k.arg in ("size", "shape")), None)
    if method in _LEGACY_CONSTRUCTORS and positional and all(literal_count(file, a) is not None for a in positional):
        return _shape_product(file, positional)  # torch.Tensor(20, 1) is a shape
    if method in ("tensor", "array", "asarray", "as_tensor", *_LEGACY_CONSTRUCTORS) and positional:
        return _literal_sequence_length(positional[0])
    if method in COUNTED_CREATIONS:
        index, default = COUNTED_CREATIONS[method]
        if index is None:  # arange(stop) / arange(start, stop[, step])
            bounds = [literal_count(file, a) for a in positional[:3]]
            if not bounds or any(b is None for b in bounds):
                return None
            start, stop = (0, bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
            step = bounds[2] if len(bounds) == 3 and bounds[2] else 1
            return max(0, -(-(stop - start) // step))  # type: ignore[operator]
        count = positional[index] if len(positional) > index else next((k.value for k in call.keywords if k.arg in ("steps", "num")), None)
        return default if count is None else literal_count(file, count)
    if size_keyword is not None:
        return _shape_product(file, [size_keyword])
    if method in SHAPED_CREATIONS and positional:
        if method == "full":
            positional = positional[:1]
        return _shape_product(file, positional)
    if method in SIZED_RANDOM:
        return 1 if positional else None  # a single draw when no size is given
    return None


def _is_random_generator(file: "FileAnalysis", expr: ast.AST) -> bool:
    """``np.random.RandomState(0)``, ``np.random.default_rng()`` or a name bound to one."""
    if isinstance(expr, ast.Call):
        name = file.qualname(expr.func) or ""
        return name.startswith("numpy.random.") and name.rsplit(".", 1)[-1] in ("RandomState", "default_rng", "Generator")
    if isinstance(expr, ast.Name):
        scope = file.enclosing_function(expr) or file.tree
        bound = binding_before(scope, expr.id, expr)
        return bound is not None and _is_random_generator(file, bound)
    return False


def binding_before(scope: ast.AST, name: str, point: ast.AST) -> ast.AST | None:
    """The value expression of the last plain assignment of ``name`` in ``scope`` that comes before
    ``point`` in the source; None when there is none or it is not a plain one (a loop target,
    an unpacking of a call, an augmented assignment)."""
    found: ast.AST | None = None
    line = getattr(point, "lineno", 0)
    for node in iter_scope(scope):
        if getattr(node, "lineno", line) >= line:
            continue
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    found = node.value
                elif isinstance(target, (ast.Tuple, ast.List)) and name in target_names(target):
                    found = _unpacked(target, node.value, name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            found = node.value
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor, ast.With)) and name in _bound_by(node):
            found = None
    return found


def _bound_by(node: ast.AST) -> list[str]:
    if isinstance(node, ast.AugAssign):
        return target_names(node.target)
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return target_names(node.target)
    if isinstance(node, ast.With):
        return [n for item in node.items if item.optional_vars is not None for n in target_names(item.optional_vars)]
    return []


def _unpacked(target: ast.Tuple | ast.List, value: ast.AST, name: str) -> ast.AST | None:
    """``a, b = x, y`` binds ``a`` to ``x``; any other unpacking is not followed."""
    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
        for element, part in zip(target.elts, value.elts):
            if isinstance(element, ast.Name) and element.id == name:
                return part
            if isinstance(element, (ast.Tuple, ast.List)) and name in target_names(element):
                return _unpacked(element, part, name)
    return None


def expression_elements(file: "FileAnalysis", expr: ast.AST, depth: int = 0) -> int | None:
    """Elements of the tensor or array ``expr`` evaluates to, when the source spells the shape of
    everything it is made from; None otherwise."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, ast.Constant):
        return 1 if type(expr.value) in (int, float, bool) else None
    if isinstance(expr, ast.Name):
        bound = _binding(file, expr)
        return expression_elements(file, bound, depth + 1) if bound is not None else None
    if isinstance(expr, ast.BinOp):
        return _largest([expression_elements(file, expr.left, depth + 1), expression_elements(file, expr.right, depth + 1)])
    if isinstance(expr, ast.UnaryOp):
        return expression_elements(file, expr.operand, depth + 1)
    if isinstance(expr, ast.Subscript):
        return expression_elements(file, expr.value, depth + 1)  # a slice is no larger
    if isinstance(expr, ast.Call):
        made = creation_elements(file, expr)
        if made is not None:
            return made
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in SIZE_KEEPING_METHODS and file.qualname(func) is None:
            return expression_elements(file, func.value, depth + 1)
        qualified = file.qualname(func)
        if qualified is not None and qualified.split(".")[0] in _LIBRARIES and expr.args:
            # torch.sqrt(x), np.sort(x, axis=0), np.radians(x): elementwise or reordering.
            if last_name(func) in SIZE_KEEPING_METHODS or last_name(func) in _ELEMENTWISE_FUNCTIONS:
                return expression_elements(file, expr.args[0], depth + 1)
            if last_name(func) in _LEGACY_CONSTRUCTORS and len(expr.args) == 1:
                return expression_elements(file, expr.args[0], depth + 1)  # a copy of an array (a count was a shape above)
        return None
    if isinstance(expr, ast.Attribute) and expr.attr in ("T", "data", "real", "imag"):
        return expression_elements(file, expr.value, depth + 1)
    return None


# Methods that keep the rows (first axis) of their receiver: casts, moves, copies, elementwise maths.
ROW_KEEPING_METHODS = frozenset(
    {
        "to", "cuda", "cpu", "float", "double", "half", "long", "int", "bool", "clone", "detach", "contiguous",
        "astype", "numpy", "copy", "type", "sqrt", "exp", "log", "abs", "pow", "sin", "cos", "tanh", "sigmoid",
        "relu", "clamp", "clip", "neg", "reciprocal", "square", "rsqrt",
    }
)
# Calls that add a leading axis of one: ``x.unsqueeze(0)``, ``np.expand_dims(x, 0)``.
_LEADING_AXIS = frozenset({"unsqueeze", "expand_dims"})


def leading_rows(file: "FileAnalysis", expr: ast.AST, depth: int = 0) -> int | None:
    """How many rows (entries along the first axis) ``expr`` holds when the source spells it: a
    slice with counted bounds (``x[:5]``, ``x[:n_images]`` with ``n_images = 5``, ``x[-8:]``), a new
    leading axis of one (``x[None]``, ``x.unsqueeze(0)``, ``np.expand_dims(x, axis=0)``), followed through
    names, casts, moves and arithmetic with numbers; None otherwise."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, ast.Name):
        bound = _binding(file, expr)
        if bound is not None:
            return leading_rows(file, bound, depth + 1)
        returned = _returned_part(file, expr)  # `x_train, x_test = load()`: what `load` returns there
        return leading_rows(*returned, depth + 1) if returned is not None else None
    if isinstance(expr, ast.BinOp):
        for side, other in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(other, ast.Constant) or literal_count(file, other) is not None:
                return leading_rows(file, side, depth + 1)
        # `(x - mu) / std`: arithmetic with arrays broadcasts to the rows of the side that has more than one
        rows = [leading_rows(file, side, depth + 1) for side in (expr.left, expr.right)]
        known = [r for r in rows if r is not None and r > 1]
        return known[0] if len(known) == 1 and None in rows else None
    if isinstance(expr, ast.Subscript):
        first = expr.slice.elts[0] if isinstance(expr.slice, ast.Tuple) and expr.slice.elts else expr.slice
        if isinstance(first, ast.Constant) and first.value is None:
            return 1  # x[None]: a new leading axis of one
        if isinstance(first, ast.Slice):
            return _sliced_rows(file, first)
        return None  # x[0] may be one sample or the first part of a tuple (x_test, y_test)
    if isinstance(expr, ast.Call):
        func = expr.func
        method = last_name(func)
        qualified = file.qualname(func)
        library = qualified is not None and qualified.split(".")[0] in (*_LIBRARIES, "tensorflow")
        if method in _LEADING_AXIS and (library or qualified is None):
            args = list(expr.args) if library else [func.value, *expr.args] if isinstance(func, ast.Attribute) else []
            axis = args[1] if len(args) > 1 else next((k.value for k in expr.keywords if k.arg in ("dim", "axis")), None)
            return 1 if _literal_int(axis) == 0 else None
        if isinstance(func, ast.Attribute) and qualified is None and method in ROW_KEEPING_METHODS:
            return leading_rows(file, func.value, depth + 1)
        if library and expr.args and (method in ROW_KEEPING_METHODS or method in _ELEMENTWISE_FUNCTIONS or method in _LEGACY_CONSTRUCTORS):
            return leading_rows(file, expr.args[0], depth + 1)
    return None


def _returned_part(file: "FileAnalysis", name: ast.Name) -> "tuple[FileAnalysis, ast.AST] | None":
    """``a, b = helper(...)`` read at ``name``: the element of the one tuple ``helper`` returns (in this
    file or another project file) that binds it, with the file it is in."""
    scope = file.enclosing_function(name) or file.tree
    point = file.statement_of(name) or name
    found = None
    for node in iter_scope(scope):  # the last binding of the name before it is read must be the unpacking
        if getattr(node, "lineno", point.lineno) >= point.lineno:  # type: ignore[attr-defined]
            continue
        if isinstance(node, ast.Assign) and any(name.id in target_names(t) for t in node.targets):
            target = node.targets[0]
            names = [dotted(e) for e in target.elts] if isinstance(target, ast.Tuple) else []
            found = (node.value, names.index(name.id), len(names)) if isinstance(node.value, ast.Call) and name.id in names else None
        elif name.id in _bound_by(node):
            found = None
    if found is None:
        return None
    call, index, width = found
    definitions = file.resolve_call(call)
    if len(definitions) != 1:
        return None
    owner, function = definitions[0]
    returns = [n for n in iter_scope(function) if isinstance(n, ast.Return)]
    if len(returns) != 1 or not isinstance(returns[0].value, ast.Tuple) or len(returns[0].value.elts) != width:
        return None
    return owner, returns[0].value.elts[index]


def _sliced_rows(file: "FileAnalysis", piece: ast.Slice) -> int | None:
    """Rows a first-axis slice keeps when its bounds are counts: ``[:5]``, ``[10:20]``, ``[-8:]``."""
    step = 1 if piece.step is None else literal_count(file, piece.step)
    if not step:
        return None
    lower = 0 if piece.lower is None else literal_count(file, piece.lower)
    if piece.upper is None:
        tail = piece.lower
        if isinstance(tail, ast.UnaryOp) and isinstance(tail.op, ast.USub):
            count = literal_count(file, tail.operand)
            return None if count is None else -(-count // step)  # x[-8:]: the last eight
        return None
    upper = literal_count(file, piece.upper)
    if lower is None or upper is None:
        return None
    return max(0, -(-(upper - lower) // step))


_ELEMENTWISE_FUNCTIONS = frozenset(
    {
        "radians", "degrees", "sinh", "cosh", "arcsin", "arccos", "arctan", "tan", "log1p", "expm1", "log2",
        "log10", "floor", "ceil", "round", "sign", "maximum", "minimum", "where", "asarray", "ascontiguousarray",
        "from_numpy", "as_tensor", "tensor", "array", "Variable",
    }
)


def _largest(sizes: list[int | None]) -> int | None:
    known = [s for s in sizes if s is not None]
    if len(known) != len(sizes):
        return None
    return max(known) if known else None



# Attributes that hold an object's statistics or schedule: a buffer's size, not an activation's
# (``vae.bn.running_mean``, ``scheduler.alphas_cumprod``, ``pipe.latents_std``).
_STORED_STATE = re.compile(
    r"(?i)(^|_)(running_(mean|var)|alphas?|betas?|sigmas?|timesteps?|alphas_cumprod|schedule|mean|std|var|scale|scaling_factor|shift_factor|eps)$"
)


def from_stored_state(file: "FileAnalysis", expr: ast.AST, depth: int = 0) -> bool:
    """``expr`` is computed only from statistics or schedules an object stores (and constants):
    ``torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + eps).to(device)``, ``sqrt(1 - sched.alphas_cumprod)``."""
    if depth > _MAX_DEPTH:
        return False
    leaves: list[bool] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Constant):
            continue
        if isinstance(node, ast.Name):
            bound = _binding(file, node)
            leaves.append(bound is not None and from_stored_state(file, bound, depth + 1))
        elif isinstance(node, ast.Attribute) and _STORED_STATE.search(node.attr):
            leaves.append(True)
        elif isinstance(node, ast.Attribute) and isinstance(parent(node), ast.BinOp) and not isinstance(node.value, ast.Call):
            continue  # `vae.config.batch_norm_eps`: a configured number beside the statistics
        elif isinstance(node, ast.BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            stack.append(node.operand)
        elif isinstance(node, ast.Subscript):
            stack.append(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SIZE_KEEPING_METHODS and file.qualname(node.func) is None:
            stack.append(node.func.value)
        elif isinstance(node, ast.Call) and node.args and (last_name(node.func) in SIZE_KEEPING_METHODS or last_name(node.func) in _ELEMENTWISE_FUNCTIONS):
            stack.extend(node.args)
        else:
            return False
    return bool(leaves) and all(leaves)


_FROM_HOST = frozenset({"torch.from_numpy", "torch.as_tensor", "torch.tensor", "torch.Tensor", "torch.FloatTensor"})


def from_host_data(file: "FileAnalysis", expr: ast.AST, depth: int = 0) -> bool:
    """``expr`` is input data converted from the host (``torch.from_numpy(image).to(device)``, casts
    and moves of it), not a tensor computed on the device: an input of the size the caller handed
    in, not an intermediate a phase leaves behind."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(expr, ast.Name):
        bound = _binding(file, expr)
        return bound is not None and from_host_data(file, bound, depth + 1)
    if not isinstance(expr, ast.Call):
        return False
    if file.qualname(expr.func) in _FROM_HOST:
        return True
    func = expr.func
    if isinstance(func, ast.Attribute) and func.attr in ("to", "cuda", "float", "half", "double", "contiguous", "unsqueeze") and file.qualname(func) is None:
        return from_host_data(file, func.value, depth + 1)
    return False
