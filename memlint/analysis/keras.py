"""Keras questions the MEM1xx rules ask, answered from the shared flow.

- ``is_keras_model``: the flow's value first (a ``MODEL`` with framework "keras": factories,
  ``from_preset``, project subclasses, builder functions' returns, sub-models such as
  ``vae.decoder``); for a value the flow cannot trace (a parameter, a name bound to an unknown
  call), what callers pass, how the file uses the name (``compile(optimizer=...)``,
  ``fit(epochs=...)``) and, last, the name itself. A name the file binds to another library's
  predictor (``RandomForestClassifier()``, ``joblib.load(...)``) is not a Keras model; importing
  such a library never switches detection off by itself.
- ``repetition``: what runs a node many times: a loop of its own scope, a loop around a caller of
  its function (in this file or the project, a few calls up), or a library that calls its function
  once per trial (optuna, hyperopt, scikit-optimize ...).
- ``clears_session``: a region that calls ``clear_session()``, itself or through helpers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from memlint.analysis import facts
from memlint.analysis.syntax import FunctionNode, ScopeNode, children, dotted, iter_scope, last_name, literal_loop_bound
from memlint.analysis.values import MODEL, OPAQUE, UNKNOWN, Value

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

MAX_CALLER_DEPTH = 3
SHORT_LOOP = 3  # a loop over at most this many literal items repeats nothing worth a finding


# ============================================================================ models
def is_keras_model(file: "FileAnalysis", expr: ast.AST) -> bool:
    """Is ``expr`` (a receiver) plausibly a Keras model? Unsure means no."""
    value = file.flow_of(expr).value_of(expr)
    if value.kind == MODEL:
        return value.framework == "keras"
    if value.kind not in (UNKNOWN, OPAQUE):
        return False  # a number, an array, a project object of a non-Keras class ...
    if isinstance(expr, ast.Name) and expr.id == "self":
        cls = file.enclosing_class(expr)
        return cls is not None and file.keras_class_kind(cls) == "model"
    name = dotted(expr)
    if name is None:
        return False
    scope = file.enclosing_function(expr)
    if isinstance(expr, ast.Name) and scope is not None and expr.id in _parameters(scope) and not _bound_in(file, scope, expr.id):
        passed = file.argument_values(scope, expr.id)
        if any(v.kind == MODEL and v.framework == "keras" for v in passed):
            return True
        if passed and all(v.known and v.kind != OPAQUE for v in passed):
            return False  # every caller hands over something else
    if isinstance(expr, ast.Name) and scope is not None:
        items = _unpacked_from_parameter(file, scope, expr.id)
        if any(v.kind == MODEL and v.framework == "keras" for v in items):
            return True  # `gen0, gen1, dis0 = models`, and callers pass a tuple of Keras models
    verdict = _binding_evidence(file, scope, name)
    if verdict is not None:
        return verdict
    return facts.looks_like_keras_model_name(name) and not _own_predictors(file)


def _unpacked_from_parameter(file: "FileAnalysis", scope: ast.AST, name: str) -> list:  # -> list[Value]
    """``a, b, c = models`` where ``models`` is a parameter: what every caller's tuple holds at
    ``name``'s position."""
    params = _parameters(scope)
    for node in iter_scope(scope):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], (ast.Tuple, ast.List))):
            continue
        if not (isinstance(node.value, ast.Name) and node.value.id in params):
            continue
        elts = node.targets[0].elts
        index = next((i for i, e in enumerate(elts) if isinstance(e, ast.Name) and e.id == name), None)
        if index is None or any(isinstance(e, ast.Starred) for e in elts):
            continue
        return [v.items[index] for v in file.argument_values(scope, node.value.id) if v.items and len(v.items) == len(elts)]
    return []


def _own_predictors(file: "FileAnalysis") -> bool:
    """The file defines a class, not a Keras model, with a ``predict`` method of its own (a TF1
    network whose ``predict`` runs ``session.run``): a receiver known only by its name may be one."""
    cached = file.__dict__.get("_own_predictors")
    if cached is None:
        cached = file.__dict__["_own_predictors"] = any(
            "predict" in file.methods(cls) and file.keras_class_kind(cls) != "model" for cls in file.classes.values()
        )
    return cached


