"""MEM103 fit-on-in-memory-array: Keras ``fit`` on arrays that ``np.load`` read whole from disk.

``np.load("x.npy")`` without ``mmap_mode`` reads the whole file into memory, and ``fit`` then
makes its own tensor copies of the arrays it is given: peak memory is about twice the data
(tensorflow/tensorflow#40942). Streaming the file in batches through ``tf.data`` or a
``keras.utils.PyDataset`` keeps one batch in memory. Report only: the rewrite changes how data
is shuffled and fed, so it is the user's to make.
"""

from __future__ import annotations

import libcst as cst

from memlint.legacy_rule import Invalid, Rule, Valid
from memlint.rules._keras import KERAS_LIBRARIES, KerasFacts, keras_facts

_FIT_KEYWORDS = frozenset({"epochs", "batch_size", "validation_data", "validation_split", "callbacks", "steps_per_epoch"})
# Methods and numpy functions whose result still holds the whole array (or a copy of it).
_KEEPS_METHODS = frozenset({"astype", "reshape", "copy", "squeeze", "transpose", "swapaxes", "clip", "__getitem__"})
_KEEPS_FUNCTIONS = frozenset(
    {"numpy.asarray", "numpy.array", "numpy.expand_dims", "numpy.squeeze", "numpy.ascontiguousarray", "numpy.reshape", "numpy.float32"}
)


