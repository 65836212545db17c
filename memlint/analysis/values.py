"""The abstract values of the shared analysis: what an expression is, as far as memory goes.

A ``Value`` is small and immutable. The kinds:

- ``unknown``: nothing known; rules stay silent on it.
- ``number``: a Python number/string/bool, or a tensor that carries no autograd history.
- ``grad``: carries autograd history. ``tensor`` says it is known to be one tensor (so it can be
  detached); otherwise it may be a container of such tensors (model outputs, dicts, lists).
- ``model``: a module instance (``framework`` "torch" or "keras"); calling it runs a forward pass.
- ``loss_fn``: a loss module or function; calling it gives a ``grad`` tensor where grad is on.
- ``optimizer``, ``loader``, ``dataset``: what their names say.
- ``array``: a NumPy array; ``origin`` says where it came from (``np.load``, ``np.load:mmap``).
- ``seq``: a tuple or list whose ``items`` are known (for unpacking), or whose elements ``elem`` are.
- ``function`` / ``class``: a reference to a definition (``origin`` is its qualified name).
- ``opaque``: a helper returns a tuple or dict: the caller must not guess from names.
- ``instance``: an object of a project class (``origin``), whose methods can be looked up.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN = "unknown"
NUMBER = "number"
GRAD = "grad"
MODEL = "model"
LOSS_FN = "loss_fn"
OPTIMIZER = "optimizer"
LOADER = "loader"
DATASET = "dataset"
ARRAY = "array"
SEQ = "seq"
FUNCTION = "function"
CLASS = "class"
OPAQUE = "opaque"
INSTANCE = "instance"


@dataclass(frozen=True)
class Value:
    kind: str
    tensor: bool = False
    framework: str = ""
    origin: str = ""
    items: tuple["Value", ...] = ()
    elem: "Value | None" = None

    @property
    def grad(self) -> bool:
        return self.kind == GRAD

    @property
    def known(self) -> bool:
        return self.kind != UNKNOWN

    def __repr__(self) -> str:  # short, for test failures
        extra = []
        if self.tensor:
            extra.append("tensor")
        if self.framework:
            extra.append(self.framework)
        if self.origin:
            extra.append(self.origin)
        return f"<{self.kind}{':' + ','.join(extra) if extra else ''}>"


UNK = Value(UNKNOWN)
NUM = Value(NUMBER)
GRAD_ANY = Value(GRAD)
GRAD_TENSOR = Value(GRAD, tensor=True)
OPAQUE_VALUE = Value(OPAQUE)
LOSS_FN_VALUE = Value(LOSS_FN)
TORCH_MODEL = Value(MODEL, framework="torch")
KERAS_MODEL = Value(MODEL, framework="keras")


def model(framework: str = "torch", origin: str = "") -> Value:
    return Value(MODEL, framework=framework, origin=origin)


def function_ref(qualname: str) -> Value:
    return Value(FUNCTION, origin=qualname)


def class_ref(qualname: str) -> Value:
    return Value(CLASS, origin=qualname)


def join(values: "list[Value] | tuple[Value, ...]") -> Value:
    """What a name holds after branches that bound it to ``values``."""
    if not values:
        return UNK
    first = values[0]
    if all(v == first for v in values):
        return first
    kinds = {v.kind for v in values}
    if kinds == {GRAD}:
        return GRAD_TENSOR if all(v.tensor for v in values) else GRAD_ANY
    return UNK


def sequence(items: "list[Value] | tuple[Value, ...]") -> Value:
    """A literal tuple or list: history if any item has it."""
    items = tuple(items)
    if any(v.grad for v in items):
        return Value(GRAD, items=items)
    if items and all(v.kind == NUMBER for v in items):
        return Value(NUMBER, items=items)
    return Value(SEQ, items=items) if items else UNK
