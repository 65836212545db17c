"""MEM102 model-built-in-loop: Keras models built again and again without ``clear_session()``.

Keras keeps global state for every model it builds (the TF graph, layer-name counters, the
backend's tracking state). A hyper-parameter search or cross-validation that builds a fresh model
per iteration grows by one model's worth of memory per iteration unless
``keras.backend.clear_session()`` runs between them (keras-team/keras#2102; keras-tuner#395:
about 1 GB per 20 trials).

Trigger: a call whose value in the shared flow is a newly built Keras model (a factory, a
``keras.Model`` subclass, a builder function of the project), and ``fit`` of a scikit-learn
wrapper (``KerasClassifier``) or a search over one. Query (``analysis/keras.py``): something runs
it many times (a loop, a loop around a caller, an optuna/hyperopt objective) and nothing on the
way calls ``clear_session()``. Silent on blocks built inside a model's own constructor, on
builder functions (their callers are judged), and on loops that keep the trained models a helper
returns on purpose.

Fix: ``clear_session()`` at the top of the loop body or of the objective (safe; unsafe when a
model built earlier is still used).
"""

from __future__ import annotations

import ast
import os

from memlint.analysis import facts, keras
from memlint.analysis.syntax import dotted, last_name
from memlint.fixes import insert_before
from memlint.rule import Fix, Invalid, Rule, Valid

CLEAR = "Call `clear_session()` at the top of the loop body"
CLEAR_KEPT = "Call `clear_session()` at the top of the loop body (a model from an earlier iteration is still used)"
CLEAR_OBJECTIVE = "Call `clear_session()` at the top of the objective"
CLEAR_OBJECTIVE_KEPT = "Call `clear_session()` at the top of the objective (a model from an earlier trial is kept)"
# Calls that keep what they are given beyond the iteration.
_KEEPING_METHODS = frozenset({"append", "extend", "insert", "add", "setdefault", "update", "put", "appendleft", "put_nowait"})
_FUNCTIONAL = frozenset({"keras.Model", "keras.models.Model", "keras.engine.training.Model", "keras.engine.functional.Functional"})
_MESSAGE = (
    "a Keras model is built {where} without `clear_session()`: Keras' global state grows by one model "
    "each time; call `keras.backend.clear_session()` {fix_where}"
)


