"""MEM101 predict-in-loop: ``model.predict(...)`` called on every iteration of a loop.

``Model.predict`` is built for one big input: each call wraps the input in a data adapter and
an epoch iterator, splits it into batches and concatenates the outputs. Called once per step of
a loop (a game loop, a per-sample loop, a GAN's sampling step) that machinery is rebuilt every
time, and memory has been seen to grow with every call (keras-team/keras#13118, over 20 GB;
tensorflow/tensorflow#33009). ``predict_on_batch(x)`` runs one forward pass and returns the same
NumPy arrays. The receiver must plausibly be a Keras model: sklearn estimators and the like
also have ``predict``, so when unsure the rule stays silent.
"""

from __future__ import annotations

import libcst as cst

from memlint.legacy_rule import Fix, Invalid, Rule, Valid
from memlint.rules._keras import KERAS_LIBRARIES, is_tiny_loop, keras_facts, receiver_key, repeating_loop, walk

# Argument names that usually hold a dataset or a generator, which predict_on_batch cannot take.
_STREAM_WORDS = ("ds", "dataset", "gen", "generator", "loader", "iterator", "iter", "flow", "seq", "sequence", "pipeline")
_STREAM_METHODS = frozenset({"batch", "flow", "flow_from_directory", "flow_from_dataframe", "prefetch", "take", "map", "shuffle"})


def _looks_like_stream(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call):
        func = expr.func
        return isinstance(func, cst.Attribute) and func.attr.value in _STREAM_METHODS
    name = None
    if isinstance(expr, cst.Name):
        name = expr.value
    elif isinstance(expr, cst.Attribute):
        name = expr.attr.value
    if name is None:
        return False
    words = name.lower().split("_")
    return any(w in _STREAM_WORDS for w in words)


def _fixable_input(call: cst.Call) -> bool:
    """One input and at most ``verbose=``: the only call shape ``predict_on_batch`` matches."""
    inputs = []
    for arg in call.args:
        if arg.star:
            return False
        if arg.keyword is None or arg.keyword.value == "x":
            inputs.append(arg)
        elif arg.keyword.value != "verbose":
            return False
    return len(inputs) == 1 and not _looks_like_stream(inputs[0].value)


def _rebound_in(loop: cst.CSTNode, receiver: cst.BaseExpression) -> bool:
    key = receiver_key(receiver)
    if key is None:
        return False
    body = loop.body if isinstance(loop, (cst.For, cst.While)) else loop
    for node in walk(body):
        if isinstance(node, cst.Assign) and any(receiver_key(t.target) == key for t in node.targets):
            return True
    return False


