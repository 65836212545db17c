"""MEM101 predict-in-loop: ``model.predict(...)`` called on every iteration of a loop.

``Model.predict`` is built for one big input: each call wraps the input in a data adapter and
an epoch iterator, splits it into batches and concatenates the outputs. Called once per step of
a loop (a game loop, a per-sample loop, a GAN's sampling step) that machinery is rebuilt every
time, and memory has been seen to grow with every call (keras-team/keras#13118, over 20 GB;
tensorflow/tensorflow#33009).

Trigger: a ``.predict(...)`` call. Query: the receiver is a Keras model (``analysis/keras.py``:
the flow's value, what callers pass, how the file uses the name) and something runs the call many
times: a loop of its scope, or a loop around a caller of its function (this file or the project,
a few calls up). Silent on a model built afresh in the repeated region (MEM102's concern) and on
a whole input predicted a few times (rolled forward, or the same input again: Monte Carlo dropout),
the loop's length read from literals, parameter defaults and what callers pass
(``data.literal_values``).

Fix: ``keras.ops.convert_to_numpy(model(x, training=False))`` (safe) where Keras 3 is in use, the
model is a ``Sequential`` (one output) and ``x`` is visibly one batch; else
``predict_on_batch(x)`` (unsafe: it does not split a large input).
"""

from __future__ import annotations

import ast

from memlint.analysis import data, keras
from memlint.analysis.syntax import dotted, function_params, last_name, literal_loop_bound
from memlint.rule import Fix, Invalid, NodeEdit, Rule, Valid

ON_BATCH = "Use `predict_on_batch(x)` (no internal batching: the whole input is one batch)"
CALL = "Call the model on the batch: `keras.ops.convert_to_numpy(model(x, training=False))`"
# Argument names that usually hold a dataset or a generator, which predict_on_batch cannot take.
_STREAM_WORDS = ("ds", "dataset", "gen", "generator", "loader", "iterator", "iter", "flow", "seq", "sequence", "pipeline")
_STREAM_METHODS = frozenset({"batch", "flow", "flow_from_directory", "flow_from_dataframe", "prefetch", "take", "map", "shuffle"})
_SINGLE_OUTPUT_MODELS = ("keras.Sequential", "keras.models.Sequential")
# A loop this short that predicts a whole input each time is not the per-step shape.
_FEW_STEPS = 10


