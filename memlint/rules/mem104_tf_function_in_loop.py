"""MEM104 tf-function-in-loop: a new ``tf.function`` made and used on every loop iteration.

``tf.function`` traces its Python function into a graph the first time it is called and caches
the graph on the ``tf.function`` object. Creating that object inside a loop (``tf.function(step)``
or a ``@tf.function``-decorated ``def`` in the loop body) and calling it there throws the cache
away each iteration: every call retraces, which is slow and keeps growing memory while traced
graphs pile up (TensorFlow's own retracing warning; tensorflow/tensorflow#31175). The same holds
for a helper that makes its ``tf.function`` on every call when the helper is itself called in a
loop (or per element of a ``Dataset.map`` in a loop).

Trigger: a ``tf.function(...)`` call or decorator. Query: it is used where it is made, and
something repeats that (a loop of its scope, or a loop around a caller of its function:
``analysis/keras.py``), and it could be made once instead (it closes over nothing the repeated
code creates). Report only: where to hoist it depends on what the function closes over.
"""

from __future__ import annotations

import ast

from memlint.analysis import facts, keras
from memlint.analysis.syntax import FunctionNode, ScopeNode, target_names
from memlint.rule import Invalid, Rule, Valid

_MESSAGE = (
    "a new `tf.function` is created on every iteration and called there: each call retraces and traced "
    "graphs pile up; create the `tf.function` once, before the loop"
)
_HELPER_MESSAGE = (
    "this function makes a new `tf.function` on every call and is called on every iteration of a loop: each "
    "call retraces and traced graphs pile up; create the `tf.function` once, outside the function"
)


