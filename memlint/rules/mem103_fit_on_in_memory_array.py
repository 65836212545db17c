"""MEM103 fit-on-in-memory-array: Keras ``fit`` on whole data arrays held in memory.

``fit`` makes its own tensor copies of the arrays it is given: peak memory is about twice the data
(tensorflow/tensorflow#40942). The arrays seen here: read whole by ``np.load`` (no ``mmap_mode``),
built in memory item by item (a file read per item in a loop, then ``np.array`` / ``np.stack``;
or labels one-hot encoded over a vocabulary with ``to_categorical``), or allocated with a literal shape above
``min-array-mb``. Streaming batches through ``tf.data`` or a ``keras.utils.PyDataset`` keeps one
batch in memory.

Trigger: ``.fit(x, y, ...)``. Query: the flow's value of ``x`` or ``y`` (or, for a parameter,
what callers pass) is such an array, and the receiver is a Keras model (or ``fit`` is called with Keras-only
keywords). Report only: the rewrite changes how data is shuffled and fed.
"""

from __future__ import annotations

import ast

from memlint.analysis import facts, keras
from memlint.analysis.values import ARRAY, Value
from memlint.rule import Invalid, Option, Rule, Valid

_WHY = {
    "np.load": "that `np.load` read whole into memory",
    "built": "built in memory item by item",
    "sized": "of {size} allocated in memory",
}


def _data_arguments(call: ast.Call) -> list[ast.AST]:
    """The ``x`` and ``y`` that ``fit`` is given (positional or by keyword)."""
    found: list[ast.AST] = []
    for arg in call.args[:2]:
        if isinstance(arg, ast.Starred):
            break
        found.append(arg)
    found.extend(k.value for k in call.keywords if k.arg in ("x", "y"))
    return found


