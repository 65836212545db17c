"""MEM005 oversized-batch: a batch as large as the whole data set, or past a configured bound.

``DataLoader(ds, batch_size=len(ds))`` or Keras ``predict(x, batch_size=len(x))`` put every
sample into one batch: activations for the whole data set are alive at once, which is what
tensorflow/ranking#239 and yunjey/pytorch-tutorial#144 ran out of memory on. The same happens with
no batch size at all: ``model(x_test)`` on a whole evaluation split (FelixOpolka/STGCN-PyTorch,
PaulPauls/Tensorflow-Neuroevolution), or ``tf.data.Dataset.from_tensors((features, labels))``,
which makes the whole split one element.

Trigger: a ``DataLoader`` or Keras ``fit``/``evaluate``/``predict`` call, a call of a model (or of a
helper or method that hands its argument to a model), ``from_tensors``.

Query: the batch size reads the whole size (``len(x)``, ``x.shape[0]``, ``x.size(0)``), or the
argument is a whole split by its name and is not a slice, a loop target or a batch read in the
loop. Silent on sets whose size the source spells and which are small (``memlint/analysis/sizes.py``:
a toy regression of 200 points built two lines above, ``linspace(-1, 1, N_SAMPLES)`` with a module
constant), on a split bound to a few counted rows (``x_test[:5]``) or to one item (``unsqueeze(0)``), on
a helper's parameter that every caller fills with one batch, and on a callee of the project that walks
the argument in pieces itself (a function named like a model is not one forward pass over it).

Report only: the batch size changes batch-norm statistics and optimisation, so no size is picked
for the user.
"""

from __future__ import annotations

import ast

from memlint.analysis import facts
from memlint.analysis.sizes import ROW_KEEPING_METHODS, expression_elements, leading_rows
from memlint.analysis.syntax import FunctionNode, dotted, function_params, is_number_literal, last_name, positional, target_names
from memlint.analysis.values import MODEL
from memlint.rule import Invalid, Option, Rule, Valid

# Keras methods that take batch_size, and the position of batch_size among their positional args.
_KERAS_METHODS = {"fit": 2, "evaluate": 2, "predict": 1}
_LOADER_BATCH_POSITION = 1
# A set this small (elements, as the source spells them) is a toy: one batch of it costs nothing.
TOY_ELEMENTS = 1_000_000
# A slice of no more rows than this (as the source spells them) is a batch one would pick anyway.
ONE_BATCH_ROWS = 256
# Calls that split their receiver into parts: a helper that walks its input this way batches it.
_CHUNKING = frozenset({"split", "chunk", "array_split", "tensor_split"})
_FROM_TENSORS = frozenset({"tensorflow.data.Dataset.from_tensors", "tensorflow.compat.v1.data.Dataset.from_tensors"})


def whole_size(expr: ast.AST) -> tuple[str, ast.AST] | None:
    """``len(X)``, ``X.shape[0]``, ``X.size(0)``, ``X.size()[0]`` (also under ``int()``): how it is
    spelled and ``X``; None for anything else."""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "int" and len(expr.args) == 1 and not expr.keywords:
        expr = expr.args[0]
    if isinstance(expr, ast.Call):
        func = expr.func
        args = positional(expr)
        if isinstance(func, ast.Name) and func.id == "len" and len(expr.args) == 1 and len(args) == 1:
            return "len(...)", args[0]
        if isinstance(func, ast.Attribute) and func.attr == "size" and len(expr.args) == 1 and _is_zero(expr.args[0]) and not expr.keywords:
            return ".size(0)", func.value
        return None
    if isinstance(expr, ast.Subscript) and _is_zero(expr.slice):
        base = expr.value
        if isinstance(base, ast.Attribute) and base.attr == "shape":
            return ".shape[0]", base.value
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute) and base.func.attr == "size" and not base.args:
            return ".size()[0]", base.func.value
    return None


def _is_zero(expr: ast.AST) -> bool:
    return isinstance(expr, ast.Constant) and type(expr.value) is int and expr.value == 0


def _batch_size_argument(call: ast.Call, position: int) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == "batch_size":
            return kw.value
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if index == position:
            return arg
    return None


