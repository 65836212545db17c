"""Keras facts shared by the MEM1xx rules: name normalisation, loops, and "is this a Keras model?".

Not a rule module (the registry only loads ``mem*`` modules). The per-file facts are built
lazily, only after a rule's cheap trigger matched, with one walk of the module, and cached on
the file context so several rules share them.
"""

from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from memlint.context import FileContext, ScopeNode, dotted_name

KERAS_LIBRARIES = frozenset({"keras", "tensorflow", "tf_keras"})

# Spellings of the Keras namespace; ``tensorflow.keras.X`` and ``tf_keras.X`` mean ``keras.X``.
_KERAS_ROOTS = (
    "tensorflow.python.keras",
    "tensorflow.compat.v1.keras",
    "tensorflow.compat.v2.keras",
    "tensorflow.keras",
    "tf_keras",
    "keras.src",
    "keras.api._v2.keras",
    "keras.api.keras",
)

MODEL_FACTORIES = frozenset(
    {
        "keras.Sequential",
        "keras.Model",
        "keras.models.Sequential",
        "keras.models.Model",
        "keras.models.load_model",
        "keras.models.clone_model",
        "keras.models.model_from_json",
        "keras.models.model_from_yaml",
        "keras.models.model_from_config",
        "keras.saving.load_model",
        "keras.engine.training.Model",
        "keras.engine.sequential.Sequential",
        "keras.engine.functional.Functional",
        "keras.engine.Model",
    }
)
# Base classes whose subclasses are models (instantiating one builds a model).
MODEL_BASES = frozenset(
    {"keras.Model", "keras.models.Model", "keras.Sequential", "keras.models.Sequential", "keras.engine.training.Model"}
)
CALLBACK_BASES = frozenset({"keras.callbacks.Callback"})

# Libraries whose objects also have ``.predict`` / ``.fit``: with one of these imported, a
# receiver that is merely named ``model`` may not be a Keras model.
FOREIGN_PREDICTORS = frozenset(
    {
        "sklearn", "xgboost", "lightgbm", "catboost", "statsmodels", "joblib", "pickle", "dill",
        "cloudpickle", "skorch", "sktime", "prophet", "fbprophet", "pmdarima", "hmmlearn", "surprise",
        "pycaret", "autosklearn", "tpot", "imblearn", "ultralytics", "transformers", "onnxruntime",
        "mlflow", "gluonts", "darts", "neuralprophet", "pytorch_tabnet", "flair", "spacy", "deepchem",
    }
)

_MODEL_WORDS = frozenset(
    {
        "model", "models", "net", "network", "generator", "discriminator", "encoder", "decoder",
        "autoencoder", "critic", "actor", "cnn", "rnn", "lstm", "gru", "gan", "vae", "unet", "mlp",
        "convnet", "resnet", "keras", "policy", "qnet", "dqn",
    }
)
_WORD_SPLIT = re.compile(r"[_\d]+|(?<=[a-z])(?=[A-Z])")


def keras_name(qualified: str | None) -> str | None:
    """``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``; other names unchanged."""
    if qualified is None:
        return None
    for root in _KERAS_ROOTS:
        if qualified == root:
            return "keras"
        if qualified.startswith(root + "."):
            return "keras." + qualified[len(root) + 1 :]
    return qualified


def keras_qualname(ctx: FileContext, expr: cst.BaseExpression) -> str | None:
    return keras_name(ctx.qualname(expr))


def is_model_factory(name: str | None) -> bool:
    if name is None:
        return False
    if name in MODEL_FACTORIES:
        return True
    # keras.applications.ResNet50(...), keras.applications.resnet50.ResNet50(...)
    return name.startswith("keras.applications.") and name.rsplit(".", 1)[1][:1].isupper()


def looks_like_model_name(name: str) -> bool:
    """``model``, ``self.generator``, ``base_model``, ``myModel``, ``net2`` ..."""
    name = name.rsplit(".", 1)[-1]
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    if not words:
        return False
    return any(w in _MODEL_WORDS or w.endswith("model") for w in words)


def is_tiny_loop(loop: cst.CSTNode) -> bool:
    """``for x in (a, b):`` or ``for i in range(2):``: a handful of iterations, nothing can pile up."""
    if not isinstance(loop, cst.For):
        return False
    it = loop.iter
    if isinstance(it, (cst.List, cst.Tuple, cst.Set)):
        return len(it.elements) <= 3 and not any(isinstance(e, cst.StarredElement) for e in it.elements)
    if (
        isinstance(it, cst.Call)
        and isinstance(it.func, cst.Name)
        and it.func.value == "range"
        and len(it.args) == 1
        and isinstance(it.args[0].value, cst.Integer)
    ):
        return int(it.args[0].value.evaluated_value) <= 3
    return False