class PredictInLoop(Rule):
    code = "MEM101"
    name = "predict-in-loop"
    summary = "Keras `model.predict()` called on every iteration of a loop"
    fix_availability = "sometimes"
    severity = "error"
    fix_kinds = {ON_BATCH: "unsafe", CALL: "safe"}
    libraries = keras.facts.KERAS_LIBRARIES

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr != "predict":
            return
        file = self.file
        if isinstance(file.enclosing_scope(node), (ast.Lambda, ast.ClassDef)):
            return
        if not keras.is_keras_model(file, func.value):
            return
        repeated = keras.repetition(file, node)
        if repeated is None or self._fresh_model(node, repeated):
            return
        if repeated.kind == "loop" and self._whole_input_few_times(node, repeated.node):
            return
        where = "inside a loop" if repeated.kind == "loop" else "in a function called on every iteration of a loop"
        message = (
            f"`predict()` {where} rebuilds its data pipeline on every call and memory grows across calls; "
            "use `predict_on_batch(x)` (or `model(x, training=False)`) for per-step inputs"
        )
        self.report(node, message, self._fix(node))

    # ------------------------------------------------------------------ query
    def _fresh_model(self, call: ast.Call, repeated: keras.Repetition) -> bool:
        """The receiver is built again in the repeated region: one predict per model (MEM102)."""
        receiver = dotted(call.func.value)  # type: ignore[attr-defined]
        if receiver is None:
            return False
        if repeated.kind == "loop":
            body = repeated.node
            return any(
                isinstance(n, ast.Assign) and any(dotted(t) == receiver for t in n.targets) for n in ast.walk(body)
            )
        scope = self.file.enclosing_function(call)
        if scope is None:
            return False
        flow = self.file.flow(scope)
        return any(
            receiver in names and isinstance(value, ast.Call) and keras.keras_model_value(self.file, value) is not None
            for names, value in flow.assignments
        )

    def _whole_input_few_times(self, call: ast.Call, loop: ast.AST) -> bool:
        """A whole input predicted a few times, where predict's own batching is the right tool:
        rolled forward (``for ahead in range(10): y = model.predict(window); window = concat(window, y)``)
        or the same input again (Monte Carlo dropout: ``[model.predict(X) for _ in range(n_samples)]``
        with ``n_samples`` 10 by default and from every caller). A per-step input (chosen by the loop
        variable, or visibly one row or a slice of a set) is not."""
        x = _input(call)
        if not isinstance(x, ast.Name):
            return False
        if isinstance(loop, (ast.For, ast.AsyncFor)):
            target, source = loop.target, loop.iter
        elif isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)) and len(loop.generators) == 1:
            target, source = loop.generators[0].target, loop.generators[0].iter
        else:
            return False
        bound = _loop_bound(self.file, source)
        if bound is None or bound > _FEW_STEPS or x.id in {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}:
            return False
        rolled = any(
            isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == x.id for t in n.targets)
            for n in ast.walk(loop)
        )
        return rolled or not self._part_of_a_set(x, call)

    def _part_of_a_set(self, x: ast.Name, at: ast.AST, depth: int = 0) -> bool:
        """``x`` is (or may be) one row or a slice of something bigger: bound to a subscript or a
        visibly single batch before ``at``, or so passed by a caller for this parameter. Unknown
        bindings count as parts."""
        scope = self.file.enclosing_function(at)
        holder = scope or self.file.tree
        bound = [v for node, v in data.bindings(holder, x.id) if node.lineno < at.lineno]  # type: ignore[attr-defined]
        if bound:
            return any(v is None or _a_part(v) for v in bound)
        if scope is None or x.id not in function_params(scope) or depth >= 3:
            return True
        calls = self.file.callers(scope)  # type: ignore[attr-defined]
        for owner, caller in calls:
            given = owner.argument_given(scope, x.id, caller)
            if given is None or _a_part(given):
                return True
            if isinstance(given, ast.Name) and owner is self.file and self._part_of_a_set(given, caller, depth + 1):
                return True
        return not calls

    # ------------------------------------------------------------------ fix
    def _fix(self, call: ast.Call) -> Fix | None:
        x = _input(call)
        if x is None or _looks_like_stream(x) or any(k.arg not in ("x", "verbose") for k in call.keywords):
            return None
        if len(call.args) + len([k for k in call.keywords if k.arg == "x"]) != 1:
            return None
        if self._single_output(call.func.value) and _one_batch(x) and keras.keras_spelling(self.file) == "keras3":  # type: ignore[attr-defined]
            alias, imports = self.file.module_ref("keras")
            return Fix("safe", CALL, (_call_model(call, alias),), imports, uses=(alias.split(".")[0],))
        return Fix("unsafe", ON_BATCH, (_predict_on_batch(call),))

    def _single_output(self, receiver: ast.AST) -> bool:
        """A ``Sequential`` (one output, so ``model(x)`` gives one array like ``predict``): made here,
        or handed over as this parameter by every caller."""
        made = keras.keras_model_value(self.file, receiver)
        if made is not None:
            values = [made]
        else:
            scope = self.file.enclosing_function(receiver)
            if not isinstance(receiver, ast.Name) or scope is None:
                return False
            values = self.file.argument_values(scope, receiver.id)
        return bool(values) and all((keras.facts.keras_name(v.origin) or "") in _SINGLE_OUTPUT_MODELS for v in values)

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
        # Seen in real code since 0.1.
        Valid(
            """
            from tensorflow.keras import backend
            from tensorflow.keras.models import load_model

            def predict_core(x, path):
                net = load_model(path)
                preds = net.predict(x, batch_size=1024).flatten()
                backend.clear_session()
                return preds

            def predict_all(chunks, path):
                return [predict_core(chunk, path) for chunk in chunks]
            """,
            why="a model loaded in the same call and predicted once: the cost is the load (MEM102)",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf

            class Policy(tf.keras.Model):
                def __init__(self, actions):
                    super().__init__()
                    self.head = tf.keras.layers.Dense(actions)

                def call(self, x):
                    return self.head(x)

                def act(self, obs):
                    return np.argmax(self.predict_on_batch(obs), axis=-1)

            def rollout(env, policy, steps):
                obs = env.reset()
                for _ in range(steps):
                    obs, _, done, _ = env.step(int(policy.act(obs[None, :])[0]))
            """,
            why="the per-step method already uses predict_on_batch",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf

            def score_video(model, frames, batch_size):
                scores = []
                for i in range(0, len(frames), batch_size):
                    scores.append(model(np.array(frames[i:i + batch_size])))
                return np.concatenate(scores)
            """,
            why="the model is called on each batch, the recommended form",
        ),
        Valid(
            """
            import numpy as np
            from tensorflow import keras

            model = keras.models.Sequential([keras.layers.SimpleRNN(20, input_shape=[None, 1]), keras.layers.Dense(1)])
            window = series_valid
            for ahead in range(10):
                next_values = model.predict(window)[:, np.newaxis, :]
                window = np.concatenate([window, next_values], axis=1)
            """,
            why="ten steps, each predicting a whole validation set: predict batches it, the right API",
        ),
        Valid(
            """
            import numpy as np
            import tensorflow as tf
            from sklearn.ensemble import RandomForestRegressor

            model = RandomForestRegressor()
            model.fit(x_train, y_train)

            def rolling(model, windows):
                return [model.predict(w) for w in windows]

            preds = rolling(model, windows)
            """,
            why="the parameter gets an sklearn forest from every caller",
        ),
        Valid(
            """
            import mlflow
            import tensorflow as tf


            def score(uri, frames):
                model = mlflow.pyfunc.load_model(uri)
                out = []
                for frame in frames:
                    out.append(model.predict(frame))
                return out
            """,
            why="mlflow.pyfunc models are not Keras models: their predict has no per-call pipeline",
        ),
        Valid(
            """
            from tensorflow import keras


            class Tagger:
                def __init__(self, path):
                    self.nn = keras.models.load_model(path)

                def __call__(self, feats):
                    return self.nn.predict(feats, batch_size=256)


            class CachedTagger(Tagger):
                def __call__(self, feats):
                    return self.cache[feats.tobytes()]


            class Pipeline:
                def __init__(self):
                    self.tagger = CachedTagger("t.h5")

                def tag_all(self, items):
                    return [self.tagger(f) for f in items]
            """,
            why="the subclass overrides __call__ with a cache lookup: the loop never reaches predict",
        ),
        Valid(
            """
            import numpy as np
            from tensorflow import keras


            def stochastic_passes(net, inputs, passes=8):
                runs = [net.predict(inputs, verbose=0) for _ in range(passes)]
                return np.stack(runs).mean(axis=0)


            def uncertain_labels(net, inputs, passes=8):
                return stochastic_passes(net, inputs, passes).argmax(axis=1)


            net = keras.models.load_model("dropout_net.keras")
            features = np.load("holdout.npy")
            labels = uncertain_labels(net, features)
            """,
            why="a whole held-out set predicted again a few times (8 by default and from every caller) for "
            "Monte Carlo averaging: predict's own batching is right for it",
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
        Invalid(
            """
            import numpy as np
            from tensorflow import keras


            def stochastic_passes(net, inputs, passes=8):
                runs = [net.predict(inputs, verbose=0) for _ in range(passes)]
                return np.stack(runs).mean(axis=0)


            net = keras.models.load_model("dropout_net.keras")
            features = np.load("holdout.npy")
            spread = stochastic_passes(net, features[:1], 200)
            """,
            line=6,
            fixed="""
            import numpy as np
            from tensorflow import keras


            def stochastic_passes(net, inputs, passes=8):
                runs = [net.predict_on_batch(inputs) for _ in range(passes)]
                return np.stack(runs).mean(axis=0)


            net = keras.models.load_model("dropout_net.keras")
            features = np.load("holdout.npy")
            spread = stochastic_passes(net, features[:1], 200)
            """,
            applicability="unsafe",
            why="one row predicted 200 times: a caller passes both the slice and a long loop",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow import keras


            def stochastic_passes(net, inputs, passes=8):
                runs = [net.predict(inputs, verbose=0) for _ in range(passes)]
                return np.stack(runs).mean(axis=0)


            net = keras.models.load_model("dropout_net.keras")
            features = np.load("holdout.npy")
            spread = [stochastic_passes(net, row[None]) for row in features]
            """,
            line=6,
            fixed="""
            import numpy as np
            from tensorflow import keras


            def stochastic_passes(net, inputs, passes=8):
                runs = [net.predict_on_batch(inputs) for _ in range(passes)]
                return np.stack(runs).mean(axis=0)


            net = keras.models.load_model("dropout_net.keras")
            features = np.load("holdout.npy")
            spread = [stochastic_passes(net, row[None]) for row in features]
            """,
            applicability="unsafe",
            why="a few passes, but over one row each, called for every row of the set",
        ),
        # Seen in real code since 0.1 (issue #11's Keras shapes).
        Invalid(
            {
                "classify.py": """
                    def classify_array(model, images):
                        scores = model.predict(images)
                        return [dict(zip(("safe", "unsafe"), row)) for row in scores.tolist()]
                    """,
                "service.py": """
                    import tensorflow as tf

                    from classify import classify_array

                    model = tf.keras.models.load_model("classifier.h5")

                    def serve(queue):
                        while True:
                            image = queue.get()
                            queue.reply(classify_array(model, image[None]))
                    """,
            },
            path="classify.py",
            line=2,
            fixed="""
            def classify_array(model, images):
                scores = model.predict_on_batch(images)
                return [dict(zip(("safe", "unsafe"), row)) for row in scores.tolist()]
            """,
            applicability="unsafe",
            why="a helper in another file, called by a service loop with a loaded Keras model",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow.keras.models import load_model

            class Inference:
                def __init__(self, model_path, generator):
                    self.model = load_model(model_path)
                    self.generator = generator

                def run(self, out):
                    for index in np.arange(len(self.generator)):
                        batch = self.generator[index]
                        out[index] = self.model.predict(batch[0])
            """,
            line=12,
            fixed="""
            import numpy as np
            from tensorflow.keras.models import load_model

            class Inference:
                def __init__(self, model_path, generator):
                    self.model = load_model(model_path)
                    self.generator = generator

                def run(self, out):
                    for index in np.arange(len(self.generator)):
                        batch = self.generator[index]
                        out[index] = self.model.predict_on_batch(batch[0])
            """,
            applicability="unsafe",
            why="per generator batch on a model loaded in __init__",
        ),
        Invalid(
            """
            import numpy as np
            import tensorflow as tf

            class Policy(tf.keras.Model):
                def __init__(self, actions):
                    super().__init__()
                    self.logits = tf.keras.layers.Dense(actions)
                    self.value = tf.keras.layers.Dense(1)

                def call(self, x):
                    return self.logits(x), self.value(x)

                def act(self, obs):
                    logits, value = self.predict(obs)
                    return np.argmax(logits, axis=-1), value

            def rollout(env, policy, steps):
                obs = env.reset()
                for _ in range(steps):
                    action, _ = policy.act(obs[None, :])
                    obs, reward, done, _ = env.step(int(action[0]))
            """,
            line=14,
            fixed="""
            import numpy as np
            import tensorflow as tf

            class Policy(tf.keras.Model):
                def __init__(self, actions):
                    super().__init__()
                    self.logits = tf.keras.layers.Dense(actions)
                    self.value = tf.keras.layers.Dense(1)

                def call(self, x):
                    return self.logits(x), self.value(x)

                def act(self, obs):
                    logits, value = self.predict_on_batch(obs)
                    return np.argmax(logits, axis=-1), value

            def rollout(env, policy, steps):
                obs = env.reset()
                for _ in range(steps):
                    action, _ = policy.act(obs[None, :])
                    obs, reward, done, _ = env.step(int(action[0]))
            """,
            applicability="unsafe",
            why="a model's own method predicts on self; the rollout loop calls it every step",
        ),
        Invalid(
            """
            import random

            import numpy as np
            import tensorflow as tf

            class Agent:
                def __init__(self, n_actions):
                    self.n_actions = n_actions
                    self.model = tf.keras.Sequential([tf.keras.layers.Dense(32), tf.keras.layers.Dense(n_actions)])

                def act(self, state):
                    if random.random() < 0.1:
                        return random.randrange(self.n_actions)
                    return int(np.argmax(self.model.predict(state)[0]))

            agent = Agent(2)
            for episode in range(200):
                state, done = env.reset(), False
                while not done:
                    state, reward, done, _ = env.step(agent.act(state))
            """,
            line=14,
            fixed="""
            import random

            import numpy as np
            import tensorflow as tf

            class Agent:
                def __init__(self, n_actions):
                    self.n_actions = n_actions
                    self.model = tf.keras.Sequential([tf.keras.layers.Dense(32), tf.keras.layers.Dense(n_actions)])

                def act(self, state):
                    if random.random() < 0.1:
                        return random.randrange(self.n_actions)
                    return int(np.argmax(self.model.predict_on_batch(state)[0]))

            agent = Agent(2)
            for episode in range(200):
                state, done = env.reset(), False
                while not done:
                    state, reward, done, _ = env.step(agent.act(state))
            """,
            applicability="unsafe",
            why="an agent method reached from the episode loop through an instance",
        ),
        Invalid(
            """
            import numpy as np
            from tensorflow import keras

            q_net = keras.models.Sequential([keras.layers.Dense(32, activation="elu"), keras.layers.Dense(2)])

            def choose(state, epsilon):
                if np.random.rand() < epsilon:
                    return np.random.randint(2)
                return int(np.argmax(q_net.predict(state[np.newaxis])[0]))

            def step_once(env, state, epsilon):
                next_state, reward, done, info = env.step(choose(state, epsilon))
                return next_state, done

            for episode in range(600):
                state = env.reset()
                for step in range(200):
                    state, done = step_once(env, state, 0.1)
            """,
            line=9,
            fixed="""
            import numpy as np
            from tensorflow import keras

            q_net = keras.models.Sequential([keras.layers.Dense(32, activation="elu"), keras.layers.Dense(2)])

            def choose(state, epsilon):
                if np.random.rand() < epsilon:
                    return np.random.randint(2)
                return int(np.argmax(q_net.predict_on_batch(state[np.newaxis])[0]))

            def step_once(env, state, epsilon):
                next_state, reward, done, info = env.step(choose(state, epsilon))
                return next_state, done

            for episode in range(600):
                state = env.reset()
                for step in range(200):
                    state, done = step_once(env, state, 0.1)
            """,
            applicability="unsafe",
            why="two helpers deep: choose() is called by step_once(), which the episode loop calls",
        ),
        Invalid(
            """
            import keras
            import numpy as np

            latent = keras.Input(shape=(2,))
            decoder = keras.Model(latent, keras.layers.Dense(784)(latent))

            class Vae(keras.Model):
                def __init__(self, encoder, decoder):
                    super().__init__()
                    self.encoder = encoder
                    self.decoder = decoder

            vae = Vae(encoder, decoder)
            for i, zy in enumerate(np.linspace(-1, 1, 30)):
                for j, zx in enumerate(np.linspace(-1, 1, 30)):
                    digit = vae.decoder.predict(np.array([[zx, zy]]), verbose=0)[0]
            """,
            line=16,
            fixed="""
            import keras
            import numpy as np

            latent = keras.Input(shape=(2,))
            decoder = keras.Model(latent, keras.layers.Dense(784)(latent))

            class Vae(keras.Model):
                def __init__(self, encoder, decoder):
                    super().__init__()
                    self.encoder = encoder
                    self.decoder = decoder

            vae = Vae(encoder, decoder)
            for i, zy in enumerate(np.linspace(-1, 1, 30)):
                for j, zx in enumerate(np.linspace(-1, 1, 30)):
                    digit = vae.decoder.predict_on_batch(np.array([[zx, zy]]))[0]
            """,
            applicability="unsafe",
            why="a dotted receiver: the decoder of a Keras model, once per grid point",
        ),
        Invalid(
            """
            import keras_hub
            import numpy as np

            backbone = keras_hub.models.Backbone.from_preset("xception_41_imagenet")

            def extract(dataset):
                feats = []
                for images, labels in dataset:
                    feats.append(backbone.predict(images, verbose=0))
                return np.concatenate(feats)
            """,
            line=9,
            fixed="""
            import keras_hub
            import numpy as np

            backbone = keras_hub.models.Backbone.from_preset("xception_41_imagenet")

            def extract(dataset):
                feats = []
                for images, labels in dataset:
                    feats.append(backbone.predict_on_batch(images))
                return np.concatenate(feats)
            """,
            applicability="unsafe",
            why="a backbone from a model hub's from_preset, once per dataset batch",
        ),
        Invalid(
            """
            import numpy as np
            import tensorflow as tf
            from sklearn.model_selection import train_test_split

            def play_episode(policy_net, env, max_steps=200):
                obs = env.reset()
                for _ in range(max_steps):
                    go_left = policy_net.predict(obs.reshape(1, -1))
                    obs, reward, done, info = env.step(int(np.random.rand() > go_left))
                    if done:
                        break
            """,
            line=8,
            fixed="""
            import numpy as np
            import tensorflow as tf
            from sklearn.model_selection import train_test_split

            def play_episode(policy_net, env, max_steps=200):
                obs = env.reset()
                for _ in range(max_steps):
                    go_left = policy_net.predict_on_batch(obs.reshape(1, -1))
                    obs, reward, done, info = env.step(int(np.random.rand() > go_left))
                    if done:
                        break
            """,
            applicability="unsafe",
            why="a model parameter named like one; importing sklearn does not switch detection off",
        ),
        Invalid(
            {
                "network.py": """
                    from tensorflow import keras

                    class SmallVGG(keras.Model):
                        def __init__(self, classes=10):
                            super().__init__()
                            self.head = keras.layers.Dense(classes)

                        def call(self, x, training=None):
                            return self.head(x)
                    """,
                "main.py": """
                    import tensorflow as tf

                    from network import SmallVGG

                    net = SmallVGG()
                    for epoch in range(250):
                        for x, y in test_data:
                            logits = net.predict(x)
                    """,
            },
            path="main.py",
            line=8,
            fixed="""
            import tensorflow as tf

            from network import SmallVGG

            net = SmallVGG()
            for epoch in range(250):
                for x, y in test_data:
                    logits = net.predict_on_batch(x)
            """,
            applicability="unsafe",
            why="an instance of a keras.Model subclass imported from the project",
        ),
        Invalid(
            """
            import os

            os.environ["KERAS_BACKEND"] = "torch"

            import keras
            import numpy as np

            def build():
                return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

            model = build()
            for state in states:
                q = model.predict(state[None], verbose=0)
                print(int(np.argmax(q)))
            """,
            line=13,
            fixed="""
            import os

            os.environ["KERAS_BACKEND"] = "torch"

            import keras
            import numpy as np

            def build():
                return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

            model = build()
            for state in states:
                q = keras.ops.convert_to_numpy(model(state[None], training=False))
                print(int(np.argmax(q)))
            """,
            applicability="safe",
            why="Keras 3, a Sequential model, one sample per step: calling the model gives the same array",
        ),
        Invalid(
            """
            import mlflow
            from tensorflow.keras.models import load_model


            class Denoiser:
                def __init__(self, cfg, batches):
                    self.cfg = cfg
                    self.batches = batches
                    self._load()

                def _load(self):
                    if "local_path" in self.cfg:
                        self.model = load_model(self.cfg["local_path"])
                    else:
                        self.model = mlflow.keras.load_model(self.cfg["uri"])

                def run(self, sink):
                    for i in range(len(self.batches)):
                        inputs, _ = self.batches[i]
                        sink[i] = self.model.predict(inputs)
            """,
            line=20,
            fixed="""
            import mlflow
            from tensorflow.keras.models import load_model


            class Denoiser:
                def __init__(self, cfg, batches):
                    self.cfg = cfg
                    self.batches = batches
                    self._load()

                def _load(self):
                    if "local_path" in self.cfg:
                        self.model = load_model(self.cfg["local_path"])
                    else:
                        self.model = mlflow.keras.load_model(self.cfg["uri"])

                def run(self, sink):
                    for i in range(len(self.batches)):
                        inputs, _ = self.batches[i]
                        sink[i] = self.model.predict_on_batch(inputs)
            """,
            applicability="unsafe",
            why="the model comes from tf.keras or from mlflow.keras (a Keras model too) and predicts once per batch",
        ),
        Invalid(
            """
            from tensorflow import keras


            class Tagger:
                labels = ()

                def __init__(self, path):
                    self.nn = keras.models.load_model(path)

                def __call__(self, feats):
                    scores = self.nn.predict(feats, batch_size=256)
                    return [self.labels[i] for i in scores.argmax(-1)]


            class GenderTagger(Tagger):
                labels = ("female", "male")


            class Pipeline:
                def __init__(self):
                    self.gender = GenderTagger("gender.h5")

                def tag(self, feats):
                    return self.gender(feats)

                def tag_all(self, items):
                    results = []
                    for feats in items:
                        results.append(self.tag(feats))
                    return results
            """,
            line=11,
            why="a subclass inherits the tagger's __call__; the pipeline calls it once per item of a loop",
        ),
    ]