def keras_model_value(file: "FileAnalysis", expr: ast.AST) -> Value | None:
    """The flow's Keras model value of ``expr`` (its ``origin`` says how it was made), if known."""
    value = file.flow_of(expr).value_of(expr)
    return value if value.kind == MODEL and value.framework == "keras" else None


def _parameters(func: ast.AST) -> set[str]:
    args = func.args  # type: ignore[attr-defined]
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


def _bound_in(file: "FileAnalysis", scope: ast.AST, name: str) -> bool:
    return any(name in names for names, _ in file.flow(scope).assignments)


def _binding_evidence(file: "FileAnalysis", scope: ast.AST | None, name: str) -> bool | None:
    """What the file does with ``name``: True when it is compiled or trained the Keras way; False
    when it is bound to another library's object; None when nothing says."""
    evidence = _name_evidence(file)
    keys = [(id(scope), name), (id(file.tree), name)] if not name.startswith("self.") else [("self", name)]
    for key in keys:
        if key in evidence:
            return evidence[key]
    return None


def _name_evidence(file: "FileAnalysis") -> dict:
    """Per (scope, name): True (compiled/fitted with Keras-only keywords), False (bound to another
    library's predictor: an estimator, ``joblib.load(...)``, ``pickle.load(...)``)."""
    cached = file.__dict__.get("_keras_name_evidence")
    if cached is not None:
        return cached
    evidence: dict = {}
    for node in file.nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = dotted(node.func.value)
            if receiver is None:
                continue
            method = node.func.attr
            words = {k.arg for k in node.keywords if k.arg}
            keras_use = (method == "compile" and words & facts.KERAS_COMPILE_KEYWORDS) or (
                method == "fit" and words & facts.KERAS_FIT_KEYWORDS
            ) or method in facts.KERAS_TRAINING_METHODS
            if keras_use:
                evidence[_key(file, node, receiver)] = True
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            qualified = file.qualname(node.value.func)
            if qualified is not None and facts.library_model(qualified) == "keras":
                continue  # mlflow.keras.load_model: a foreign library handing back a Keras model
            if qualified is None or not (
                qualified.split(".")[0] in facts.FOREIGN_PREDICTORS or facts.FOREIGN_PREDICTOR_CALLS.match(qualified)
            ):
                continue
            for target in node.targets:
                name = dotted(target)
                if name is not None:
                    evidence.setdefault(_key(file, node, name), False)
    file.__dict__["_keras_name_evidence"] = evidence
    return evidence


def _key(file: "FileAnalysis", node: ast.AST, name: str) -> tuple:
    if name.startswith("self."):
        return ("self", name)
    scope = file.enclosing_function(node)
    return (id(scope) if scope is not None else id(file.tree), name)


# ============================================================================ repetition
@dataclass(frozen=True)
class Repetition:
    """What runs a node many times.

    ``kind``: "loop" (a loop of the node's own scope), "caller" (a loop around a call of the node's
    function, ``calls`` deep), "objective" (a library calls the function once per trial).
    ``file`` / ``node``: where that loop or library call is. ``calls``: the calls from the node's
    function outwards to the loop, each with its file; ``functions``: the functions those calls
    enter, innermost first (the node's own function first).
    """

    kind: str
    file: "FileAnalysis"
    node: ast.AST
    calls: tuple[tuple["FileAnalysis", ast.Call], ...] = ()
    functions: tuple[tuple["FileAnalysis", ast.AST], ...] = ()