def _whole_set_name(arg: ast.AST) -> str | None:
    """The dotted name of ``arg`` when it is spelled like a whole split (``x_test``), else None."""
    if isinstance(arg, ast.Starred):
        return None
    name = dotted(_core(arg))
    if name is None or not facts.WHOLE_SET_NAME.match(name.rsplit(".", 1)[-1]):
        return None
    return name


def _core(expr: ast.AST) -> ast.AST:
    """``x_test.to(device).float()`` and ``x_test / 255.0`` hold the rows of ``x_test``."""
    for _ in range(8):
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ROW_KEEPING_METHODS:
            expr = expr.func.value
        elif isinstance(expr, ast.BinOp) and is_number_literal(expr.right):
            expr = expr.left
        elif isinstance(expr, ast.BinOp) and is_number_literal(expr.left):
            expr = expr.right
        else:
            break
    return expr


def _slices_rows_of(node: ast.AST, param: str) -> bool:
    """``param[start : stop]`` (also ``param[a:b, :]``) with a bound that is not a literal: a piece that moves."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == param):
        return False
    first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and node.slice.elts else node.slice
    return isinstance(first, ast.Slice) and any(
        bound is not None and not isinstance(bound, ast.Constant) for bound in (first.lower, first.upper)
    )


def _chunks(node: ast.AST, param: str) -> bool:
    """``param.split(n)``, ``torch.chunk(param, k)``, ``np.array_split(param, k)``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CHUNKING):
        return False
    receiver = node.func.value
    if isinstance(receiver, ast.Name) and receiver.id == param:
        return True
    return bool(node.args) and isinstance(node.args[0], ast.Name) and node.args[0].id == param