class ModelBuiltInLoop(Rule):
    code = "MEM102"
    name = "model-built-in-loop"
    summary = "Keras model built on every loop iteration without `clear_session()`"
    fix_availability = "sometimes"
    severity = "error"
    fix_kinds = {CLEAR: "safe", CLEAR_KEPT: "unsafe", CLEAR_OBJECTIVE: "safe", CLEAR_OBJECTIVE_KEPT: "unsafe"}
    libraries = facts.KERAS_LIBRARIES

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(self.file.enclosing_scope(node), (ast.Lambda, ast.ClassDef)):
            return
        made = keras.keras_model_value(self.file, node)
        if made is not None and (facts.keras_name(made.origin) or made.origin) not in facts.KERAS_SKLEARN_WRAPPERS:
            self._built(node, made.origin)
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "fit":
            self._wrapper_fit(node)
        elif self.file.qualname(node.func) in facts.SKLEARN_REPEATED_FITS:
            self._wrapper_search(node)

    # ------------------------------------------------------------------ model builds
    def _built(self, call: ast.Call, origin: str) -> None:
        file = self.file
        if not self._fresh(call, origin):
            return
        func = file.enclosing_function(call)
        cls = file.enclosing_class(func) if func is not None else None
        if cls is not None and file.keras_class_kind(cls) in ("model", "layer"):
            return  # blocks of one model made in its constructor or build()
        if func is not None and keras.returns_model(file, func):
            return  # a builder: the calls of it are judged
        repeated = keras.repetition(file, call)
        if repeated is None or self._cleared(call, repeated) or self._kept_on_purpose(repeated):
            return
        factory = facts.keras_name(file.qualname(call.func)) or ""
        if factory in _FUNCTIONAL and not _fresh_inputs(file, repeated):
            return  # a functional view over an existing model's graph
        if repeated.kind == "loop":
            where, fix_where = "on every iteration of a loop", "at the top of the loop"
        elif repeated.kind == "objective":
            where, fix_where = "on every call of an objective that a search runs once per trial", "at the top of the objective"
        else:
            where, fix_where = f"in a function called on every iteration of a loop ({_located(file, repeated)})", "in that loop"
        self.report(call, _MESSAGE.format(where=where, fix_where=fix_where), self._fix(call, repeated))

    def _fresh(self, call: ast.Call, origin: str) -> bool:
        """A model made by this call: a Keras factory, a model class, or a helper that builds one."""
        if facts.library_model(self.file.qualname(call.func) or "") == "keras":
            return True
        targets = self.file.resolve_call(call)
        if not targets:
            return origin != "" and "." in origin  # `Net()` of a project class
        return any(keras.builds_model(owner, definition) for owner, definition in targets)

    def _cleared(self, call: ast.Call, repeated: keras.Repetition) -> bool:
        file = self.file
        func = file.enclosing_function(call)
        if func is not None and keras.clears_session(file, func):
            return True
        if repeated.kind == "loop":
            return keras.clears_session(file, repeated.node)
        if any(keras.clears_session(owner, f) for owner, f in repeated.functions):
            return True
        return repeated.kind == "caller" and keras.clears_session(repeated.file, repeated.node)

    def _kept_on_purpose(self, repeated: keras.Repetition) -> bool:
        """The repeating loop stores the trained models a helper hands back (``best.append(model)``):
        keeping them is its purpose, and ``clear_session()`` would not free them."""
        if repeated.kind == "objective":
            return False
        owner, loop = repeated.file, repeated.node
        helper_models: set[str] = set()
        for node in ast.walk(loop):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and owner.resolve_call(node.value):
                if keras.keras_model_value(owner, node.value) is not None:
                    helper_models.update(n for t in node.targets for n in [dotted(t)] if n)
        return bool(helper_models) and any(_stores(node, helper_models) for node in ast.walk(loop))

    # ------------------------------------------------------------------ scikit-learn wrappers
    def _wrapper_fit(self, call: ast.Call) -> None:
        """``clf.fit(x, y)`` of a ``KerasClassifier`` in a loop: each fit builds a new model."""
        wrapper = self._wrapper(call.func.value)  # type: ignore[attr-defined]
        if wrapper is None:
            return
        repeated = keras.repetition(self.file, call)
        if repeated is None or self._cleared(call, repeated) or self._build_fn_clears(wrapper):
            return
        self.report(
            call,
            "each `fit` of a Keras scikit-learn wrapper builds a new Keras model, and this `fit` runs on every "
            "iteration of a loop without `clear_session()`; call it in the build function or at the top of the loop",
        )

    def _wrapper_search(self, call: ast.Call) -> None:
        """``GridSearchCV(KerasClassifier(...))``, ``cross_val_score(KerasRegressor(...), ...)``."""
        estimator = next((k.value for k in call.keywords if k.arg == "estimator"), call.args[0] if call.args else None)
        wrapper = self._wrapper(estimator) if estimator is not None else None
        if wrapper is None or self._build_fn_clears(wrapper):
            return
        self.report(
            call,
            "this search fits a Keras scikit-learn wrapper once per candidate and fold, and each fit builds a new "
            "Keras model without `clear_session()`: call `keras.backend.clear_session()` at the top of the build function",
        )

    def _wrapper(self, expr: ast.AST) -> ast.Call | None:
        """The ``KerasClassifier(...)`` call ``expr`` holds (directly, or as an item of the list a
        loop variable runs over)."""
        for node in self._wrapper_sources(expr):
            if isinstance(node, ast.Call) and (facts.keras_name(self.file.qualname(node.func)) or "") in facts.KERAS_SKLEARN_WRAPPERS:
                return node
        return None

    def _wrapper_sources(self, expr: ast.AST) -> list[ast.AST]:
        if isinstance(expr, ast.Call):
            return [expr]
        if not isinstance(expr, ast.Name):
            return []
        scope = self.file.enclosing_function(expr) or self.file.tree
        found: list[ast.AST] = []
        for names, value in self.file.flow(scope).assignments:
            if expr.id in names:
                found.extend(value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value])
        for loop in self.file.enclosing_loops(expr):
            if isinstance(loop, ast.For) and expr.id in {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}:
                source = loop.iter
                if isinstance(source, ast.Call) and last_name(source.func) == "enumerate" and source.args:
                    source = source.args[0]
                if isinstance(source, ast.Name):
                    for names, value in self.file.flow(scope).assignments:
                        if source.id in names and isinstance(value, (ast.List, ast.Tuple)):
                            found.extend(value.elts)
        return found

    def _build_fn_clears(self, wrapper: ast.Call) -> bool:
        build = next((k.value for k in wrapper.keywords if k.arg in ("build_fn", "model")), wrapper.args[0] if wrapper.args else None)
        if build is None:
            return False
        probe = ast.Call(func=build, args=[], keywords=[])
        probe._ml_parent = wrapper  # type: ignore[attr-defined]
        return any(keras.clears_session(owner, d) for owner, d in self.file.resolve_call(probe))

    # ------------------------------------------------------------------ fix
    def _fix(self, call: ast.Call, repeated: keras.Repetition) -> Fix | None:
        if repeated.kind == "loop" and isinstance(repeated.node, (ast.For, ast.AsyncFor, ast.While)):
            body = repeated.node.body
            message = CLEAR
        elif repeated.kind == "objective":
            func = self.file.enclosing_function(call)
            if func is None:
                return None
            body = func.body[1:] if _docstring(func) else func.body
            message = CLEAR_OBJECTIVE
        else:
            return None
        if not body:
            return None
        code, imports = keras.clear_session_code(self.file)
        edits = (insert_before(body[0], code),)
        uses = (code.split(".")[0].split("(")[0],)
        if _kept(self.file, call, repeated):
            return Fix("unsafe", CLEAR_KEPT if message == CLEAR else CLEAR_OBJECTIVE_KEPT, edits, imports, uses=uses)
        return Fix("safe", message, edits, imports, uses=uses)

    VALID = [
        Valid(
            """
            import keras

            def tune(learning_rates, x, y):
                for lr in learning_rates:
                    keras.backend.clear_session()
                    model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
                    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
                    model.fit(x, y, epochs=5, verbose=0)
            """,
            why="clear_session() already at the top of the loop",
        ),
        Valid(
            """
            import tensorflow as tf

            def build_model(units):
                tf.keras.backend.clear_session()
                return tf.keras.Sequential([tf.keras.layers.Dense(units)])

            def search(x, y):
                for units in [16, 32, 64, 128]:
                    model = build_model(units)
                    model.fit(x, y)
            """,
            why="the builder clears the session itself",
        ),
        Valid(
            """
            from keras import backend as K
            from keras.models import load_model

            for path in checkpoint_paths:
                model = load_model(path)
                report(path, model.evaluate(x_val, y_val))
                K.clear_session()
            """,
            why="cleared at the end of each iteration, via the K alias",
        ),
        Valid(
            """
            import keras

            def train(x, y):
                model = keras.Sequential([keras.layers.Dense(1)])
                model.compile(optimizer="sgd", loss="mse")
                for epoch in range(100):
                    model.train_on_batch(x, y)
                return model
            """,
            why="built once, trained in the loop",
        ),
        Valid(
            """
            import keras

            def compare(x, y):
                for depth in (1, 2):
                    model = keras.Sequential([keras.layers.Dense(8) for _ in range(depth)])
                    model.fit(x, y)
            """,
            why="a loop over two literal items",
        ),
        Valid(
            """
            import keras

            def activations(base, images):
                maps = {}
                for layer in base.layers:
                    probe = keras.Model(inputs=base.inputs, outputs=layer.output)
                    maps[layer.name] = probe(images)
                return maps
            """,
            why="a functional view over an existing model's graph, no new inputs",
        ),
        Valid(
            """
            import keras
            from sklearn.linear_model import LogisticRegression

            for c in grid:
                clf = LogisticRegression(C=c)
                clf.fit(x, y)
            """,
            why="not a Keras model",
        ),
        Valid(
            """
            import tensorflow as tf

            def reset():
                tf.keras.backend.clear_session()

            def kfold(splits):
                for train_idx, val_idx in splits:
                    reset()
                    model = tf.keras.models.Sequential([tf.keras.layers.Dense(1)])
                    model.fit(x[train_idx], y[train_idx])
            """,
            why="an in-file helper clears the session",
        ),
        Valid(
            """
            import keras

            def make_model():
                return keras.Sequential([keras.layers.Dense(1)])

            model = make_model()
            for batch in batches:
                def factory():
                    return make_model()
                register(factory)
            """,
            why="built in a nested function defined in the loop, not by the loop",
        ),
        Valid(
            """
            import keras
            from keras import layers

            def convnet(depths):
                stages = []
                for width in depths:
                    stage = keras.Sequential([layers.Conv2D(width, 3), layers.BatchNormalization()])
                    stages.append(stage)
                inputs = keras.Input((64, 64, 3))
                h = inputs
                for stage in stages:
                    h = stage(h)
                return keras.Model(inputs, h)
            """,
            why="Sequential blocks collected into one model by a builder function",
        ),
        # Seen in real code since 0.1.
        Valid(
            """
            import gc

            from tensorflow.keras.backend import clear_session
            from tensorflow.keras.models import load_model

            def predict_core(x, path):
                net = load_model(path)
                preds = net.predict(x, batch_size=1024).flatten()
                clear_session()
                gc.collect()
                return preds

            def predict_all(chunks, paths):
                return [[predict_core(c, p) for p in paths] for c in chunks]
            """,
            why="the helper that loads a model per call clears the session before it returns",
        ),
        Valid(
            {
                "agent_model.py": """
                    import json

                    from tensorflow.keras import backend as K
                    from tensorflow.keras.models import Model

                    class GameModel:
                        def load(self, config_path, weight_path, clear_session=False):
                            if clear_session:
                                K.clear_session()
                            with open(config_path) as f:
                                self.model = Model.from_config(json.load(f))
                            self.model.load_weights(weight_path)
                    """,
                "self_play.py": """
                    from agent_model import GameModel

                    def play_forever(config_path, newest_weights, play_one_game):
                        model = GameModel()
                        while True:
                            weights = newest_weights()
                            if weights is not None:
                                model.load(config_path, weights, clear_session=True)
                            play_one_game(model)
                    """,
            },
            why="the reload asks for the session to be cleared before the model is rebuilt",
        ),
        Valid(
            """
            import keras
            import optuna

            def objective(trial, data):
                keras.backend.clear_session()
                x_train, y_train, x_val, y_val = data
                model = keras.Sequential([keras.layers.Dense(trial.suggest_int("units", 16, 256)), keras.layers.Dense(10)])
                model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
                model.fit(x_train, y_train, epochs=2, verbose=0)
                return model.evaluate(x_val, y_val, verbose=0)

            optuna.create_study().optimize(lambda t: objective(t, data), n_trials=200)
            """,
            why="the objective clears the session before it builds the trial's model",
        ),
        Valid(
            """
            import keras

            def make_model(units):
                model = keras.Sequential([keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
                model.compile(optimizer="adam", loss="mse")
                return model

            def best_epoch(units, x, y):
                probe = make_model(units)
                losses = probe.fit(x, y, validation_split=0.2, epochs=50, verbose=0).history["val_loss"]
                return losses.index(min(losses)) + 1

            def retrain(units, x, y):
                model = make_model(units)
                model.fit(x, y, epochs=best_epoch(units, x, y), verbose=0)
                return model

            kept = []
            for units in best_widths:
                model = retrain(units, x_all, y_all)
                kept.append(model)
            """,
            why="the loop keeps every trained model a helper returns on purpose; clear_session frees none of them",
        ),
        Valid(
            """
            from tensorflow import keras

            class Block(keras.Model):
                def __init__(self, filters, stride=1):
                    super().__init__()
                    self.conv = keras.layers.Conv2D(filters, 3, strides=stride, padding="same")

                def call(self, x):
                    return self.conv(x)

            class SmallResNet(keras.Model):
                def __init__(self, stages, classes):
                    super().__init__()
                    self.body = keras.Sequential()
                    for stage, repeats in enumerate(stages):
                        for i in range(repeats):
                            self.body.add(Block(16 * 2 ** stage, stride=2 if stage and i == 0 else 1))
                    self.head = keras.layers.Dense(classes)
            """,
            why="residual blocks made in a loop of the parent model's constructor: parts of one model",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf
            from sklearn.model_selection import ShuffleSplit
            from tensorflow.keras.layers import Dense
            from tensorflow.keras.models import Sequential

            def build(width):
                net = Sequential([Dense(width, activation="relu"), Dense(1)])
                net.compile(optimizer="adam", loss="mse")
                return net

            def objective(width, x, y):
                scores = []
                for train_idx, test_idx in ShuffleSplit(n_splits=2, test_size=0.1).split(x):
                    model = build(width)
                    model.fit(x[train_idx], y[train_idx], epochs=20, verbose=0)
                    scores.append(model.evaluate(x[test_idx], y[test_idx], verbose=0))
                tf.keras.backend.clear_session()
                return -float(np.mean(scores))
            """,
            why="the objective clears the session after its short inner loop",
        ),
        Valid(
            """
            import keras
            import keras_tuner as kt

            def build_model(hp):
                model = keras.Sequential([keras.layers.Dense(hp.Int("units", 32, 512, step=32)), keras.layers.Dense(10)])
                model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
                return model

            tuner = kt.RandomSearch(build_model, objective="val_loss", max_trials=50)
            tuner.search(x_train, y_train, epochs=5, validation_data=(x_val, y_val))
            """,
            why="KerasTuner clears the session itself before it builds each trial's model",
        ),
        Valid(
            """
            from sklearn.model_selection import GridSearchCV
            from tensorflow import keras

            def build_classifier(units=32):
                keras.backend.clear_session()
                model = keras.Sequential([keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
                model.compile(loss="binary_crossentropy", optimizer="adam")
                return model

            wrapped = keras.wrappers.scikit_learn.KerasClassifier(build_fn=build_classifier)
            search = GridSearchCV(wrapped, {"units": [16, 32, 64]}, cv=5)
            search.fit(x_train, y_train)
            """,
            why="the wrapper's build function clears the session before each model",
        ),
        Valid(
            """
            import keras
            from sklearn.linear_model import LogisticRegression
            from sklearn.model_selection import cross_val_score

            scores = cross_val_score(LogisticRegression(), x, y, cv=10)
            """,
            why="a search over an sklearn estimator, in a file that imports keras",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import keras

            def tune(learning_rates, x, y):
                for lr in learning_rates:
                    model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
                    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
                    model.fit(x, y, epochs=5, verbose=0)
            """,
            line=5,
            fixed="""
            import keras

            def tune(learning_rates, x, y):
                for lr in learning_rates:
                    keras.backend.clear_session()
                    model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
                    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
                    model.fit(x, y, epochs=5, verbose=0)
            """,
            applicability="safe",
        ),
        Invalid(
            """
            import tensorflow as tf
            from tensorflow.keras.layers import Dense

            def get_model(width):
                model = tf.keras.Sequential([Dense(width), Dense(1)])
                model.compile("adam", "mse")
                return model

            histories = []
            for width in widths:
                m = get_model(width)
                histories.append(m.fit(x, y, epochs=3).history)
            """,
            line=11,
            fixed="""
            import tensorflow as tf
            from tensorflow.keras.layers import Dense

            def get_model(width):
                model = tf.keras.Sequential([Dense(width), Dense(1)])
                model.compile("adam", "mse")
                return model

            histories = []
            for width in widths:
                tf.keras.backend.clear_session()
                m = get_model(width)
                histories.append(m.fit(x, y, epochs=3).history)
            """,
            applicability="safe",
            why="a builder function; keeping the history dict does not keep the model",
        ),
        Invalid(
            """
            from keras.models import Sequential
            from keras.layers import Dense

            ensemble = []
            for seed in range(10):
                net = Sequential([Dense(32), Dense(1)])
                net.fit(x, y)
                ensemble.append(net)
            """,
            line=6,
            fixed="""
            from keras.models import Sequential
            from keras.layers import Dense
            import keras

            ensemble = []
            for seed in range(10):
                keras.backend.clear_session()
                net = Sequential([Dense(32), Dense(1)])
                net.fit(x, y)
                ensemble.append(net)
            """,
            applicability="unsafe",
            why="models are kept across iterations: unsafe",
        ),
        Invalid(
            """
            import tensorflow as tf

            def evaluate_checkpoints(paths):
                for p in paths:
                    model = tf.keras.models.load_model(p)
                    print(p, model.evaluate(x_val, y_val))
            """,
            line=5,
            fixed="""
            import tensorflow as tf

            def evaluate_checkpoints(paths):
                for p in paths:
                    tf.keras.backend.clear_session()
                    model = tf.keras.models.load_model(p)
                    print(p, model.evaluate(x_val, y_val))
            """,
            applicability="safe",
        ),
        Invalid(
            """
            from tensorflow import keras

            class Net(keras.Model):
                def __init__(self):
                    super().__init__()
                    self.head = keras.layers.Dense(1)

                def call(self, x):
                    return self.head(x)

            best, best_model = 1e9, None
            while trials_left():
                candidate = Net()
                candidate.compile("adam", "mse")
                loss = candidate.fit(x, y).history["loss"][-1]
                if loss < best:
                    best, best_model = loss, candidate
            """,
            line=13,
            fixed="""
            from tensorflow import keras

            class Net(keras.Model):
                def __init__(self):
                    super().__init__()
                    self.head = keras.layers.Dense(1)

                def call(self, x):
                    return self.head(x)

            best, best_model = 1e9, None
            while trials_left():
                keras.backend.clear_session()
                candidate = Net()
                candidate.compile("adam", "mse")
                loss = candidate.fit(x, y).history["loss"][-1]
                if loss < best:
                    best, best_model = loss, candidate
            """,
            applicability="unsafe",
            why="a subclass instantiated in a while loop; the best model is kept",
        ),
        Invalid(
            """
            import keras
            from keras import layers

            def kfold(splits, base):
                for train_idx, val_idx in splits:
                    model = keras.models.clone_model(base)
                    model.compile(optimizer="adam", loss="mse")
                    model.fit(x[train_idx], y[train_idx])
            """,
            line=6,
            fixed="""
            import keras
            from keras import layers

            def kfold(splits, base):
                for train_idx, val_idx in splits:
                    keras.backend.clear_session()
                    model = keras.models.clone_model(base)
                    model.compile(optimizer="adam", loss="mse")
                    model.fit(x[train_idx], y[train_idx])
            """,
            applicability="unsafe",
            why="clone_model copies a model from before the loop: unsafe",
        ),
        Invalid(
            """
            import keras

            for n_layers in range(1, 8):
                inputs = keras.Input((32,))
                h = inputs
                for _ in range(n_layers):
                    h = keras.layers.Dense(64)(h)
                model = keras.Model(inputs, keras.layers.Dense(1)(h))
                model.fit(x, y)
            """,
            line=8,
            fixed="""
            import keras

            for n_layers in range(1, 8):
                keras.backend.clear_session()
                inputs = keras.Input((32,))
                h = inputs
                for _ in range(n_layers):
                    h = keras.layers.Dense(64)(h)
                model = keras.Model(inputs, keras.layers.Dense(1)(h))
                model.fit(x, y)
            """,
            applicability="safe",
            why="a functional model from fresh Inputs each iteration",
        ),
        Invalid(
            """
            import tensorflow.keras as tfk

            class Search:
                def build(self, hp):
                    return tfk.applications.MobileNetV2(weights=None, alpha=hp)

                def run(self, alphas):
                    for hp in alphas:
                        model = self.build(hp)
                        self.score(model)
            """,
            line=9,
            fixed="""
            import tensorflow.keras as tfk

            class Search:
                def build(self, hp):
                    return tfk.applications.MobileNetV2(weights=None, alpha=hp)

                def run(self, alphas):
                    for hp in alphas:
                        tfk.backend.clear_session()
                        model = self.build(hp)
                        self.score(model)
            """,
            applicability="safe",
            why="a method builder returning a keras.applications model",
        ),
        # Seen in real code since 0.1 (issue #11's Keras shapes).
        Invalid(
            """
            import numpy as np
            from tensorflow.keras.models import load_model

            class Predictor:
                def __init__(self, model_paths, chunk):
                    self.model_paths = model_paths
                    self.chunk = chunk

                def predict_core(self, x, path):
                    net = load_model(path)
                    return net.predict(x, batch_size=1024).flatten()

                def predict(self, x):
                    out = []
                    for start in range(0, len(x), self.chunk):
                        preds = [self.predict_core(x[start:start + self.chunk], p) for p in self.model_paths]
                        out.extend(np.mean(preds, axis=0))
                    return out
            """,
            line=10,
            why="a method loads a model on every call, once per chunk and model path",
        ),
        Invalid(
            {
                "agent_model.py": """
                    import json

                    from tensorflow.keras.models import Model

                    class GameModel:
                        def __init__(self):
                            self.model = None

                        def load(self, config_path, weight_path):
                            with open(config_path) as f:
                                self.model = Model.from_config(json.load(f))
                            self.model.load_weights(weight_path)
                            return True
                    """,
                "self_play.py": """
                    from agent_model import GameModel

                    def play_forever(config_path, newest_weights, play_one_game):
                        model = GameModel()
                        while True:
                            weights = newest_weights()
                            if weights is not None:
                                model.load(config_path, weights)
                            play_one_game(model)
                    """,
            },
            path="agent_model.py",
            line=11,
            why="a wrapper rebuilds its model from JSON on every reload; another file reloads in an endless loop",
        ),
        Invalid(
            """
            import optuna
            from keras.layers import Dense
            from keras.models import Sequential

            def objective(trial, data):
                x_train, y_train, x_val, y_val = data
                model = Sequential()
                model.add(Dense(trial.suggest_int("units", 16, 256), activation="relu"))
                model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
                model.fit(x_train, y_train, epochs=2, verbose=0)
                return model.evaluate(x_val, y_val, verbose=0)

            def run(data):
                study = optuna.create_study(direction="maximize")
                study.optimize(lambda t: objective(t, data), n_trials=200)
            """,
            line=7,
            fixed="""
            import optuna
            from keras.layers import Dense
            from keras.models import Sequential
            import keras

            def objective(trial, data):
                keras.backend.clear_session()
                x_train, y_train, x_val, y_val = data
                model = Sequential()
                model.add(Dense(trial.suggest_int("units", 16, 256), activation="relu"))
                model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
                model.fit(x_train, y_train, epochs=2, verbose=0)
                return model.evaluate(x_val, y_val, verbose=0)

            def run(data):
                study = optuna.create_study(direction="maximize")
                study.optimize(lambda t: objective(t, data), n_trials=200)
            """,
            applicability="safe",
            why="an optuna objective builds a model per trial and never clears the session",
        ),
        Invalid(
            """
            import optuna
            import tensorflow as tf

            def create_model(trial):
                model = tf.keras.Sequential([tf.keras.layers.Dense(trial.suggest_int("units", 32, 512)), tf.keras.layers.Dense(10)])
                model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
                return model

            def objective(trial, train_ds, eval_ds):
                \"\"\"One trial.\"\"\"
                model = create_model(trial)
                history = model.fit(train_ds, epochs=5, validation_data=eval_ds)
                return history.history["val_accuracy"][-1]

            optuna.create_study().optimize(lambda t: objective(t, train_ds, eval_ds), n_trials=100)
            """,
            line=11,
            fixed="""
            import optuna
            import tensorflow as tf

            def create_model(trial):
                model = tf.keras.Sequential([tf.keras.layers.Dense(trial.suggest_int("units", 32, 512)), tf.keras.layers.Dense(10)])
                model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
                return model

            def objective(trial, train_ds, eval_ds):
                \"\"\"One trial.\"\"\"
                tf.keras.backend.clear_session()
                model = create_model(trial)
                history = model.fit(train_ds, epochs=5, validation_data=eval_ds)
                return history.history["val_accuracy"][-1]

            optuna.create_study().optimize(lambda t: objective(t, train_ds, eval_ds), n_trials=100)
            """,
            applicability="safe",
            why="the objective builds its model through a builder helper; the fix goes after the docstring",
        ),
        Invalid(
            {
                "inference.py": """
                    import numpy as np
                    import tensorflow as tf

                    def make_classifier(weights_path):
                        inputs = tf.keras.Input((224, 224, 3))
                        outputs = tf.keras.layers.Dense(2, activation="softmax")(tf.keras.layers.Flatten()(inputs))
                        model = tf.keras.Model(inputs, outputs)
                        model.load_weights(weights_path)
                        return model

                    def predict_images(images, weights_path):
                        model = make_classifier(weights_path)
                        return model.predict(np.stack(images), batch_size=8, verbose=0)[:, 1].tolist()
                    """,
                "batch_score.py": """
                    from inference import predict_images

                    def score_folder(loader, paths, weights):
                        return [predict_images([loader(p)], weights) for p in paths]
                    """,
            },
            path="inference.py",
            line=12,
            why="a public function builds a model on every call; another module calls it once per image",
        ),
        Invalid(
            """
            from hyperopt import STATUS_OK, Trials, fmin, hp, tpe
            from keras.layers import Dense, Dropout
            from keras.models import Sequential

            def objective(params, x_train, y_train, x_test, y_test):
                model = Sequential()
                model.add(Dense(512, activation="relu"))
                model.add(Dropout(params["dropout"]))
                model.add(Dense(10, activation="softmax"))
                model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
                model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0)
                _, acc = model.evaluate(x_test, y_test, verbose=0)
                return {"loss": -acc, "status": STATUS_OK, "model": model}

            def search(data):
                space = {"dropout": hp.uniform("dropout", 0, 1)}
                return fmin(lambda p: objective(p, *data), space, algo=tpe.suggest, max_evals=50, trials=Trials())
            """,
            line=6,
            fixed="""
            from hyperopt import STATUS_OK, Trials, fmin, hp, tpe
            from keras.layers import Dense, Dropout
            from keras.models import Sequential
            import keras

            def objective(params, x_train, y_train, x_test, y_test):
                keras.backend.clear_session()
                model = Sequential()
                model.add(Dense(512, activation="relu"))
                model.add(Dropout(params["dropout"]))
                model.add(Dense(10, activation="softmax"))
                model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
                model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0)
                _, acc = model.evaluate(x_test, y_test, verbose=0)
                return {"loss": -acc, "status": STATUS_OK, "model": model}

            def search(data):
                space = {"dropout": hp.uniform("dropout", 0, 1)}
                return fmin(lambda p: objective(p, *data), space, algo=tpe.suggest, max_evals=50, trials=Trials())
            """,
            applicability="unsafe",
            why="a hyperopt objective that also returns its model (kept by Trials): the fix is unsafe",
        ),
        Invalid(
            """
            from sklearn.model_selection import RandomizedSearchCV
            from tensorflow import keras

            def build_regressor(layers=1, width=30):
                model = keras.models.Sequential([keras.layers.InputLayer(input_shape=[8])])
                for _ in range(layers):
                    model.add(keras.layers.Dense(width, activation="relu"))
                model.add(keras.layers.Dense(1))
                model.compile(loss="mse", optimizer="sgd")
                return model

            wrapped = keras.wrappers.scikit_learn.KerasRegressor(build_regressor)
            search = RandomizedSearchCV(wrapped, {"layers": [0, 1, 2, 3], "width": list(range(1, 100))}, n_iter=10, cv=3)
            search.fit(x_train, y_train, epochs=100)
            """,
            line=13,
            why="a randomized search over a KerasRegressor: a new Keras model per candidate and fold",
        ),
        Invalid(
            """
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import StratifiedKFold
            from tensorflow.keras.layers import Dense
            from tensorflow.keras.models import Sequential
            from tensorflow.keras.wrappers.scikit_learn import KerasClassifier

            def make_net(inputs, units):
                net = Sequential([Dense(units, input_dim=inputs, activation="relu"), Dense(2, activation="softmax")])
                net.compile(loss="categorical_crossentropy", optimizer="adam")
                return net

            def blend(x, y, folds=10):
                estimators = [KerasClassifier(build_fn=make_net, inputs=x.shape[1], units=20), RandomForestClassifier()]
                out = np.zeros((len(x), len(estimators)))
                for j, estimator in enumerate(estimators):
                    for train_idx, test_idx in StratifiedKFold(folds).split(x, y):
                        estimator.fit(x[train_idx], y[train_idx])
                        out[test_idx, j] = estimator.predict_proba(x[test_idx])[:, 1]
                return out
            """,
            line=18,
            why="a KerasClassifier among the estimators of a fold loop: every fit builds a model",
        ),
    ]


def _fresh_inputs(file, repeated: keras.Repetition) -> bool:  # type: ignore[no-untyped-def]
    """A functional ``Model(inputs, outputs)`` counts only where the repeated code makes new ``Input``s."""
    regions = [repeated.node] if repeated.kind == "loop" else [f for _, f in repeated.functions]
    for region in regions:
        for call in keras.calls_in(region):
            if (last_name(call.func) or "") == "Input" or (file.keras_qualname(call.func) or "").endswith(".Input"):
                return True
    return False


def _stores(node: ast.AST, names: set[str]) -> bool:
    """``xs.append(model)``, ``best[k] = model``, ``self.best = model``: a name kept beyond the statement."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _KEEPING_METHODS:
        return any(_mentions(arg, names) for arg in node.args)
    if isinstance(node, ast.Assign) and not isinstance(node.value, ast.Call):
        return _mentions(node.value, names) and any(not isinstance(t, ast.Name) for t in node.targets)
    return False


def _mentions(expr: ast.AST, names: set[str]) -> bool:
    """A name itself inside ``expr`` (in a tuple, list, dict ...), not ``name.attr`` or ``name(...)``."""
    if isinstance(expr, (ast.Name, ast.Attribute)):
        return dotted(expr) in names
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return any(_mentions(e, names) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return any(v is not None and _mentions(v, names) for v in expr.values)
    return False


def _kept(file, call: ast.Call, repeated: keras.Repetition) -> bool:  # type: ignore[no-untyped-def]
    """Does a model built here outlive its iteration (or trial), or does the repeated code use a
    model built before it? Then ``clear_session()`` is unsafe."""
    if (facts.keras_name(file.qualname(call.func)) or "") == "keras.models.clone_model":
        return True
    statement = file.statement_of(call)
    if not (isinstance(statement, ast.Assign) and statement.value is call and len(statement.targets) == 1):
        return True
    name = dotted(statement.targets[0])
    if name is None or "." in name:
        return True
    region = repeated.node if repeated.kind == "loop" else file.enclosing_function(call)
    built_here: set[str] = set()
    for node in ast.walk(region):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and keras.keras_model_value(file, node.value):
            built_here.update(n for t in node.targets for n in [dotted(t)] if n)
    for node in ast.walk(region):
        if node is statement:
            continue
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None and _mentions(node.value, {name}):
            return True
        if _stores(node, {name}):
            return True
        if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and _returns_name(node.value, name):
            return True
        if isinstance(node, ast.Name) and node.id not in built_here and node.id != name and isinstance(node.ctx, ast.Load):
            value = keras.keras_model_value(file, node)
            if value is not None and file.flow_of(node).value_of(node).origin and _bound_outside(file, node.id, region):
                return True  # a model from before, used after clear_session() would reset its graph
    return False


def _returns_name(expr: ast.AST, name: str) -> bool:
    if _mentions(expr, {name}):
        return True
    if isinstance(expr, ast.Dict):
        return any(v is not None and _returns_name(v, name) for v in expr.values)
    return False


def _bound_outside(file, name: str, region: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    inside = {id(n) for n in ast.walk(region)}
    scope = file.enclosing_function(region) or file.tree
    for names, value in file.flow(scope).assignments:
        if name in names and id(value) not in inside:
            return True
    return False


def _docstring(func: ast.AST) -> bool:
    body = func.body  # type: ignore[attr-defined]
    return bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)


def _located(file, repeated: keras.Repetition) -> str:  # type: ignore[no-untyped-def]
    """``the loop at worker/evaluate.py:34``, or ``the loop at line 34`` in the same file."""
    line = getattr(repeated.node, "lineno", 0)
    if repeated.file is file:
        return f"the loop at line {line}"
    other, here = os.path.abspath(repeated.file.path), os.path.dirname(os.path.abspath(file.path))
    return f"the loop at {os.path.relpath(other, here).replace(os.sep, '/')}:{line}"