class FitOnInMemoryArray(Rule):
    code = "MEM103"
    name = "fit-on-in-memory-array"
    summary = "Keras `fit` on a whole array held in memory (`np.load` without mmap, built in a loop, large)"
    fix_availability = "none"
    libraries = facts.KERAS_LIBRARIES
    options = (
        Option(
            "min-array-mb",
            int,
            1024,
            "Report arrays whose literal shape (np.zeros, np.random.rand ...) holds at least this many MB.",
        ),
    )

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr != "fit":
            return
        held = next((v for v in map(self._held_array, _data_arguments(node)) if v is not None), None)
        if held is None:
            return
        keyword_evidence = any(k.arg in facts.KERAS_FIT_KEYWORDS for k in node.keywords)
        if not keyword_evidence and not keras.is_keras_model(self.file, func.value):
            return
        kind, _, size = held.origin.partition(":")
        why = _WHY[kind].format(size=f"{int(size) / 2**20:,.0f} MB" if size else "")
        self.report(
            node,
            f"`fit` on an array {why}: fit copies it again (peak about 2x the data); stream batches with "
            "`tf.data` or a `keras.utils.PyDataset` (over `np.load(..., mmap_mode='r')` for files)",
        )

    def _held_array(self, x: ast.AST) -> Value | None:
        """The whole array ``x`` holds, when it is one this rule reports."""
        candidates = [self.file.flow_of(x).value_of(x)]
        scope = self.file.enclosing_function(x)
        if isinstance(x, ast.Name) and not candidates[0].known and scope is not None:
            candidates = self.file.argument_values(scope, x.id)  # what callers pass
        limit = (self.settings.get("min-array-mb") or 0) * 2**20
        for value in candidates:
            if value.kind != ARRAY:
                continue
            if value.origin in ("np.load", "built"):
                return value
            if value.origin.startswith("sized:") and limit and int(value.origin[6:]) >= limit:
                return value
        return None

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
        # Seen in real code since 0.1.
        Valid(
            """
            import math

            import tensorflow as tf

            def train_on_texts(model, texts, batch_gen, batch_size, epochs, n_windows):
                gen = batch_gen(texts, batch_size)
                steps = max(math.floor(n_windows / batch_size), 1)
                model.fit(gen, steps_per_epoch=steps, epochs=epochs)
            """,
            why="batches stream from a Python generator; no whole array is built",
        ),
        Valid(
            """
            import numpy as np
            import keras

            model = keras.Sequential([keras.layers.Dense(1)])
            x = np.zeros((1000, 32), dtype="float32")
            model.fit(x, x[:, :1], epochs=1)
            """,
            why="a literal shape of 125 KB, far under min-array-mb",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf
            from sklearn.ensemble import RandomForestClassifier

            def train(paths, labels):
                rows = []
                for path in paths:
                    rows.append(np.load(path).ravel())
                forest = RandomForestClassifier()
                forest.fit(np.array(rows), labels)
                return forest
            """,
            why="an sklearn forest's fit, in a file that imports TensorFlow",
        ),
        Valid(
            """
            import numpy as np
            from tensorflow import keras

            def train(model, make_sample):
                xs = []
                for i in range(3):
                    xs.append(make_sample(i))
                model.fit(np.array(xs), epochs=1)
            """,
            why="a list built over three literal iterations is not a data set",
        ),
        Valid(
            """
            import numpy as np
            from tensorflow import keras

            def to_sequences(size, obs):
                x, y = [], []
                for i in range(len(obs) - size):
                    x.append([[v] for v in obs[i:i + size]])
                    y.append(obs[i + size])
                return np.array(x), np.array(y)

            x_train, y_train = to_sequences(10, spots)
            model = keras.Sequential([keras.layers.LSTM(64), keras.layers.Dense(1)])
            model.fit(x_train, y_train, epochs=100)
            """,
            why="windows cut from a series already in memory: no data set is read, nothing shows a size",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf

            class Agent:
                def __init__(self):
                    self.model = tf.keras.Sequential([tf.keras.layers.Dense(2)])

                def learn(self, batch_samples):
                    states, targets = [], []
                    for s, a, r, next_s, done in batch_samples:
                        states.append(s.flatten())
                        targets.append(self.target(s, a, r, next_s, done))
                    return self.model.fit(x=np.array(states), y=np.array(targets), epochs=1, verbose=0)
            """,
            why="a replay minibatch assembled per step",
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
        # Seen in real code since 0.1 (issue #11's Keras shapes).
        Invalid(
            """
            import numpy as np
            from tensorflow.keras.preprocessing import sequence
            from tensorflow.keras.utils import to_categorical

            def train_on_texts(model, texts, encode, vocab_size, max_len, epochs):
                x, y = [], []
                for text in texts:
                    windows, nexts = encode(text)
                    x.extend(windows)
                    y.extend(nexts)
                x = sequence.pad_sequences(x, maxlen=max_len)
                y = to_categorical(np.array(y), vocab_size)
                model.fit(x, y, batch_size=128, epochs=epochs)
            """,
            line=13,
            why="every training window encoded into padded and one-hot arrays in memory",
        ),
        Invalid(
            {
                "util.py": """
                    import os

                    import numpy as np
                    from PIL import Image

                    def load_folder(x_dir, y_dir):
                        xs, ys = [], []
                        for name in os.listdir(x_dir):
                            xs.append(np.asarray(Image.open(x_dir + name), dtype="uint8") / 255.0)
                            ys.append(np.asarray(Image.open(y_dir + name), dtype="uint8") / 255.0)
                        return np.array(xs), np.array(ys)
                    """,
                "train.py": """
                    import tensorflow as tf

                    from util import load_folder

                    def train(model, x_dir, y_dir, epochs=10):
                        x, y = load_folder(x_dir, y_dir)
                        model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.2)
                    """,
            },
            path="train.py",
            line=7,
            why="a helper in another module opens every image into a list and returns it as arrays",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow import keras

            def train_model(x_train, y_train, epochs, batch_size):
                model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
                model.compile(optimizer="adam", loss="categorical_crossentropy")
                model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs)
                return model

            if __name__ == "__main__":
                images = np.load("all_images.npy")
                images = images.astype("float32") / 255
                train_model(images, keras.utils.to_categorical(np.load("labels.npy"), 2), 30, 512)
            """,
            line=7,
            why="fit on a parameter; the script's only call passes a whole np.load",
        ),
        Invalid(
            """
            import numpy as np
            import keras

            model = keras.Sequential([keras.layers.Dense(10)])
            x = np.random.rand(2_000_000, 784)
            model.fit(x, np.zeros(2_000_000), epochs=1)
            """,
            line=6,
            why="a literal shape of 12 GB, above min-array-mb",
        ),
        Invalid(
            """
            import numpy as np
            import keras

            model = keras.Sequential([keras.layers.Dense(10)])
            x = np.zeros((100_000, 784), dtype="float32")
            model.fit(x, epochs=1)
            """,
            line=6,
            options={"min-array-mb": 100},
            why="314 MB, above a configured min-array-mb of 100",
        ),
    ]