class OversizedBatch(Rule):
    code = "MEM005"
    name = "oversized-batch"
    summary = "Batch size equal to the whole data set (or above `max-batch-size`)"
    fix_availability = "none"
    fix_kinds: dict = {}
    libraries = frozenset({"torch", "keras", "tensorflow", "tf_keras"})
    options = (
        Option(
            "max-batch-size",
            int,
            0,
            "Report integer batch sizes above this bound; 0 turns the literal check off.",
        ),
    )

    VALID = [
        Valid(
            """
            from torch.utils.data import DataLoader


            def make_loaders(train_set, val_set, batch_size):
                train = DataLoader(train_set, batch_size=batch_size, shuffle=True)
                val = DataLoader(val_set, batch_size=batch_size * 2)
                return train, val
            """,
            why="size from an argument",
        ),
        Valid(
            """
            import torch


            def loaders(cfg, dataset):
                return torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, num_workers=4)
            """,
            why="size from config",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader

            loader = DataLoader(dataset, batch_size=64, shuffle=True)
            """,
            why="small literal, and the literal bound is off by default",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader

            loader = DataLoader(dataset, batch_size=512)
            """,
            why="literal below the configured bound",
            options={"max-batch-size": 4096},
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def loader_for(ds, limit=256):
                return DataLoader(ds, batch_size=min(len(ds), limit))
            """,
            why="capped by min()",
        ),
        Valid(
            """
            import torch


            def mixup(x, y, alpha):
                batch_size = x.shape[0]
                index = torch.randperm(batch_size)
                return x * alpha + x[index] * (1 - alpha), y, y[index]
            """,
            why="batch_size as a local name computed from the batch is not a loader setting",
        ),
        Valid(
            """
            import torch
            from sklearn.linear_model import SGDClassifier


            def baseline(features, labels):
                clf = SGDClassifier()
                clf.fit(features, labels)
                return clf.predict(features[: len(features)])
            """,
            why="fit/predict in a file without Keras or TensorFlow are not Keras calls",
        ),
        Valid(
            """
            from tensorflow import keras


            def train(model, x, y, epochs):
                model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.1)
                return model.predict(x, batch_size=256)
            """,
            why="Keras with ordinary batch sizes",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def chunks(ds, parts):
                return DataLoader(ds, batch_size=len(ds) // parts)
            """,
            why="a fraction of the data set is a chosen size",
        ),
        Valid(
            """
            import numpy as np
            from tensorflow import keras

            rng = np.random.default_rng(7)
            inputs = rng.uniform(-1.0, 1.0, size=(200, 1))
            targets = inputs ** 3
            net = keras.Sequential([keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
            net.compile(optimizer="adam", loss="mse")
            net.fit(inputs, targets, batch_size=len(inputs), epochs=500, verbose=0)
            """,
            why="full-batch training of a toy set of 200 points whose size the source spells",
        ),
        Valid(
            """
            import torch


            def curve(model):
                x_test = torch.linspace(-3.0, 3.0, 400).unsqueeze(1)
                with torch.no_grad():
                    return model(x_test)
            """,
            why="a toy grid of 400 points built just above",
        ),
        Valid(
            """
            import torch


            @torch.no_grad()
            def predict_all(model, x_test, batch=256):
                outputs = []
                for start in range(0, len(x_test), batch):
                    outputs.append(model(x_test[start : start + batch]))
                return torch.cat(outputs)
            """,
            why="the set is sliced into batches",
        ),
        Valid(
            """
            import torch


            @torch.no_grad()
            def validate(model, val_loader):
                for x_val, y_val in val_loader:
                    print((model(x_val).argmax(1) == y_val).float().mean().item())
            """,
            why="a loop target named like the split is one batch",
        ),
        Valid(
            """
            from tensorflow import keras


            def score(path, x_test):
                model = keras.models.load_model(path)
                return model.predict(x_test)
            """,
            why="Keras predict batches by itself (32 per batch unless told otherwise)",
        ),
        Valid(
            """
            import torch


            def full_batch_fit(model, x_train, y_train, optimizer, epochs):
                for _ in range(epochs):
                    optimizer.zero_grad()
                    torch.nn.functional.mse_loss(model(x_train), y_train).backward()
                    optimizer.step()
            """,
            why="full-batch training is a choice of algorithm, not an evaluation pushed through at once",
        ),
        Valid(
            """
            import tensorflow as tf


            def eval_input(features, labels):
                return tf.data.Dataset.from_tensors((features, labels)).unbatch().batch(128)
            """,
            why="the single element is split again into batches",
        ),
        Valid(
            """
            import torch


            def test_model_accepts_a_batch(model_factory):
                model = model_factory()
                x_test = torch.randn(4, 3, 32, 32)
                assert model(x_test).shape == (4, 10)
            """,
            why="a unit test feeding a tiny batch",
        ),
    ]

    INVALID = [
        Invalid(
            """
            from torch.utils.data import DataLoader


            def evaluate(model, test_set):
                loader = DataLoader(test_set, batch_size=len(test_set))
                images, labels = next(iter(loader))
                return (model(images).argmax(1) == labels).float().mean().item()
            """,
            line=5,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import TensorDataset


            def full_batch(X, y):
                ds = TensorDataset(X, y)
                return torch.utils.data.DataLoader(ds, batch_size=X.shape[0], shuffle=True)
            """,
            line=7,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL


            def loader(features, targets, dataset):
                return DL(dataset, features.size(0))
            """,
            line=5,
            why="positional batch_size",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow import keras


            def predict_all(model, x):
                return model.predict(x, batch_size=len(x))
            """,
            line=6,
        ),
        Invalid(
            """
            import keras


            def train(model, x_train, y_train):
                model.compile(optimizer="adam", loss="mse")
                model.fit(x_train, y_train, batch_size=x_train.shape[0], epochs=100)
            """,
            line=6,
        ),
        Invalid(
            """
            import tensorflow as tf


            def score(model, x_test, y_test):
                return model.evaluate(x_test, y_test, int(len(x_test)))
            """,
            line=5,
            why="positional batch_size wrapped in int()",
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader

            loader = DataLoader(dataset, batch_size=100_000, shuffle=False)
            """,
            line=3,
            options={"max-batch-size": 8192},
        ),
        Invalid(
            """
            import torch


            def all_at_once(data):
                loader = torch.utils.data.DataLoader(data, batch_size=data.size()[0])
                for batch in loader:
                    yield batch
            """,
            line=5,
        ),
        Invalid(
            """
            import tensorflow as tf


            def fit(model, x, y):
                model.fit(x, y, batch_size=65536, epochs=3)
            """,
            line=5,
            options={"max-batch-size": 4096},
        ),
        Invalid(
            """
            import torch


            def report(net, x_test, y_test, device):
                net.eval()
                with torch.no_grad():
                    scores = net(x_test.to(device))
                return (scores.argmax(1).cpu() == y_test).float().mean().item()
            """,
            line=7,
            why="the whole test split through one forward call, no batch size to read",
        ),
        Invalid(
            """
            import torch


            def train(net, graph, step, val_x, val_y, epochs, device):
                for epoch in range(epochs):
                    step(net)
                    with torch.no_grad():
                        val_x = val_x.to(device)
                        loss = torch.nn.functional.mse_loss(net(graph, val_x), val_y.to(device))
                    print(epoch, loss.item())
            """,
            line=9,
            why="moved to the device inside the epoch loop, but still the whole split",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            model = keras.models.load_model("digits.keras")
            probabilities = model(x_test / 255.0, training=False)
            print(np.mean(np.argmax(probabilities, axis=1) == y_test))
            """,
            line=6,
            why="a Keras model called directly (not predict) on the whole test split",
        ),
        Invalid(
            """
            import tensorflow as tf


            class Service:
                def __init__(self, model):
                    self.model = model

                def scores(self, x_test):
                    return self._infer(x_test).numpy()

                @tf.function(reduce_retracing=True)
                def _infer(self, x):
                    return self.model(x, training=False)
            """,
            line=9,
            why="a helper hands its whole input to the model",
        ),
        Invalid(
            """
            import torch
            from torch import nn


            class Regressor(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(32, 1)

                def forward(self, x):
                    return self.body(x)

                def predict(self, inputs):
                    with torch.no_grad():
                        return self(inputs)


            def evaluate(x_all, y_all):
                model = Regressor()
                model.load_state_dict(torch.load("regressor.pt"))
                return ((model.predict(x_all) - y_all) ** 2).mean().item()
            """,
            line=21,
            why="the project model's own predict runs one forward over whatever it is given",
        ),
        Invalid(
            """
            import tensorflow as tf


            def make_eval_input(features, labels):
                def input_fn():
                    return tf.data.Dataset.from_tensors((features, labels))

                return input_fn
            """,
            line=6,
            why="the whole split becomes one element of the pipeline",
        ),
        Invalid(
            """
            from torch.utils import data


            def loaders(train_set, test_set, batch_size):
                train = data.DataLoader(train_set, batch_size=batch_size, shuffle=True)
                test = data.DataLoader(
                    test_set,
                    batch_size=len(test_set),
                    shuffle=False,
                )
                return train, test
            """,
            line=8,
            why="the finding sits on the batch size of a call spread over lines",
        ),
    ]

    # ------------------------------------------------------------------ triggers
    def visit_Call(self, node: ast.Call) -> None:
        if not node.args and not node.keywords:
            return
        if self._batch_size(node):
            return
        if self.file.is_test_file:
            return  # tests push tiny sets through on purpose
        if self.file.qualname(node.func) in _FROM_TENSORS:
            self._single_element(node)
        else:
            self._whole_set_forward(node)

    # ------------------------------------------------------------------ batch_size=len(x)
    def _batch_size(self, node: ast.Call) -> bool:
        """Check a DataLoader / Keras batch size; True when ``node`` is one of those calls."""
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _KERAS_METHODS:
            if not self.file.imports_any(facts.KERAS_LIBRARIES):
                return False
            where = f"Keras `{func.attr}`"
            position = _KERAS_METHODS[func.attr]
        else:
            name = self.file.qualname(func)
            if name is None or name.rsplit(".", 1)[-1] != "DataLoader" or not name.startswith("torch."):
                return False
            where = "`DataLoader`"
            position = _LOADER_BATCH_POSITION
        value = _batch_size_argument(node, position)
        if value is None:
            return True
        form = whole_size(value)
        if form is not None:
            spelled, data = form
            if not self._toy(data):
                self.report(
                    value,
                    f"{where} with batch_size={spelled}: the whole data set is one batch and all its "
                    "activations are alive at once; use a fixed batch size",
                )
            return True
        bound = self.settings.get("max-batch-size") or 0
        if bound > 0 and isinstance(value, ast.Constant) and type(value.value) is int and value.value > bound:
            self.report(
                value,
                f"{where} with batch_size={value.value}, above max-batch-size={bound}: "
                "peak memory grows with the batch",
            )
        return True

    def _toy(self, data: ast.AST, file=None) -> bool:  # type: ignore[no-untyped-def]
        """A set whose size the source spells, small enough that one batch of it costs nothing."""
        elements = expression_elements(file or self.file, _core(data))
        return elements is not None and elements <= TOY_ELEMENTS

    # ------------------------------------------------------------------ model(x_test)
    def _whole_set_forward(self, call: ast.Call) -> None:
        named = [i for i, arg in enumerate(call.args) if _whole_set_name(arg) is not None]
        if not named:
            return  # asked first: the name is cheap, the model question is not
        passes = self._passes_to_model(call)
        for index in named:
            if index not in passes or self._walks_in_chunks(call, index):
                continue
            data = self._whole_set(call, call.args[index])
            if data is not None:
                callee = dotted(call.func) or last_name(call.func) or "the model"
                self.report(
                    call,
                    f"`{callee}(...)` runs the whole set `{data}` through one forward pass: the activations "
                    f"of every sample are alive at once; run it in batches (a `DataLoader`, or slices of `{data}`)",
                )
                return

    def _passes_to_model(self, call: ast.Call) -> set[int]:
        """Positions of the arguments that reach a model's forward as they are: every one for a
        model call, the ones a helper (or a method of a project class) hands to a model."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in facts.MODULE_NON_FORWARD_METHODS and func.attr != "predict":
            return set()
        if self._is_model(self.file, call):
            return set(range(len(call.args)))
        for owner, definition in self._definitions(call):
            found = self._forwarded_parameters(owner, definition, call)
            if found:
                return found
        return set()

    def _definitions(self, call: ast.Call) -> list:
        found = list(self.file.resolve_call(call))
        func = call.func
        if not found and isinstance(func, ast.Attribute):
            receiver = self.file.flow_of(call).value_of(func.value)
            method = self.file.method_of(receiver, func.attr)
            if method is not None:
                found.append(method)
        return found

    @staticmethod
    def _is_model(file, call: ast.Call) -> bool:  # type: ignore[no-untyped-def]
        func = call.func
        if isinstance(func, ast.Name) and func.id == "self":
            cls = file.enclosing_class(call)
            return cls is not None and file.is_torch_module_class(cls)
        if isinstance(func, ast.Attribute) and func.attr == "forward":
            func = func.value
        if file.flow_of(call).value_of(func).kind == MODEL:
            return True
        if file.qualname(func) is not None:
            return False  # a library function
        name = (last_name(func) or "").lstrip("_").lower()
        return bool(facts.MODEL_NAME.search(name)) and not facts.NOT_MODEL_CALLEE.search(name) and not facts.NOT_TRAINED_NAME.search(name)

    def _forwarded_parameters(self, owner, definition, call: ast.Call) -> set[int]:  # type: ignore[no-untyped-def]
        """Call-site positions whose parameter the helper passes straight to a model, outside any
        loop of its own (a helper that batches is fine)."""
        if not isinstance(definition, FunctionNode):
            return set()
        params = [a.arg for a in (*definition.args.posonlyargs, *definition.args.args)]
        if params and params[0] in ("self", "cls") and isinstance(call.func, ast.Attribute):
            params = params[1:]
        forwarded: set[int] = set()
        for node in ast.walk(definition):
            if not isinstance(node, ast.Call) or owner.enclosing_loops(node) or owner.enclosing_function(node) is not definition:
                continue
            if not self._is_model(owner, node):
                continue
            for arg in node.args:
                if isinstance(arg, ast.Name) and arg.id in params:
                    forwarded.add(params.index(arg.id))
        return forwarded

    def _whole_set(self, call: ast.Call, arg: ast.AST) -> str | None:
        """The name of a whole evaluation split passed as ``arg``, or None."""
        name = _whole_set_name(arg)
        if name is None:
            return None
        if self._one_batch(self.file, call, arg) or self._batches_from_callers(call, _core(arg)):
            return None
        return name

    def _one_batch(self, file, call: ast.Call, arg: ast.AST) -> bool:  # type: ignore[no-untyped-def]
        """``arg`` at ``call`` is no whole set, whatever its name: a batch bound per iteration of a
        loop, a toy set, or a few rows the source counts (``x_test[:5]``, ``x.unsqueeze(0)``)."""
        core = _core(arg)
        name = dotted(core)
        if name is not None and self._bound_per_iteration(file, call, name):
            return True
        rows = leading_rows(file, core)
        return (rows is not None and rows <= ONE_BATCH_ROWS) or self._toy(core, file)

    def _batches_from_callers(self, call: ast.Call, core: ast.AST) -> bool:
        """``core`` is a parameter of the function around ``call`` that every caller known fills with
        one batch (``for pair in test_ds: show(model, pair[0])`` in a loop that reads batches)."""
        function = self.file.enclosing_function(call)
        if not isinstance(core, ast.Name) or function is None or core.id not in function_params(function):
            return False
        if expression_elements(self.file, core) is not None or leading_rows(self.file, core) is not None:
            return False  # rebound in the function: the rebinding decided above
        callers = [*self.file.callers(function), *self.file.method_callers(function)]  # type: ignore[attr-defined]
        given = [(owner, site, self.file.argument_given(function, core.id, site)) for owner, site in callers]
        return bool(given) and all(arg is not None and self._one_batch(owner, site, arg) for owner, site, arg in given)

    def _walks_in_chunks(self, call: ast.Call, index: int) -> bool:
        """The callee is a function of the project that walks the parameter at ``index`` in pieces: a
        slice that moves inside a loop of its own (``for i in range(0, n, step): ... x[i : i + step]``)
        or a ``split``/``chunk`` of it. That is no forward pass over the whole set, whatever the
        callee's name."""
        for owner, definition in self._definitions(call):
            if not isinstance(definition, FunctionNode):
                continue
            params = function_params(definition)
            if params and params[0] in ("self", "cls") and isinstance(call.func, ast.Attribute):
                params = params[1:]
            if index >= len(params):
                continue
            param = params[index]
            for node in ast.walk(definition):
                if owner.enclosing_function(node) is not definition:
                    continue
                if _chunks(node, param) or (owner.enclosing_loops(node) and _slices_rows_of(node, param)):
                    return True
        return False

    def _bound_per_iteration(self, file, call: ast.Call, name: str) -> bool:  # type: ignore[no-untyped-def]
        """``name`` is a loop target, or rebound in the loop from something else (a batch)."""
        for loop in file.enclosing_loops(call):
            if isinstance(loop, (ast.For, ast.AsyncFor)) and name in target_names(loop.target):
                return True
            for node in ast.walk(loop):
                if isinstance(node, ast.Assign) and any(name in target_names(t) for t in node.targets):
                    if name not in {dotted(n) for n in ast.walk(node.value)}:
                        return True
        return False

    # ------------------------------------------------------------------ from_tensors((x, y))
    def _single_element(self, call: ast.Call) -> None:
        """``tf.data.Dataset.from_tensors((features, labels))``: the whole arrays are one element."""
        if not call.args:
            return
        outer = call
        while True:  # `.unbatch()` later splits the element again
            holder = getattr(outer, "_ml_parent", None)
            if not isinstance(holder, ast.Attribute):
                break
            if holder.attr in ("unbatch", "flat_map", "rebatch"):
                return
            outer = getattr(holder, "_ml_parent", None) or holder
        first = call.args[0]
        parts = first.elts if isinstance(first, (ast.Tuple, ast.List)) else [first]
        names = [dotted(_core(p)) for p in parts]
        data = [n for n in names if n is not None and (facts.DATA_NAME.search(n.rsplit(".", 1)[-1]) or facts.WHOLE_SET_NAME.match(n.rsplit(".", 1)[-1]))]
        if not data or any(self._toy(_core(p)) for p in parts):
            return
        self.report(
            call,
            f"`from_tensors` makes `{', '.join(data)}` one element: the whole set is one batch and all its "
            "activations are alive at once; use `from_tensor_slices(...).batch(n)`",
        )


# Real-code review (benchmarks/realcode/verdicts.tsv): shapes that read like a whole split but hold one
# batch, a toy set or a chunked walk, and the whole splits next to them that must still be found.
OversizedBatch.VALID += [
    Valid(
        """
        import tensorflow as tf

        SHOWN = 6


        def preview(classifier, x_val):
            val_images = x_val[:SHOWN]
            return tf.argmax(classifier(val_images), axis=1)
        """,
        why="a name like a split bound to a slice of six rows, counted by a module constant",
    ),
    Valid(
        """
        import numpy as np
        import torch


        def check_shapes(net, path):
            recording = np.load(path)
            test_input = torch.from_numpy(recording).float().unsqueeze(0)
            output, _ = net(test_input, None)
            return output.shape
        """,
        why="unsqueeze(0) makes a batch of one recording, however long it is",
    ),
    Valid(
        """
        import tensorflow as tf


        def draw(gen, test_input, epoch):
            fake = gen(test_input, training=False)
            tf.io.write_file(f"sample_{epoch}.png", tf.io.encode_png(tf.cast(fake[0] * 255.0, tf.uint8)))


        def train(gen, train_ds, test_ds, epochs, step):
            for epoch in range(epochs):
                for pair in train_ds:
                    step(pair)
                for pair in test_ds.batch(1):
                    source, _ = tf.split(pair, 2, axis=-1)
                    draw(gen, source, epoch)
                    break
        """,
        why="the helper's parameter is named like a split, but its only caller hands it one batch read in a loop",
    ),
    Valid(
        """
        import torch
        from torch import nn

        COUNT = 40
        WIDTH = 200

        test_x = torch.unsqueeze(torch.linspace(-2.0, 2.0, COUNT), dim=1)
        test_y = test_x.pow(2) + 0.1 * torch.randn(COUNT, 1)
        net = nn.Sequential(nn.Linear(1, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))
        net.eval()
        print(nn.functional.mse_loss(net(test_x), test_y).item())
        """,
        why="40 points, a count the source spells through a module constant",
    ),
    Valid(
        """
        import numpy as np
        import torch
        from torch.autograd import Variable

        STEPS = 25
        grid = np.tan(np.linspace(-1.0, 1.0, STEPS + 5))
        x_eval = Variable(torch.Tensor(grid).float().unsqueeze(1), volatile=True)
        model = torch.load("curve.pt")
        curve = model(x_eval).data.numpy()
        """,
        why="30 points through old-style constructors (`Variable`, `torch.Tensor(array)`): still a toy grid",
    ),
    Valid(
        """
        import torch


        @torch.no_grad()
        def vote_classifier(bank, bank_labels, test_features, k, step=256):
            votes = []
            for start in range(0, test_features.shape[0], step):
                block = test_features[start : start + step] @ bank.T
                votes.append(bank_labels[block.topk(k, dim=1).indices].mode(dim=1).values)
            return torch.cat(votes)


        def run(bank, bank_labels, test_features):
            return vote_classifier(bank, bank_labels, test_features, k=20)
        """,
        why="a plain function named like a model walks its input in slices itself: no forward over the set",
    ),
]

OversizedBatch.INVALID += [
    Invalid(
        """
        import torch


        def score(net, images, labels):
            x_test = images[:8000].float() / 255.0
            with torch.no_grad():
                return (net(x_test).argmax(1) == labels[:8000]).float().mean().item()
        """,
        line=7,
        why="a slice of 8,000 rows is no batch one would pick: still the whole evaluation set at once",
    ),
    Invalid(
        """
        import torch


        def show(model, test_input):
            with torch.no_grad():
                return model(test_input)


        def main(model, loader_fn):
            test_input, _ = loader_fn("test")
            for batch in loader_fn("train"):
                show(model, batch)
            return show(model, test_input)
        """,
        line=6,
        why="one caller hands the helper a batch, another the whole split",
    ),
    Invalid(
        """
        import torch


        def linear_classifier(weights, test_features, bias):
            blocks = []
            for _ in range(3):
                blocks.append(test_features[:, :16] @ weights)
            return torch.stack(blocks) + bias


        def run(weights, test_features, bias):
            return linear_classifier(weights, test_features, bias)
        """,
        line=12,
        why="slicing columns, not rows, inside the loop is no walk over the set",
    ),
]
OversizedBatch.VALID += [
    Valid(
        {
            "lessons/__init__.py": "",
            "lessons/prep.py": """
                import numpy as np


                def split_rows(table):
                    rows = np.asarray(table, dtype=np.float32)
                    x_train = rows[:-200]
                    x_test = rows[-200:]
                    scale = x_train.std(axis=0) + 1e-6
                    x_test = (x_test - x_train.mean(axis=0)) / scale
                    return x_train, x_test
            """,
            "lessons/fit_mlp.py": """
                import numpy as np
                import torch
                from prep import split_rows

                x_train, x_test = split_rows(np.load("table.npy"))
                x_test = torch.from_numpy(x_test).float()
                net = torch.nn.Linear(16, 2)
                with torch.no_grad():
                    print(net(x_test).argmax(1))
            """,
        },
        why="the helper in the script's own folder cuts the split to its last 200 rows (normalised by "
        "broadcasting): one batch, counted across the files",
    ),
]
