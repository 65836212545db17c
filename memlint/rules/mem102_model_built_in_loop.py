"""MEM102 model-built-in-loop: Keras models built on every iteration without ``clear_session()``.

Keras keeps global state for every model it builds (the TF graph, layer-name counters, the
backend's tracking state). A hyper-parameter search or cross-validation loop that builds a fresh
model each iteration grows by one model's worth of memory per iteration unless
``keras.backend.clear_session()`` runs between them (keras-team/keras#2102; keras-tuner#395:
about 1 GB per 20 trials). The fix inserts ``clear_session()`` at the top of the loop body.
"""

from __future__ import annotations

import libcst as cst

from memlint.context import FileContext
from memlint.legacy_rule import Fix, Invalid, Rule, Valid
from memlint.rules._keras import (
    KERAS_LIBRARIES,
    KerasFacts,
    enclosing_repeating_loops,
    is_tiny_loop,
    keras_facts,
    keras_name,
    keras_qualname,
    walk,
)

# Calls that keep what they are given beyond the iteration.
_KEEPING_METHODS = frozenset({"append", "extend", "insert", "add", "setdefault", "update", "put", "appendleft", "put_nowait"})


def clear_session_call(ctx: FileContext) -> tuple[str, tuple[str, ...]]:
    """How to spell ``clear_session()`` in this file, and which import it needs."""
    for local, qualified in ctx.imports.items():
        name = keras_name(qualified)
        if name == "keras.backend.clear_session" or name == "keras.utils.clear_session":
            return f"{local}()", ()
    for local, qualified in ctx.imports.items():
        if keras_name(qualified) == "keras.backend":
            return f"{local}.clear_session()", ()
    for local, qualified in ctx.imports.items():
        if keras_name(qualified) == "keras":
            return f"{local}.backend.clear_session()", ()
    for local, qualified in ctx.imports.items():
        if qualified == "tensorflow":
            return f"{local}.keras.backend.clear_session()", ()
    if "tensorflow" in ctx.libraries and "keras" not in ctx.libraries:
        return "tensorflow.keras.backend.clear_session()", ("tensorflow",)
    return "keras.backend.clear_session()", ("keras",)


def _kept(loop: cst.For | cst.While, call: cst.Call, stack: list[cst.CSTNode], facts: KerasFacts) -> bool:
    """Does a model built in this iteration outlive it, or does the body use a model from outside?"""
    if keras_qualname(facts.ctx, call.func) == "keras.models.clone_model":
        return True
    parent = stack[-2] if len(stack) >= 2 else None
    if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name)):
        return True
    name = parent.targets[0].target.value
    built_here: set[str] = set()
    for node in walk(loop.body):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and facts.builds_model(node.value):
            built_here.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
    for node in walk(loop.body):
        # `best = model`, `models[i] = model`, `self.best = model`
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and node.value is not None:
            if node is parent:
                continue
            if _mentions(node.value, name, bare_only=True):
                return True
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _KEEPING_METHODS:
            if any(_mentions(arg.value, name, bare_only=True) for arg in node.args):
                return True
        elif isinstance(node, (cst.Return, cst.Yield)) and node.value is not None and _mentions(node.value, name, True):
            return True
        elif isinstance(node, cst.Name) and node.value not in built_here and node.value != name:
            # a model built before the loop and used in it would not survive clear_session() under TF1 graphs
            if _is_outer_model(node.value, facts, loop):
                return True
    return False


def _mentions(expr: cst.BaseExpression, name: str, bare_only: bool) -> bool:
    """``name`` itself inside ``expr`` (in a tuple, list, dict...), not ``name.attr`` or ``name(...)``."""
    if isinstance(expr, cst.Name):
        return expr.value == name
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return any(_mentions(e.value, name, bare_only) for e in expr.elements)
    if isinstance(expr, cst.Dict):
        return any(isinstance(e, cst.DictElement) and _mentions(e.value, name, bare_only) for e in expr.elements)
    return False


def _is_outer_model(name: str, facts: KerasFacts, loop: cst.CSTNode) -> bool:
    inner = {id(n) for n in walk(loop)}
    for (_, key), values in facts.bindings.items():
        if key != name:
            continue
        for value in values:
            if id(value) in inner:
                continue
            if isinstance(value, cst.Call) and facts.builds_model(value):
                return True
    return False


class ModelBuiltInLoop(Rule):
    code = "MEM102"
    name = "model-built-in-loop"
    summary = "Keras model built on every loop iteration without `clear_session()`"
    fix_availability = "sometimes"
    libraries = KERAS_LIBRARIES

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        loops = enclosing_repeating_loops(self.ctx)
        if not loops or is_tiny_loop(loops[0]):
            return
        facts = keras_facts(self.ctx)
        if not facts.builds_model(node):
            return
        if keras_qualname(self.ctx, func) in ("keras.Model", "keras.models.Model") and not self._fresh_graph(loops[0]):
            return
        if any(facts.is_clear_session(n) for loop in loops for n in walk(loop.body) if isinstance(n, cst.Call)):
            return
        if self._builder_clears(node, facts):
            return
        loop = loops[0]
        function = self.ctx.enclosing_function()
        if function is not None and function.name.value in facts.builders and _kept(loop, node, self.ctx.stack, facts):
            return  # blocks of one model (Sequential sub-blocks collected into a bigger model)
        message = (
            "a Keras model is built on every iteration without `clear_session()`: Keras' global state grows by "
            "one model per iteration; call `keras.backend.clear_session()` at the top of the loop"
        )
        self.report(node, message, self._fix(loop, node, facts))

    def _fresh_graph(self, loop: cst.CSTNode) -> bool:
        """A functional ``Model(inputs, outputs)`` counts only when the loop also makes new ``Input``s."""
        for n in walk(loop):
            if isinstance(n, cst.Call):
                name = keras_qualname(self.ctx, n.func)
                if name is not None and name.rsplit(".", 1)[-1] == "Input":
                    return True
        return False

    def _builder_clears(self, call: cst.Call, facts: KerasFacts) -> bool:
        func = call.func
        name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
        return name is not None and name in facts.clearing_functions

    def _fix(self, loop: cst.CSTNode, call: cst.Call, facts: KerasFacts) -> Fix | None:
        if not isinstance(loop.body, cst.IndentedBlock) or not loop.body.body:
            return None
        spelling, imports = clear_session_call(self.ctx)
        statement = cst.parse_statement(spelling + "\n")
        body = loop.body
        new_body = body.with_changes(body=[statement, *body.body])
        applicability = "unsafe" if _kept(loop, call, self.ctx.stack, facts) else "safe"
        return Fix(applicability, "Call `clear_session()` at the top of the loop body", {body: new_body}, imports)

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
    ]