def _x_argument(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None or arg.keyword.value == "x":
            return arg.value
    return None


class FitOnInMemoryArray(Rule):
    code = "MEM103"
    name = "fit-on-in-memory-array"
    summary = "Keras `fit` on an array loaded whole with `np.load` (no `mmap_mode`)"
    fix_availability = "none"
    libraries = KERAS_LIBRARIES

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "fit" or "numpy" not in self.ctx.libraries:
            return
        x = _x_argument(node)
        if x is None:
            return
        facts = keras_facts(self.ctx)
        function = self.ctx.enclosing_function()
        scope = id(function) if function is not None else id(self.ctx.module)
        load = self._whole_load(x, scope, facts, 0)
        if load is None:
            return
        keyword_evidence = any(a.keyword is not None and a.keyword.value in _FIT_KEYWORDS for a in node.args)
        if not keyword_evidence and not facts.is_keras_model(func.value, function, self.ctx.enclosing_class()):
            return
        self.report(
            node,
            "`fit` on an array that `np.load` read whole into memory: fit copies it again (peak about 2x the data); "
            "stream batches with `tf.data` or a `keras.utils.PyDataset` over `np.load(..., mmap_mode='r')`",
        )

    def _whole_load(self, expr: cst.BaseExpression, scope: int, facts: KerasFacts, depth: int) -> cst.Call | None:
        """The ``np.load(...)`` call (without mmap) that ``expr`` still holds whole, if any."""
        if depth > 6:
            return None
        if isinstance(expr, (cst.Subscript, cst.Attribute)):
            return self._whole_load(expr.value, scope, facts, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            return self._whole_load(expr.left, scope, facts, depth + 1) or self._whole_load(expr.right, scope, facts, depth + 1)
        if isinstance(expr, cst.Call):
            name = self.ctx.qualname(expr.func)
            if name == "numpy.load":
                return None if self._mmapped(expr) else expr
            if name in _KEEPS_FUNCTIONS and expr.args:
                return self._whole_load(expr.args[0].value, scope, facts, depth + 1)
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _KEEPS_METHODS:
                return self._whole_load(expr.func.value, scope, facts, depth + 1)
            return None
        if isinstance(expr, cst.Name):
            values = facts.bindings.get((scope, expr.value))
            if values is None:
                values = facts.bindings.get((id(self.ctx.module), expr.value), [])
            for value in values:
                found = self._whole_load(value, scope, facts, depth + 1)
                if found is not None:
                    return found
        return None

    @staticmethod
    def _mmapped(call: cst.Call) -> bool:
        for index, arg in enumerate(call.args):
            if arg.star:
                return True  # cannot tell: stay silent
            is_mmap = (arg.keyword is not None and arg.keyword.value == "mmap_mode") or (arg.keyword is None and index == 1)
            if is_mmap:
                return not (isinstance(arg.value, cst.Name) and arg.value.value == "None")
        return False

    VALID = [
        Valid(
            """
            import numpy as np
            import keras

            def train(model, path):
                x = np.load(path + "/x.npy", mmap_mode="r")
                y = np.load(path + "/y.npy", mmap_mode="r")
                model.fit(x, y, epochs=3)
            """,
            why="memory-mapped arrays",
        ),
        Valid(
            """
            import numpy as np
            import keras

            def train(model, seq):
                model.fit(seq, epochs=3)
            """,
            why="a PyDataset / generator input",
        ),
        Valid(
            """
            import numpy as np
            import keras
            from sklearn.preprocessing import StandardScaler

            x = np.load("features.npy")
            scaler = StandardScaler()
            scaler.fit(x)
            """,
            why="sklearn's fit, not Keras",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf

            (x_train, y_train), _ = tf.keras.datasets.mnist.load_data()
            model = tf.keras.Sequential([tf.keras.layers.Dense(10)])
            model.fit(x_train, y_train, epochs=1)
            """,
            why="a bundled dataset, not np.load",
        ),
        Valid(
            """
            import numpy as np
            import keras

            def train(model, path):
                ds = make_dataset(np.load(path, mmap_mode="r"))
                model.fit(ds, epochs=10)
            """,
            why="fit gets a dataset built over a memory map",
        ),
        Valid(
            """
            import numpy as np
            import keras

            def train(model, files):
                x = np.concatenate([np.load(f) for f in files])
                model.fit(x, epochs=1)
            """,
            why="not followed through concatenate of a comprehension: stay silent",
        ),
        Valid(
            """
            import numpy as np
            import keras

            model = keras.Sequential([keras.layers.Dense(1)])
            x = np.random.rand(100, 4)
            model.fit(x, x[:, :1], epochs=2)
            """,
            why="generated in memory, not loaded from disk",
        ),
        Valid(
            """
            import numpy as np
            import keras

            def fit_pca(pca, path):
                data = np.load(path)
                pca.fit(data)
            """,
            why="no Keras evidence for the receiver",
        ),
        Valid(
            """
            import keras

            def train(model, x):
                model.fit(x, epochs=1)
            """,
            why="numpy not imported",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import numpy as np
            import keras

            def train(model, data_dir):
                x = np.load(f"{data_dir}/x_train.npy")
                y = np.load(f"{data_dir}/y_train.npy")
                model.fit(x, y, batch_size=64, epochs=10)
            """,
            line=7,
        ),
        Invalid(
            """
            import numpy as np
            import tensorflow as tf

            data = np.load("dataset.npz")
            x_train, y_train = data["x"], data["y"]
            model = tf.keras.Sequential([tf.keras.layers.Dense(10)])
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(data["x"], data["y"])
            """,
            line=8,
            why="an npz key: the whole array is read on access",
        ),
        Invalid(
            """
            import numpy as np
            from keras.models import Sequential
            from keras.layers import Dense

            x = np.load("x.npy").astype("float32") / 255.0
            y = np.load("y.npy")
            net = Sequential([Dense(1)])
            net.fit(x, y)
            """,
            line=8,
            why="normalised copy of a whole load; receiver is a Sequential",
        ),
        Invalid(
            """
            import numpy as onp
            from tensorflow import keras

            def run(model):
                images = onp.load("images.npy", allow_pickle=False)
                model.fit(x=images[:50000], y=labels, validation_split=0.1)
            """,
            line=6,
            why="a slice of a whole load, numpy under an alias",
        ),
        Invalid(
            """
            from numpy import load
            import keras

            def run(autoencoder):
                x = load("faces.npy", None)
                autoencoder.fit(x, x)
            """,
            line=6,
            why="explicit mmap_mode None; receiver named like a model",
        ),
        Invalid(
            """
            import numpy as np
            import keras

            class Trainer:
                def __init__(self, path):
                    self.model = keras.Sequential([keras.layers.Dense(2)])
                    self.model.compile(optimizer="adam", loss="mse")
                    self.path = path

                def run(self):
                    x = np.expand_dims(np.load(self.path), -1)
                    self.model.fit(x, x[..., :2])
            """,
            line=12,
            why="through np.expand_dims; receiver is self.model",
        ),
        Invalid(
            """
            import numpy as np
            import tf_keras

            X = np.load("X.npy")
            Y = np.load("Y.npy")

            def main():
                clf = tf_keras.models.load_model("init.h5")
                clf.fit(X, Y, epochs=5)
            """,
            line=9,
            why="module-level arrays used in a function",
        ),
        Invalid(
            """
            import numpy as np
            import keras

            def cv(build, folds, path):
                x = np.load(path)
                for tr, va in folds:
                    model = build()
                    model.fit(x[tr], y[tr], validation_data=(x[va], y[va]), epochs=2)
            """,
            line=8,
            why="fancy-indexed fold of a whole load (another copy)",
        ),
    ]