class PredictInLoop(Rule):
    code = "MEM101"
    name = "predict-in-loop"
    summary = "Keras `model.predict()` called on every iteration of a loop"
    fix_availability = "sometimes"
    libraries = KERAS_LIBRARIES

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "predict":
            return
        loop = repeating_loop(self.ctx)
        if loop is None or is_tiny_loop(loop):
            return
        if _rebound_in(loop, func.value):
            return  # a fresh model each iteration, predicted once: not the repeated-call growth
        facts = keras_facts(self.ctx)
        if not facts.is_keras_model(func.value, self.ctx.enclosing_function(), self.ctx.enclosing_class()):
            return
        message = (
            "`predict()` inside a loop rebuilds its data pipeline on every call and memory grows across calls; "
            "use `predict_on_batch(x)` (or `model(x, training=False)`) for per-step inputs"
        )
        fix = None
        if _fixable_input(node):
            args = [a for a in node.args if not (a.keyword is not None and a.keyword.value == "verbose")]
            only = args[0]
            args = [only.with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            new = node.with_changes(func=func.with_changes(attr=func.attr.with_changes(value="predict_on_batch")), args=args)
            fix = Fix("unsafe", "Use `predict_on_batch(x)` (no internal batching: the whole input is one batch)", {node: new})
        self.report(node, message, fix)

    VALID = [
        Valid(
            """
            import keras
            import numpy as np

            def evaluate(model, x_test):
                preds = model.predict(x_test, batch_size=256)
                return np.argmax(preds, axis=1)
            """,
            why="one call, not in a loop",
        ),
        Valid(
            """
            import keras
            from sklearn.ensemble import RandomForestClassifier

            def cross_validate(folds):
                scores = []
                for x_tr, y_tr, x_va, y_va in folds:
                    model = RandomForestClassifier(n_estimators=50)
                    model.fit(x_tr, y_tr)
                    scores.append((model.predict(x_va) == y_va).mean())
                return scores
            """,
            why="an sklearn estimator, even in a file that imports keras",
        ),
        Valid(
            """
            import tensorflow as tf
            import joblib

            def score_all(paths, rows):
                for path in paths:
                    model = joblib.load(path)
                    print(model.predict(rows))
            """,
            why="a pickled model loaded with joblib: not known to be Keras",
        ),
        Valid(
            """
            import keras
            import pandas as pd

            def forecast(store_ids, regressor, frame):
                out = {}
                for store in store_ids:
                    out[store] = regressor.predict(frame[frame.store == store])
                return out
            """,
            why="a parameter that is not named like a Keras model",
        ),
        Valid(
            """
            import tensorflow as tf

            model = tf.keras.models.load_model("classifier.keras")
            for probs in model.predict(images):
                print(probs.argmax())
            """,
            why="predict runs once, in the loop header",
        ),
        Valid(
            """
            from tensorflow import keras

            def compare(model_a, model_b, x):
                for m in (model_a, model_b):
                    print(m.predict(x).mean())
            """,
            why="a loop over two fixed items: nothing piles up",
        ),
        Valid(
            """
            import keras

            class Visualiser(keras.callbacks.Callback):
                def __init__(self, samples):
                    super().__init__()
                    self.samples = samples

                def on_epoch_end(self, epoch, logs=None):
                    images = self.model.predict(self.samples, verbose=0)
                    self.plot(images, epoch)
            """,
            why="once per epoch from a callback, not a loop in this code",
        ),
        Valid(
            """
            import keras

            def run_episode(env, model):
                state = env.reset()
                done = False
                while not done:
                    q = model.predict_on_batch(state[None])
                    state, reward, done = env.step(int(q.argmax()))
            """,
            why="already predict_on_batch",
        ),
        Valid(
            """
            import tensorflow as tf

            def bootstrap(estimators, features):
                results = []
                for est in estimators:
                    results.extend(est.predict(input_fn=features))
                return results
            """,
            why="tf.estimator-style objects, not named like a model",
        ),
        Valid(
            """
            import keras

            def smoke_test(paths, x):
                for path in paths:
                    model = keras.models.load_model(path)
                    print(path, model.predict(x).shape)
            """,
            why="a fresh model each iteration, predicted once (model-built-in-loop's concern)",
        ),
        Valid(
            """
            import keras
            from xgboost import XGBRegressor

            def stack(models, x):
                return [m.predict(x) for m in models]
            """,
            why="xgboost imported: a list of unknown predictors",
        ),
        Valid(
            """
            import keras

            def schedule(model, x, steps):
                for step in range(steps):
                    def sample():
                        return model.predict(x)
                    callbacks.append(sample)
            """,
            why="inside a nested function defined in the loop, not run by it",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import numpy as np
            import keras

            def play(env, model, episodes):
                for episode in range(episodes):
                    state = env.reset()
                    done = False
                    while not done:
                        q_values = model.predict(state[np.newaxis], verbose=0)
                        state, reward, done, _ = env.step(int(np.argmax(q_values)))
            """,
            line=9,
            fixed="""
            import numpy as np
            import keras

            def play(env, model, episodes):
                for episode in range(episodes):
                    state = env.reset()
                    done = False
                    while not done:
                        q_values = model.predict_on_batch(state[np.newaxis])
                        state, reward, done, _ = env.step(int(np.argmax(q_values)))
            """,
            applicability="unsafe",
            why="the DQN game loop of keras-team/keras#13118",
        ),
        Invalid(
            """
            import tensorflow as tf

            generator = tf.keras.models.load_model("gen.h5")
            for i in range(100):
                noise = tf.random.normal((16, 128))
                images = generator.predict(noise)
                save_grid(images, f"sample_{i}.png")
            """,
            line=6,
            fixed="""
            import tensorflow as tf

            generator = tf.keras.models.load_model("gen.h5")
            for i in range(100):
                noise = tf.random.normal((16, 128))
                images = generator.predict_on_batch(noise)
                save_grid(images, f"sample_{i}.png")
            """,
            applicability="unsafe",
            why="module-level model from tf.keras load_model",
        ),
        Invalid(
            """
            from keras.models import Sequential
            from keras.layers import Dense

            def build():
                net = Sequential([Dense(8, activation="relu"), Dense(1)])
                net.compile(optimizer="adam", loss="mse")
                return net

            def rollout(xs):
                clf = build()
                out = []
                for x in xs:
                    out.append(clf.predict(x=x))
                return out
            """,
            line=13,
            fixed="""
            from keras.models import Sequential
            from keras.layers import Dense

            def build():
                net = Sequential([Dense(8, activation="relu"), Dense(1)])
                net.compile(optimizer="adam", loss="mse")
                return net

            def rollout(xs):
                clf = build()
                out = []
                for x in xs:
                    out.append(clf.predict_on_batch(x=x))
                return out
            """,
            applicability="unsafe",
            why="a builder function in the file returns the model; the name says nothing",
        ),
        Invalid(
            """
            import keras

            def train_gan(generator, discriminator, steps, batch):
                for step in range(steps):
                    noise = keras.random.normal((batch, 64))
                    fake = generator.predict(noise, batch_size=batch, verbose=0)
                    discriminator.train_on_batch(fake, keras.ops.zeros((batch, 1)))
            """,
            line=6,
            fixed=None,
            why="batch_size given: no fix, report only",
        ),
        Invalid(
            """
            from tensorflow import keras

            class Agent:
                def __init__(self, n_actions):
                    self.q_net = keras.Sequential([keras.layers.Dense(n_actions)])

                def act_all(self, states):
                    actions = []
                    for s in states:
                        actions.append(self.q_net.predict(s[None], verbose=0).argmax())
                    return actions
            """,
            line=10,
            fixed="""
            from tensorflow import keras

            class Agent:
                def __init__(self, n_actions):
                    self.q_net = keras.Sequential([keras.layers.Dense(n_actions)])

                def act_all(self, states):
                    actions = []
                    for s in states:
                        actions.append(self.q_net.predict_on_batch(s[None]).argmax())
                    return actions
            """,
            applicability="unsafe",
            why="an attribute bound to a Sequential in __init__",
        ),
        Invalid(
            """
            import keras
            from sklearn.metrics import accuracy_score

            def per_file_scores(files):
                model = keras.saving.load_model("m.keras")
                for f in files:
                    x, y = load(f)
                    print(accuracy_score(y, model.predict(x).argmax(-1)))
            """,
            line=8,
            why="sklearn imported, but the receiver is a loaded Keras model",
            fixed="""
            import keras
            from sklearn.metrics import accuracy_score

            def per_file_scores(files):
                model = keras.saving.load_model("m.keras")
                for f in files:
                    x, y = load(f)
                    print(accuracy_score(y, model.predict_on_batch(x).argmax(-1)))
            """,
            applicability="unsafe",
        ),
        Invalid(
            """
            import keras

            def embed_all(model, val_ds):
                vectors = []
                for epoch in range(10):
                    vectors.append(model.predict(val_ds))
                return vectors
            """,
            line=6,
            fixed=None,
            why="a dataset input: predict_on_batch cannot take it, report only",
        ),
        Invalid(
            """
            import tensorflow as tf

            class Encoder(tf.keras.Model):
                def call(self, x):
                    return x

            enc = Encoder()
            codes = [enc.predict(chunk) for chunk in chunks]
            """,
            line=8,
            fixed="""
            import tensorflow as tf

            class Encoder(tf.keras.Model):
                def call(self, x):
                    return x

            enc = Encoder()
            codes = [enc.predict_on_batch(chunk) for chunk in chunks]
            """,
            applicability="unsafe",
            why="a subclass of tf.keras.Model, called in a comprehension",
        ),
        Invalid(
            """
            import tf_keras as keras

            def forecast(model, window, horizon):
                preds = []
                while len(preds) < horizon:
                    y = model.predict(window[None], verbose=0)[0, 0]
                    preds.append(y)
                    window = roll(window, y)
                return preds
            """,
            line=6,
            fixed="""
            import tf_keras as keras

            def forecast(model, window, horizon):
                preds = []
                while len(preds) < horizon:
                    y = model.predict_on_batch(window[None])[0, 0]
                    preds.append(y)
                    window = roll(window, y)
                return preds
            """,
            applicability="unsafe",
            why="autoregressive forecasting, one sample per step",
        ),
    ]