def _input(call: ast.Call) -> ast.AST | None:
    if call.args:
        return None if isinstance(call.args[0], ast.Starred) else call.args[0]
    return next((k.value for k in call.keywords if k.arg == "x"), None)


def _loop_bound(file, source: ast.AST) -> int | None:  # type: ignore[no-untyped-def]
    """How many times a loop over ``source`` runs at most, when the source fixes it: a display, or
    ``range(n)`` / ``range(a, b)`` over literals, parameter defaults and what callers pass."""
    literal = literal_loop_bound(ast.For(target=ast.Name("_"), iter=source, body=[], orelse=[]))
    if literal is not None:
        return literal
    if not (isinstance(source, ast.Call) and isinstance(source.func, ast.Name) and source.func.id == "range"):
        return None
    if not 1 <= len(source.args) <= 2 or source.keywords:
        return None
    values = [data.literal_values(file, a, source) for a in source.args]
    if any(v is None or not v or not all(type(n) is int for n in v) for v in values):
        return None
    stop = max(values[-1])  # type: ignore[type-var]
    start = min(values[0]) if len(values) == 2 else 0  # type: ignore[type-var]
    return max(0, stop - start)


def _a_part(expr: ast.AST) -> bool:
    """One row or a slice of a set: ``x[i]``, ``x[:1]``, ``x[None]``, ``x.reshape(1, -1)``."""
    return isinstance(expr, ast.Subscript) or _one_batch(expr)