def repetition(file: "FileAnalysis", node: ast.AST, depth: int = 0, seen: frozenset = frozenset()) -> Repetition | None:
    start = node
    scope = file.enclosing_scope(node)
    while isinstance(scope, ast.Lambda):  # `ds.map(lambda x: f(x))` in a loop runs with the loop
        start, scope = scope, file.enclosing_scope(scope)
    for loop in file.repeating_loops(start):
        if not is_short_loop(loop):
            return Repetition("loop", file, loop)
    func = file.enclosing_function(node)
    if func is None or (id(file), id(func)) in seen:
        return None
    library_call = objective_calls(file).get(id(func))
    if library_call is not None:
        return Repetition("objective", file, library_call, (), ((file, func),))
    if depth >= MAX_CALLER_DEPTH:
        return None
    seen = seen | {(id(file), id(func))}
    for owner, call in callers(file, func):
        found = repetition(owner, call, depth + 1, seen)
        if found is not None:
            kind = "objective" if found.kind == "objective" else "caller"
            return Repetition(kind, found.file, found.node, ((owner, call), *found.calls), ((file, func), *found.functions))
    return None


def callers(file: "FileAnalysis", func: ast.AST) -> list:
    """Every known call of ``func``: by name, through ``self``, through objects of its class."""
    found = list(file.callers(func))  # type: ignore[attr-defined]
    seen = {id(call) for _, call in found}
    for owner, call in file.method_callers(func):
        if id(call) not in seen:
            found.append((owner, call))
    return found


def is_short_loop(loop: ast.AST) -> bool:
    """``for x in (a, b)``, ``range(3)``, ``[f(m) for m in (a, b)]``: a few iterations."""
    if isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        probe = ast.For(target=loop.generators[0].target, iter=loop.generators[0].iter, body=[], orelse=[])
        bound = literal_loop_bound(probe)
    else:
        bound = literal_loop_bound(loop)
    return bound is not None and bound <= SHORT_LOOP


def objective_calls(file: "FileAnalysis") -> dict[int, ast.Call]:
    """Functions of this file that a library calls once per trial, each with the call that hands
    them over (``study.optimize(objective)``, ``fmin(lambda p: objective(p, data), ...)``)."""
    cached = file.__dict__.get("_keras_objectives")
    if cached is not None:
        return cached
    found: dict[int, ast.Call] = {}
    for node in file.nodes:
        if not isinstance(node, ast.Call):
            continue
        handed = _objective_argument(file, node)
        if handed is None:
            continue
        for target in _functions_named_by(file, handed):
            found.setdefault(id(target), node)
    file.__dict__["_keras_objectives"] = found
    return found


def _objective_argument(file: "FileAnalysis", call: ast.Call) -> ast.AST | None:
    qualified = file.qualname(call.func)
    method = last_name(call.func)
    for pattern, index, keyword in facts.REPEATED_OBJECTIVE_CALLS:
        library, _, rest = pattern.partition(".")
        if rest.startswith("*."):
            matches = method == rest[2:] and library in file.libraries
        else:
            matches = qualified == pattern
        if not matches:
            continue
        given = next((k.value for k in call.keywords if k.arg == keyword), None)
        if given is None and len(call.args) > index:
            given = call.args[index]
        return given
    return None


def _functions_named_by(file: "FileAnalysis", expr: ast.AST) -> list[ast.AST]:
    """The functions an objective argument runs: ``objective``, ``self.objective``,
    ``lambda t: objective(t, data)``, ``functools.partial(objective, data=d)``."""
    if isinstance(expr, ast.Lambda):
        targets = []
        for node in ast.walk(expr.body):
            if isinstance(node, ast.Call):
                targets.extend(d for _, d in file.resolve_call(node))
        return targets
    if isinstance(expr, ast.Call) and file.qualname(expr.func) in ("functools.partial", "partial") and expr.args:
        return _functions_named_by(file, expr.args[0])
    if isinstance(expr, (ast.Name, ast.Attribute)):
        probe = ast.Call(func=expr, args=[], keywords=[])
        probe._ml_parent = expr  # type: ignore[attr-defined]  (resolve_call looks up the enclosing class)
        targets = [d for _, d in file.resolve_call(probe)]
        if not targets and isinstance(expr, ast.Name):
            scope = file.enclosing_function(expr)
            if scope is not None:  # a nested def of the calling function
                targets = [n for n in ast.walk(scope) if isinstance(n, FunctionNode) and n.name == expr.id]
        return targets
    return []


# ============================================================================ builders
def returns_model(file: "FileAnalysis", func: ast.AST) -> bool:
    """Does ``func`` hand back a Keras model (a builder function)?"""
    value = file.return_value(func)
    return value.kind == MODEL and value.framework == "keras"


