"""MEM005 oversized-batch: a batch as large as the whole data set, or past a configured bound.

``DataLoader(ds, batch_size=len(ds))`` or Keras ``predict(x, batch_size=len(x))`` put every
sample into one batch: activations for the whole data set are alive at once, which is what
tensorflow/ranking#239 and yunjey/pytorch-tutorial#144 ran out of memory on. Report only: the
batch size changes batch-norm statistics and optimisation, so no size is picked for the user.
"""

from __future__ import annotations

import libcst as cst

from memlint.legacy_rule import Invalid, Option, Rule, Valid

# Keras methods that take batch_size, and the position of batch_size among their positional args.
_KERAS_METHODS = {"fit": 2, "evaluate": 2, "predict": 1}
_KERAS_LIBRARIES = frozenset({"keras", "tensorflow", "tf_keras"})
_LOADER_BATCH_POSITION = 1


def _batch_size_arg(call: cst.Call, position: int) -> cst.BaseExpression | None:
    for index, arg in enumerate(call.args):
        if arg.keyword is not None:
            if arg.keyword.value == "batch_size":
                return arg.value
        elif arg.star:
            return None
        elif index == position:
            return arg.value
    return None


def _unwrap_int(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``int(len(x))`` is still the whole size."""
    while (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Name)
        and expr.func.value == "int"
        and len(expr.args) == 1
        and expr.args[0].keyword is None
        and not expr.args[0].star
    ):
        expr = expr.args[0].value
    return expr


def _is_zero(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Integer) and expr.evaluated_value == 0


def whole_size(expr: cst.BaseExpression) -> str | None:
    """Describe ``len(X)``, ``X.shape[0]``, ``X.size(0)``, ``X.size()[0]``; None for anything else."""
    expr = _unwrap_int(expr)
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name) and func.value == "len" and len(expr.args) == 1 and not expr.args[0].star:
            return "len(...)"
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "size"
            and len(expr.args) == 1
            and expr.args[0].keyword is None
            and _is_zero(expr.args[0].value)
        ):
            return ".size(0)"
        return None
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if not isinstance(index, cst.Index) or not _is_zero(index.value):
            return None
        base = expr.value
        if isinstance(base, cst.Attribute) and base.attr.value == "shape":
            return ".shape[0]"
        if isinstance(base, cst.Call) and isinstance(base.func, cst.Attribute) and base.func.attr.value == "size" and not base.args:
            return ".size()[0]"
    return None


class OversizedBatch(Rule):
    code = "MEM005"
    name = "oversized-batch"
    summary = "Batch size equal to the whole data set (or above `max-batch-size`)"
    fix_availability = "none"
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
    ]

    def visit_Call(self, node: cst.Call) -> None:
        if not node.args:
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _KERAS_METHODS:
            if not (self.ctx.libraries & _KERAS_LIBRARIES):
                return
            where = f"Keras `{func.attr.value}`"
            position = _KERAS_METHODS[func.attr.value]
        else:
            name = self.ctx.qualname(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
            if name is None or name.rsplit(".", 1)[-1] != "DataLoader" or not name.startswith("torch."):
                return
            where = "`DataLoader`"
            position = _LOADER_BATCH_POSITION
        value = _batch_size_arg(node, position)
        if value is None:
            return
        form = whole_size(value)
        if form is not None:
            self.report(
                value,
                f"{where} with batch_size={form}: the whole data set is one batch and all its "
                "activations are alive at once; use a fixed batch size",
            )
            return
        bound = self.settings.get("max-batch-size") or 0
        if bound > 0 and isinstance(value, cst.Integer):
            size = value.evaluated_value
            if isinstance(size, int) and size > bound:
                self.report(
                    value,
                    f"{where} with batch_size={size}, above max-batch-size={bound}: "
                    "peak memory grows with the batch",
                )