def repeating_loop(ctx: FileContext) -> cst.CSTNode | None:
    """The innermost loop whose every iteration runs the current node, within its scope.

    A node in a ``for`` loop's ``iter`` or ``else`` runs once per loop, not per iteration;
    a ``while`` test runs every iteration. Comprehension elements count as loop bodies.
    """
    stack = ctx.stack
    for index in range(len(stack) - 2, -1, -1):
        node = stack[index]
        child = stack[index + 1]
        if isinstance(node, cst.For) and child is node.body:
            return node
        if isinstance(node, cst.While) and (child is node.body or child is node.test):
            return node
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp)) and child is node.elt:
            return node
        if isinstance(node, cst.DictComp) and (child is node.key or child is node.value):
            return node
        if isinstance(node, ScopeNode):
            return None
    return None


def enclosing_repeating_loops(ctx: FileContext) -> list[cst.CSTNode]:
    """Every loop (within the current scope) that repeats the current node, innermost first."""
    loops = []
    stack = ctx.stack
    for index in range(len(stack) - 2, -1, -1):
        node = stack[index]
        child = stack[index + 1]
        if isinstance(node, cst.For) and child is node.body:
            loops.append(node)
        elif isinstance(node, cst.While) and (child is node.body or child is node.test):
            loops.append(node)
        elif isinstance(node, ScopeNode):
            break
    return loops


def walk(node: cst.CSTNode, skip_scopes: bool = True) -> Iterator[cst.CSTNode]:
    """Pre-order walk below ``node``; nested functions, classes and lambdas are skipped."""
    todo = list(reversed(node.children))
    while todo:
        current = todo.pop()
        yield current
        if skip_scopes and isinstance(current, ScopeNode):
            continue
        todo.extend(reversed(current.children))