class TfFunctionInLoop(Rule):
    code = "MEM104"
    name = "tf-function-in-loop"
    summary = "`tf.function` created and called inside a loop (retraced every iteration)"
    fix_availability = "none"
    severity = "error"
    libraries = frozenset({"tensorflow"})

    def _is_tf_function(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.Call):
            expr = expr.func
        return self.file.qualname(expr) in facts.TF_FUNCTION

    def visit_Call(self, node: ast.Call) -> None:
        if self.file.qualname(node.func) not in facts.TF_FUNCTION:
            return
        parent = getattr(node, "_ml_parent", None)
        wrapper: ast.AST = node
        wrapped = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
        if wrapped is None:
            # tf.function(jit_compile=True)(step): the outer call wraps
            if isinstance(parent, ast.Call) and parent.func is node and parent.args:
                wrapped, wrapper = parent.args[0], parent
                parent = getattr(parent, "_ml_parent", None)
            else:
                return
        if node in getattr(parent, "decorator_list", ()) or wrapper in getattr(parent, "decorator_list", ()):
            return  # handled by visit_FunctionDef
        region = self._repeated_region(node)
        if region is None:
            return
        loop, message = region
        if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(wrapped, ast.Name) and wrapped.id in _names(loop.target):
            return  # one distinct function per iteration: each is traced once anyway
        if self._memoised(node) or not _hoistable(loop, wrapped):
            return
        if isinstance(parent, ast.Call) and parent.func is wrapper:
            self.report(node, message)
        elif isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
            if _used_in(loop, parent.targets[0].id, exclude=parent):
                self.report(node, message)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        decorator = next((d for d in node.decorator_list if self._is_tf_function(d)), None)
        if decorator is None:
            return
        region = self._repeated_region(node)
        if region is None or self._memoised(node):
            return
        loop, message = region
        if not isinstance(loop, FunctionNode) and _reads_state(node, _bound_in(loop)):
            return  # closes over this iteration's objects: it cannot simply move out of the loop
        if _used_in(loop, node.name, exclude=node):
            self.report(decorator, message)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _repeated_region(self, node: ast.AST) -> tuple[ast.AST, str] | None:
        """The loop that makes the ``tf.function`` again and again, or the helper whose every call
        makes it (when a loop calls the helper), with the message to give."""
        loops = [loop for loop in self.file.repeating_loops(node) if isinstance(loop, (ast.For, ast.AsyncFor, ast.While))]
        if loops:
            return loops[0], _MESSAGE
        if self.file.repeating_loops(node):
            return None  # a comprehension: not where a def can sit
        helper = self.file.enclosing_function(node)
        if helper is None or helper is node or any(self._is_tf_function(d) for d in helper.decorator_list):
            return None  # at module level, or inside an outer tf.function (traced once with it)
        repeated = keras.repetition(self.file, node)
        if repeated is None or _made_per_call(node, helper):
            return None
        return helper, _HELPER_MESSAGE

    def _memoised(self, node: ast.AST) -> bool:
        """Under ``if key not in cache:`` / ``if fn is None:`` inside the loop (or helper): made once per key."""
        for ancestor in _ancestors_until_loop(node):
            if isinstance(ancestor, ast.If):
                for n in ast.walk(ancestor.test):
                    if isinstance(n, (ast.NotIn, ast.IsNot, ast.Is)):
                        return True
        return False

    VALID = [
        Valid(
            """
            import tensorflow as tf

            @tf.function
            def train_step(x, y):
                return x + y

            for x, y in dataset:
                train_step(x, y)
            """,
            why="created once at module level",
        ),
        Valid(
            """
            import tensorflow as tf

            def train(model, dataset, epochs):
                step = tf.function(model.train_step)
                for epoch in range(epochs):
                    for batch in dataset:
                        step(batch)
            """,
            why="hoisted before the loop",
        ),
        Valid(
            """
            import tensorflow as tf

            compiled = {}
            for name, fn in registry.items():
                compiled[name] = tf.function(fn)
            """,
            why="one tf.function per distinct function, stored for later",
        ),
        Valid(
            """
            import tensorflow as tf

            def run(steps, cache, key, fn, x):
                for _ in range(steps):
                    if key not in cache:
                        cache[key] = tf.function(fn)
                    cache[key](x)
            """,
            why="memoised: created once per key",
        ),
        Valid(
            """
            import tensorflow as tf

            graphs = []
            for fn in (f1, f2, f3, f4):
                g = tf.function(fn)
                g(tf.constant(1.0))
            """,
            why="the wrapped function differs each iteration",
        ),
        Valid(
            """
            import tensorflow as tf

            def make_steps(models):
                steps = []
                for m in models:
                    @tf.function
                    def step(x, m=m):
                        return m(x)
                    steps.append(step)
                return steps
            """,
            why="stored, not called in the loop",
        ),
        Valid(
            """
            import tensorflow as tf

            for epoch in range(10):
                for x in dataset:
                    tf.py_function(func=log, inp=[x], Tout=[])
            """,
            why="tf.py_function is not tf.function",
        ),
        Valid(
            """
            import tensorflow as tf

            def run(step, data):
                for batch in data:
                    def body():
                        return tf.function(step)(batch)
                    schedule(body)
            """,
            why="inside a nested function: not created by this loop",
        ),

        Valid(
            """
            import tensorflow as tf

            def check(strategy, clip_types):
                for clip in clip_types:
                    opt = make_optimizer(clip)
                    var = tf.Variable([1.0])
                    run_fn = lambda: opt.minimize(lambda: var * 4, var_list=[var])
                    run_fn = tf.function(run_fn)
                    strategy.run(run_fn)
            """,
            why="wraps a lambda over this iteration's optimizer and variable: cannot be hoisted",
        ),
        # Seen in real code since 0.1.
        Valid(
            {
                "training_tools.py": """
                    import tensorflow as tf

                    def cifar_training(model, dataset, epochs, lr):
                        optimizer = tf.keras.optimizers.SGD(lr)

                        @tf.function
                        def step(x, y):
                            with tf.GradientTape() as tape:
                                loss = tf.reduce_mean(model(x))
                            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
                            return loss

                        for _ in range(epochs):
                            for x, y in dataset:
                                step(x, y)
                    """,
                "run_experiments.py": """
                    from training_tools import cifar_training

                    def run_all(experiments, dataset):
                        for build, epochs, lr in experiments:
                            cifar_training(build(), dataset, epochs, lr)
                    """,
            },
            why="the step closes over the optimizer each run creates: one trace per run is what it needs",
        ),
        Valid(
            """
            import tensorflow as tf

            @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float64)])
            def refine(weights):
                average = tf.reduce_mean(weights)

                @tf.function
                def below(w, *args):
                    return w < average

                return tf.while_loop(below, lambda w, i: (w + weights[i], i + 1), (tf.constant(0.0, tf.float64), 0))

            def refine_all(grid):
                return [refine(row) for row in grid]
            """,
            why="inside an outer tf.function: traced once, with the outer graph",
        ),
        Valid(
            {
                "utils.py": """
                    import tensorflow as tf

                    def trainer():
                        @tf.function
                        def one_step(model, optimizer, features, labels):
                            with tf.GradientTape() as tape:
                                loss = tf.reduce_mean(model(features))
                            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
                            return loss
                        return one_step
                    """,
                "train.py": """
                    import tensorflow as tf

                    from utils import trainer

                    def runs(build_model, features, labels, n_runs, epochs):
                        for run in range(n_runs):
                            model, optimizer = build_model(), tf.keras.optimizers.Adam(1e-2)
                            train = trainer()
                            for _ in range(epochs):
                                train(model, optimizer, features, labels)
                    """,
            },
            why="a factory hands a fresh step to each run, whose new optimizer needs its own trace",
        ),
        Valid(
            """
            import tensorflow as tf

            class PeakModel:
                def __init__(self, model):
                    self.model = model

                @tf.function
                def predict_step(self, inputs):
                    return tf.sigmoid(self.model(inputs))

                def run_predictions(self, batches):
                    return [self.predict_step(b) for b in batches]
            """,
            why="a tf.function method defined once on the class",
        ),
        Valid(
            """
            import tensorflow as tf

            _compiled = {}

            def fast(fn, x):
                if fn not in _compiled:
                    _compiled[fn] = tf.function(fn)
                return _compiled[fn](x)

            for x in xs:
                fast(square, x)
            """,
            why="a helper that memoises its tf.function per wrapped function",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import tensorflow as tf

            def train(model, optimizer, dataset, epochs):
                for epoch in range(epochs):
                    for x, y in dataset:
                        @tf.function
                        def train_step(x, y):
                            with tf.GradientTape() as tape:
                                loss = model.compiled_loss(y, model(x, training=True))
                            grads = tape.gradient(loss, model.trainable_variables)
                            optimizer.apply_gradients(zip(grads, model.trainable_variables))
                            return loss
                        train_step(x, y)
            """,
            line=6,
        ),
        Invalid(
            """
            import tensorflow as tf

            def evaluate(model, batches):
                for batch in batches:
                    out = tf.function(model)(batch)
                    print(out.shape)
            """,
            line=5,
        ),
        Invalid(
            """
            import tensorflow as tf

            step = 0
            while step < 1000:
                predict = tf.function(lambda x: model(x, training=False))
                predict(next(it))
                step += 1
            """,
            line=5,
        ),
        Invalid(
            """
            from tensorflow import function as tf_function

            for i in range(100):
                fast = tf_function(compute, jit_compile=True)
                fast(data[i])
            """,
            line=4,
        ),
        Invalid(
            """
            import tensorflow as tf

            for epoch in range(epochs):
                step = tf.function(jit_compile=True)(distributed_step)
                for batch in ds:
                    step(batch)
            """,
            line=4,
        ),
        Invalid(
            """
            import tensorflow as tf

            def fit(strategy, model, ds):
                for x in ds:
                    @tf.function(reduce_retracing=True)
                    def replica_step(inputs):
                        return model(inputs)
                    strategy.run(replica_step, args=(x,))
            """,
            line=5,
            why="decorator with arguments; handed to strategy.run",
        ),
        Invalid(
            """
            import tensorflow.compat.v2 as tf2

            for i in range(10):
                g = tf2.function(model.call)
                results.append(g(inputs[i]))
            """,
            line=4,
        ),
        Invalid(
            """
            import tensorflow as tf

            class Trainer:
                def loop(self, data):
                    for x in data:
                        self.step_fn = None
                        step = tf.function(self.compute)
                        self.metrics.update(step(x))
            """,
            line=7,
            why="method in a class",
        ),
        # Seen in real code since 0.1 (issue #11's Keras shapes).
        Invalid(
            """
            import tensorflow as tf

            def restore_shapes(example, shapes):
                @tf.function
                def _reshape(tensor, shape):
                    if tf.equal(tf.size(tensor), 0):
                        return tf.zeros(shape, dtype=tensor.dtype)
                    return tf.reshape(tensor, shape)

                return {k: _reshape(v, shapes[k]) for k, v in example.items()}

            def build(datasets, shapes):
                out = {}
                for name, ds in datasets.items():
                    out[name] = ds.map(lambda x: restore_shapes(x, shapes))
                return out
            """,
            line=4,
            why="a helper defines its tf.function on every call and is mapped once per data set in a loop",
        ),
        Invalid(
            """
            import tensorflow as tf

            class PeakModel:
                def __init__(self, model):
                    self.model = model

                def run_predictions(self, batches, samples=50):
                    @tf.function
                    def predict_step(inputs):
                        return tf.sigmoid(self.model([tf.tile(i, (samples, 1)) for i in inputs]))

                    return [predict_step(b) for b in batches]

                def score_matrix(self, per_sample_batches):
                    return [self.run_predictions(batches, samples=1) for batches in per_sample_batches]
            """,
            line=8,
            why="a method defines its predict step on every call and is reached once per sample",
        ),
        Invalid(
            """
            import tensorflow as tf

            def compute(x):
                return tf.reduce_sum(x * x)

            def fast_sum(x):
                return tf.function(compute, jit_compile=True)(x)

            totals = [fast_sum(x) for x in tensors]
            """,
            line=7,
            why="tf.function(f)(x) made in a helper that a comprehension calls per tensor",
        ),
    ]


def _ancestors_until_loop(node: ast.AST) -> list[ast.AST]:
    found = []
    current = getattr(node, "_ml_parent", None)
    while current is not None and not isinstance(current, (ast.For, ast.AsyncFor, ast.While, *ScopeNode)):
        found.append(current)
        current = getattr(current, "_ml_parent", None)
    return found


def _names(target: ast.AST) -> set[str]:
    return {n for n in target_names(target) if "." not in n}


def _walk_region(region: ast.AST, enter_scopes: bool = False):  # type: ignore[no-untyped-def]
    """Nodes of a loop body or a function body (nested definitions entered only when asked)."""
    roots = region.body if isinstance(region, (ast.For, ast.AsyncFor, ast.While, *FunctionNode)) else [region]
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        if not enter_scopes and isinstance(node, ScopeNode):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _bound_in(region: ast.AST) -> set[str]:
    """Names (re)bound by a loop (its target and assignments in its body) or a helper (its
    parameters and assignments)."""
    bound = _names(region.target) if isinstance(region, (ast.For, ast.AsyncFor)) else set()
    if isinstance(region, FunctionNode):
        args = region.args
        bound |= {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for node in _walk_region(region):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bound |= _names(target)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            bound |= _names(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bound |= _names(node.target)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bound |= _names(node.optional_vars)
        elif isinstance(node, (*FunctionNode, ast.ClassDef)) and node is not region:
            bound.add(node.name)
    return bound


def _own_names(function: ast.AST) -> set[str]:
    args = function.args  # type: ignore[attr-defined]
    own = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for star in (args.vararg, args.kwarg):
        if star is not None:
            own.add(star.arg)
    body = function.body if isinstance(function.body, list) else [function.body]  # type: ignore[attr-defined]
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    own |= _names(target)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                own |= _names(node.optional_vars)
            elif isinstance(node, ast.comprehension):
                own |= _names(node.target)
    return own


def _reads_state(function: ast.AST, bound: set[str]) -> bool:
    """Does a def/lambda made in the loop (or helper) read names that the loop (or helper) binds?"""
    own = _own_names(function)
    body = function.body if isinstance(function.body, list) else [function.body]  # type: ignore[attr-defined]
    names = {n.id for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    return bool((names - own) & bound)


def _made_per_call(function: ast.AST, helper: ast.AST) -> bool:
    """A ``tf.function`` in a helper that reads objects the helper creates on each call (an optimizer,
    variables): one trace per call is what it needs, and it cannot move out."""
    created = set()
    for node in _walk_region(helper):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                created |= _names(target)
    if isinstance(function, ast.Call):
        function = function.args[0] if function.args else function
    if not isinstance(function, (*FunctionNode, ast.Lambda)):
        return False
    return _reads_state(function, created)


def _hoistable(region: ast.AST, wrapped: ast.AST) -> bool:
    """Could the wrapped function be made once before the loop (or outside the helper)? Unsure means no."""
    bound = _bound_in(region)
    if isinstance(wrapped, ast.Lambda):
        return not _reads_state(wrapped, bound)
    root = wrapped
    while isinstance(root, ast.Attribute):
        root = root.value
    if not isinstance(root, ast.Name):
        return False
    if root.id not in bound:
        return True
    if root is not wrapped:
        return False  # `model.call` of a model made in this iteration
    for node in _walk_region(region):
        if isinstance(node, ast.Assign) and root.id in {n for t in node.targets for n in _names(t)}:
            if not isinstance(node.value, ast.Lambda) or _reads_state(node.value, bound):
                return False
        elif isinstance(node, FunctionNode) and node.name == root.id and _reads_state(node, bound):
            return False
    return not isinstance(region, FunctionNode) or any(
        isinstance(n, FunctionNode) and n.name == root.id for n in _walk_region(region)
    )


def _used_in(region: ast.AST, name: str, exclude: ast.AST) -> bool:
    """``name(...)`` called, or handed to a call, in the loop body (storing it is not use)."""
    skip = {id(n) for n in ast.walk(exclude)}
    for n in _walk_region(region, enter_scopes=isinstance(region, FunctionNode)):
        if id(n) in skip or not isinstance(n, ast.Call):
            continue
        if isinstance(n.func, ast.Name) and n.func.id == name:
            return True
        if isinstance(n.func, ast.Attribute) and n.func.attr in ("append", "setdefault", "update", "add"):
            continue
        if any(isinstance(a, ast.Name) and a.id == name for a in n.args):
            return True
    return False