def _looks_like_stream(expr: ast.AST) -> bool:
    if isinstance(expr, ast.Call):
        return isinstance(expr.func, ast.Attribute) and expr.func.attr in _STREAM_METHODS
    name = last_name(expr)
    return name is not None and any(w in _STREAM_WORDS for w in name.lower().split("_"))


def _one_batch(expr: ast.AST) -> bool:
    """Visibly one sample or one small slice: ``x[None]``, ``x[np.newaxis]``, ``np.expand_dims(x, 0)``,
    ``x.reshape(1, -1)``, ``np.array([x])``, ``x[i:i + 1]``."""
    if isinstance(expr, ast.Subscript):
        index = expr.slice
        first = index.elts[0] if isinstance(index, ast.Tuple) and index.elts else index
        if (isinstance(first, ast.Constant) and first.value is None) or last_name(first) == "newaxis":
            return True
        if isinstance(first, ast.Slice) and first.lower is not None and isinstance(first.upper, ast.BinOp):
            upper = first.upper
            return (
                isinstance(upper.op, ast.Add)
                and ast.dump(upper.left) == ast.dump(first.lower)
                and isinstance(upper.right, ast.Constant)
                and upper.right.value == 1
            )
        return False
    if not isinstance(expr, ast.Call):
        return False
    name = last_name(expr.func)
    args = expr.args
    if name == "expand_dims":
        axis = args[1] if len(args) > 1 else next((k.value for k in expr.keywords if k.arg == "axis"), None)
        return isinstance(axis, ast.Constant) and axis.value == 0
    if name == "reshape":
        shape = args[0] if isinstance(expr.func, ast.Attribute) and len(args) >= 1 else (args[1] if len(args) > 1 else None)
        if isinstance(shape, ast.Tuple) and shape.elts:
            shape = shape.elts[0]
        return isinstance(shape, ast.Constant) and shape.value == 1
    if name in ("array", "asarray") and args and isinstance(args[0], ast.List) and len(args[0].elts) == 1:
        return not isinstance(args[0].elts[0], (ast.List, ast.Tuple, ast.Starred))
    return False