def builds_model(file: "FileAnalysis", func: ast.AST, depth: int = 0) -> bool:
    """Does calling ``func`` build a Keras model (a factory or a model class called in its body, or
    a helper that does)?"""
    if depth > MAX_CALLER_DEPTH:
        return False
    for call in calls_in(func):
        if facts.library_model(file.qualname(call.func) or "") == "keras":
            return True
        made = keras_model_value(file, call)
        if made is None:
            continue
        targets = file.resolve_call(call)
        if (not targets and "." in made.origin) or any(builds_model(o, d, depth + 1) for o, d in targets):
            return True  # a model class, or a builder
    return False


# ============================================================================ sessions
def is_clear_session(file: "FileAnalysis", call: ast.Call) -> bool:
    name = file.keras_qualname(call.func)
    if name is not None and name in facts.KERAS_CLEAR_SESSION:
        return True
    return last_name(call.func) == "clear_session"


def clears_session(file: "FileAnalysis", region: ast.AST, depth: int = 0) -> bool:
    """Does ``region`` (a loop, a function) call ``clear_session()``, itself or through a helper of
    this file or the project (a few calls deep)?"""
    for call in calls_in(region):
        if is_clear_session(file, call):
            return True
        if depth < MAX_CALLER_DEPTH:
            for owner, definition in file.resolve_call(call):
                if definition is not region and _function_clears(owner, definition, depth + 1):
                    return True
    return False


def _function_clears(file: "FileAnalysis", func: ast.AST, depth: int) -> bool:
    cache = file.__dict__.setdefault("_keras_clearing", {})
    if id(func) not in cache:
        cache[id(func)] = False  # a recursive call does not clear
        cache[id(func)] = clears_session(file, func, depth)
    return cache[id(func)]


def calls_in(region: ast.AST) -> Iterator[ast.Call]:
    """Calls that run when ``region`` runs (nested definitions are not entered)."""
    stack = list(children(region))
    while stack:
        node = stack.pop()
        if isinstance(node, ScopeNode):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(children(node))


def clear_session_code(file: "FileAnalysis") -> tuple[str, tuple[str, ...]]:
    """How to spell ``clear_session()`` in this file, and the import it needs."""
    spelled = {local: facts.keras_name(q) for local, q in file.imports.items()}
    for local, name in spelled.items():
        if name in ("keras.backend.clear_session", "keras.utils.clear_session"):
            return f"{local}()", ()
    for wanted, suffix in (("keras.backend", ".clear_session()"), ("keras", ".backend.clear_session()")):
        for local, name in spelled.items():
            if name == wanted:
                return f"{local}{suffix}", ()
    for local, qualified in file.imports.items():
        if qualified == "tensorflow":
            return f"{local}.keras.backend.clear_session()", ()
    if "tensorflow" in file.libraries and "keras" not in file.libraries:
        return "tensorflow.keras.backend.clear_session()", ("tensorflow",)
    return "keras.backend.clear_session()", ("keras",)


# ============================================================================ spelling
def keras_spelling(file: "FileAnalysis") -> str | None:
    """How this file reaches Keras: "tf" (through TensorFlow: ``tf.keras``, ``tensorflow.keras``,
    ``tf_keras``, so the backend is TensorFlow), "keras3" (``import keras`` and a Keras-3-only API:
    ``keras.ops``, ``keras.random``, ``keras.saving``, a ``KERAS_BACKEND``), or None."""
    roots = {q.split(".")[0] for q in file.imports.values()}
    through_tf = any(
        q == "tensorflow" or q.startswith(("tensorflow.keras", "tf_keras")) or q == "tf_keras" for q in file.imports.values()
    )
    standalone = "keras" in roots
    text = file.text
    if "compat.v1" in text or "disable_eager_execution" in text or "Session(" in text:
        return None  # graph mode: a model call gives a symbolic tensor
    if standalone and any(word in text for word in ("keras.ops", "keras.random", "keras.saving", "KERAS_BACKEND")):
        return "keras3"
    if through_tf and not standalone:
        return "tf"
    return None