def receiver_key(expr: cst.BaseExpression) -> str | None:
    """``model`` or ``self.model`` for a receiver worth tracking, else None."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
        return "self." + expr.attr.value
    return None


_SCOPE_MODULE = "<module>"

_KERAS_FIT_KEYWORDS = frozenset(
    {"epochs", "batch_size", "validation_data", "validation_split", "callbacks", "steps_per_epoch", "initial_epoch", "validation_steps"}
)
_KERAS_COMPILE_KEYWORDS = frozenset({"optimizer", "loss", "metrics", "loss_weights", "run_eagerly", "jit_compile"})


class KerasFacts:
    """Per-file facts: model classes, builder functions, and what each name is bound to per scope."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.model_classes: set[str] = set()
        self.callback_classes: set[str] = set()
        self.builders: set[str] = set()
        self.clearing_functions: set[str] = set()
        # (scope id, key) -> assigned values; scope id: a FunctionDef's name path or a ClassDef for self.x
        self.bindings: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self.parameters: dict[int, set[str]] = {}
        # (scope id, key) of receivers compiled / fitted the Keras way.
        self.keras_used: set[tuple[int, str]] = set()
        libs = {q.split(".")[0] for q in ctx.imports.values()}
        self.foreign = bool(libs & FOREIGN_PREDICTORS)
        self._functions: list[cst.FunctionDef] = []
        self._collect()

    # -------------------------------------------------------------- collection
    def _collect(self) -> None:
        classes: list[cst.ClassDef] = []
        self._scan(self.ctx.module, id(self.ctx.module), None, classes)
        # Model subclasses, including subclasses of in-file subclasses (source order suffices).
        for cls in classes:
            for base in cls.bases:
                name = keras_qualname(self.ctx, base.value)
                local = dotted_name(base.value)
                if name in MODEL_BASES or local in self.model_classes:
                    self.model_classes.add(cls.name.value)
                if name in CALLBACK_BASES or local in self.callback_classes:
                    self.callback_classes.add(cls.name.value)
        # Builders: functions returning a model, to a fixed point (a builder may call a builder).
        changed = True
        while changed:
            changed = False
            for func in self._functions:
                if func.name.value in self.builders:
                    continue
                returns = [r for r in walk(func.body) if isinstance(r, cst.Return) and r.value is not None]
                if any(self.model_value(r.value, id(func)) is True for r in returns):
                    self.builders.add(func.name.value)
                    changed = True
        for func in self._functions:
            if any(self.is_clear_session(n) for n in walk(func.body) if isinstance(n, cst.Call)):
                self.clearing_functions.add(func.name.value)

    def _scan(self, node: cst.CSTNode, scope: int, cls: cst.ClassDef | None, classes: list) -> None:
        for child in node.children:
            if isinstance(child, cst.ClassDef):
                classes.append(child)
                self._scan(child, scope, child, classes)
                continue
            if isinstance(child, cst.FunctionDef):
                self._functions.append(child)
                params = self.parameters.setdefault(id(child), set())
                for param in (*child.params.posonly_params, *child.params.params, *child.params.kwonly_params):
                    params.add(param.name.value)
                self._scan(child, id(child), cls, classes)
                continue
            if isinstance(child, cst.Lambda):
                continue
            if isinstance(child, (cst.Assign, cst.AnnAssign)) and child.value is not None:
                targets = [t.target for t in child.targets] if isinstance(child, cst.Assign) else [child.target]
                for target in targets:
                    key = receiver_key(target)
                    if key is None:
                        continue
                    owner = id(cls) if key.startswith("self.") and cls is not None else scope
                    self.bindings.setdefault((owner, key), []).append(child.value)
            elif isinstance(child, cst.Call) and isinstance(child.func, cst.Attribute):
                method = child.func.attr.value
                words = {a.keyword.value for a in child.args if a.keyword is not None}
                if (method == "compile" and words & _KERAS_COMPILE_KEYWORDS) or (
                    method in ("fit", "fit_generator", "train_on_batch") and (words & _KERAS_FIT_KEYWORDS or method != "fit")
                ):
                    key = receiver_key(child.func.value)
                    if key is not None:
                        owner = id(cls) if key.startswith("self.") and cls is not None else scope
                        self.keras_used.add((owner, key))
            self._scan(child, scope, cls, classes)

    # -------------------------------------------------------------- queries
    def is_clear_session(self, call: cst.Call) -> bool:
        name = keras_qualname(self.ctx, call.func)
        if name is not None and (name.endswith(".clear_session") or name == "tensorflow.compat.v1.reset_default_graph"):
            return True
        dotted = dotted_name(call.func)
        if dotted is not None and dotted.rsplit(".", 1)[-1] == "clear_session":
            return True
        return isinstance(call.func, cst.Name) and call.func.value in self.clearing_functions

    def builds_model(self, call: cst.Call) -> bool:
        """``Sequential(...)``, ``load_model(...)``, ``MyModel(...)``, ``build_model(...)``, ``self.build()``."""
        if is_model_factory(keras_qualname(self.ctx, call.func)):
            return True
        func = call.func
        if isinstance(func, cst.Name):
            if self.ctx.qualname(func) is not None:
                return False
            return func.value in self.model_classes or func.value in self.builders
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
            return func.attr.value in self.builders
        return False

    def model_value(self, expr: cst.BaseExpression, scope: int, depth: int = 0) -> bool | None:
        """True: a Keras model; False: known to be something else; None: cannot tell."""
        if isinstance(expr, cst.Call):
            if self.builds_model(expr):
                return True
            name = self.ctx.qualname(expr.func)
            if name is not None and not keras_name(name).startswith("keras."):
                return False
            return None
        if isinstance(expr, cst.Name) and depth < 4:
            values = self.bindings.get((scope, expr.value)) or self.bindings.get((id(self.ctx.module), expr.value))
            verdicts = [self.model_value(v, scope, depth + 1) for v in values or ()]
            if True in verdicts:
                return True
            if False in verdicts:
                return False
        return None

    def is_keras_model(self, receiver: cst.BaseExpression, func: cst.FunctionDef | None, cls: cst.ClassDef | None) -> bool:
        """Is ``receiver`` plausibly a Keras model? Unsure means no."""
        key = receiver_key(receiver)
        if key is None:
            return False
        module_scope = id(self.ctx.module)
        if key.startswith("self."):
            if cls is None:
                return False
            if key == "self.model" and cls.name.value in self.callback_classes:
                return True
            owner = id(cls)
            values = self.bindings.get((owner, key), [])
            scope = owner
        else:
            scope = id(func) if func is not None else module_scope
            values = self.bindings.get((scope, key))
            if values is None and key not in self.parameters.get(scope, ()):
                values = self.bindings.get((module_scope, key), [])
                scope = module_scope if values else scope
            values = values or []
        if (scope, key) in self.keras_used:
            return True
        func_scope = id(func) if func is not None else module_scope
        verdicts = [self.model_value(v, func_scope if not key.startswith("self.") else module_scope) for v in values]
        if True in verdicts:
            return True
        if False in verdicts:
            return False
        return not self.foreign and looks_like_model_name(key)


def keras_facts(ctx: FileContext) -> KerasFacts:
    """The file's KerasFacts, built on first use and shared by every MEM1xx rule."""
    facts = getattr(ctx, "_memlint_keras_facts", None)
    if facts is None:
        facts = KerasFacts(ctx)
        setattr(ctx, "_memlint_keras_facts", facts)
    return facts