def _only_input(node, lookup):  # type: ignore[no-untyped-def]
    """The libcst argument list of a predict call reduced to its input (``verbose=`` dropped)."""
    import libcst as cst

    kept = [a for a in node.args if not (a.keyword is not None and a.keyword.value == "verbose")]
    return [kept[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def _predict_on_batch(call: ast.Call) -> NodeEdit:
    def build(node, lookup):  # type: ignore[no-untyped-def]
        return node.with_changes(func=node.func.with_changes(attr=node.func.attr.with_changes(value="predict_on_batch")), args=_only_input(node, lookup))

    return NodeEdit(call, build)


def _call_model(call: ast.Call, keras_alias: str) -> NodeEdit:
    def build(node, lookup):  # type: ignore[no-untyped-def]
        import libcst as cst

        argument = _only_input(node, lookup)[0].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
        training = cst.Arg(
            value=cst.Name("False"),
            keyword=cst.Name("training"),
            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
        )
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        forward = cst.Call(func=node.func.value, args=[argument.with_changes(comma=comma), training])
        return cst.Call(func=cst.parse_expression(f"{keras_alias}.ops.convert_to_numpy"), args=[cst.Arg(forward)])

    return NodeEdit(call, build)



PredictInLoop.VALID += [
    Valid(
        """
        import numpy as np
        import tensorflow as tf


        class QNetwork:
            def __init__(self, n_in, n_out):
                self.x = tf.compat.v1.placeholder(tf.float32, (None, n_in))
                self.q = tf.compat.v1.layers.dense(self.x, n_out)

            def set_session(self, session):
                self.session = session

            def predict(self, states):
                return self.session.run(self.q, feed_dict={self.x: np.atleast_2d(states)})

            def learn(self, target_network, batch):
                for states, rewards in batch:
                    best = np.max(target_network.predict(states), axis=1)
                    print(rewards + best)
        """,
        why="the file's own class defines `predict` (a TF1 session.run): a receiver known only by its name "
        "(`target_network`) may be one of those, not a Keras model",
    ),
]
PredictInLoop.INVALID += [
    Invalid(
        """
        import numpy as np
        from tensorflow import keras


        def decoder(latent_dim):
            inputs = keras.Input((latent_dim,))
            return keras.Model(inputs, keras.layers.Dense(784)(inputs))


        def show_samples(decoder, codes):
            pictures = decoder.predict(codes)
            return pictures.reshape(-1, 28, 28)


        def train(models, batches):
            decoder, critic = models
            codes = np.random.normal(size=(16, 8))
            for x in batches:
                critic.train_on_batch(x, np.ones(len(x)))
                show_samples(decoder, codes)
        """,
        line=11,
        fixed="""
        import numpy as np
        from tensorflow import keras


        def decoder(latent_dim):
            inputs = keras.Input((latent_dim,))
            return keras.Model(inputs, keras.layers.Dense(784)(inputs))


        def show_samples(decoder, codes):
            pictures = decoder.predict_on_batch(codes)
            return pictures.reshape(-1, 28, 28)


        def train(models, batches):
            decoder, critic = models
            codes = np.random.normal(size=(16, 8))
            for x in batches:
                critic.train_on_batch(x, np.ones(len(x)))
                show_samples(decoder, codes)
        """,
        applicability="unsafe",
        why="the parameter `decoder` shadows the module's builder of the same name: what the loop passes is the "
        "model unpacked from `models`, and the helper predicts every step",
    ),
]
PredictInLoop.INVALID += [
    Invalid(
        """
        import numpy as np
        from tensorflow import keras


        def build(width):
            inputs = keras.Input((width,))
            return keras.Model(inputs, keras.layers.Dense(width)(inputs))


        def fit(nets, batches):
            g_ab, g_ba, critic = nets
            for real_a, real_b in batches:
                fake_b = g_ab.predict(real_a)
                critic.train_on_batch(np.concatenate([real_b, fake_b]), np.ones(2 * len(real_a)))


        fit((build(8), build(8), build(8)), [(np.zeros((4, 8)), np.zeros((4, 8)))] * 100)
        """,
        line=13,
        fixed="""
        import numpy as np
        from tensorflow import keras


        def build(width):
            inputs = keras.Input((width,))
            return keras.Model(inputs, keras.layers.Dense(width)(inputs))


        def fit(nets, batches):
            g_ab, g_ba, critic = nets
            for real_a, real_b in batches:
                fake_b = g_ab.predict_on_batch(real_a)
                critic.train_on_batch(np.concatenate([real_b, fake_b]), np.ones(2 * len(real_a)))


        fit((build(8), build(8), build(8)), [(np.zeros((4, 8)), np.zeros((4, 8)))] * 100)
        """,
        applicability="unsafe",
        why="a model unpacked from a tuple parameter whose callers pass Keras models, whatever its name",
    ),
]
PredictInLoop.INVALID += [
    Invalid(
        """
        import numpy as np
        from tensorflow import keras


        class Player:
            def __init__(self, n_actions):
                inputs = keras.Input((4,))
                self.policy = keras.Model(inputs, keras.layers.Dense(n_actions)(inputs))

            def choose(self, observation):
                return self.policy.predict(observation[None])[0]


        class GreedyPlayer(Player):
            def learn(self, episode):
                pass


        def play(env, episodes):
            player = GreedyPlayer(2)
            for _ in range(episodes):
                observation, done = env.reset(), False
                while not done:
                    observation, reward, done, _ = env.step(np.argmax(player.choose(observation)))
        """,
        line=11,
        fixed="""
        import numpy as np
        from tensorflow import keras


        class Player:
            def __init__(self, n_actions):
                inputs = keras.Input((4,))
                self.policy = keras.Model(inputs, keras.layers.Dense(n_actions)(inputs))

            def choose(self, observation):
                return self.policy.predict_on_batch(observation[None])[0]


        class GreedyPlayer(Player):
            def learn(self, episode):
                pass


        def play(env, episodes):
            player = GreedyPlayer(2)
            for _ in range(episodes):
                observation, done = env.reset(), False
                while not done:
                    observation, reward, done, _ = env.step(np.argmax(player.choose(observation)))
        """,
        applicability="unsafe",
        why="the loop calls a method the subclass inherits from the base class that predicts one observation",
    ),
]
