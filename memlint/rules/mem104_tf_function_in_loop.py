"""MEM104 tf-function-in-loop: a new ``tf.function`` made and used on every loop iteration.

``tf.function`` traces its Python function into a graph the first time it is called and caches
the graph on the ``tf.function`` object. Creating that object inside a loop (``tf.function(step)``
or a ``@tf.function``-decorated ``def`` in the loop body) and calling it there throws the cache
away each iteration: every call retraces, which is slow and keeps growing memory while traced
graphs pile up (TensorFlow's own retracing warning; tensorflow/tensorflow#31175). Create it once,
before the loop. Report only: where to hoist it depends on what the function closes over.
"""

from __future__ import annotations

import libcst as cst

from memlint.legacy_rule import Invalid, Rule, Valid
from memlint.rules._keras import repeating_loop, walk

_TF_FUNCTION = frozenset({"tensorflow.function", "tensorflow.compat.v2.function", "tensorflow.compat.v1.function"})


def _names_in(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        found: set[str] = set()
        for element in target.elements:
            found |= _names_in(element.value)
        return found
    return set()


def _bound_in(loop: cst.For | cst.While) -> set[str]:
    """Names (re)bound by the loop: its target and assignments in its body."""
    bound = _names_in(loop.target) if isinstance(loop, cst.For) else set()
    for node in walk(loop.body):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                bound |= _names_in(target.target)
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            bound |= _names_in(node.target)
        elif isinstance(node, (cst.For, cst.CompFor)):
            bound |= _names_in(node.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            bound |= _names_in(node.asname.name)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            bound.add(node.name.value)
    return bound


def _reads_loop_state(function: cst.FunctionDef | cst.Lambda, loop_bound: set[str]) -> bool:
    """Does a def/lambda made in the loop read names that this iteration bound?"""
    params = function.params
    own = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            own.add(star.name.value)
    for node in walk(function.body, skip_scopes=False):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                own |= _names_in(target.target)
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            own |= _names_in(node.asname.name)
    names = {n.value for n in walk(function.body, skip_scopes=False) if isinstance(n, cst.Name)}
    if isinstance(function.body, cst.BaseExpression) and isinstance(function.body, cst.Name):
        names.add(function.body.value)
    return bool((names - own) & loop_bound)


def _hoistable(loop: cst.For | cst.While, wrapped: cst.BaseExpression) -> bool:
    """Could the wrapped function be made once before the loop? Unsure means no."""
    bound = _bound_in(loop)
    if isinstance(wrapped, cst.Lambda):
        return not _reads_loop_state(wrapped, bound)
    root = wrapped
    while isinstance(root, cst.Attribute):
        root = root.value
    if not isinstance(root, cst.Name):
        return False
    if root.value not in bound:
        return True
    if root is not wrapped:
        return False  # `model.call` of a model made in this iteration
    for node in walk(loop.body):
        if isinstance(node, cst.Assign) and root.value in {n for t in node.targets for n in _names_in(t.target)}:
            if not isinstance(node.value, cst.Lambda) or _reads_loop_state(node.value, bound):
                return False
        elif isinstance(node, cst.FunctionDef) and node.name.value == root.value and _reads_loop_state(node, bound):
            return False
    return True


class TfFunctionInLoop(Rule):
    code = "MEM104"
    name = "tf-function-in-loop"
    summary = "`tf.function` created and called inside a loop (retraced every iteration)"
    fix_availability = "none"
    libraries = frozenset({"tensorflow"})

    _MESSAGE = (
        "a new `tf.function` is created on every iteration and called there: each call retraces and traced "
        "graphs pile up; create the `tf.function` once, before the loop"
    )

    def _is_tf_function(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            expr = expr.func
        return self.ctx.qualname(expr) in _TF_FUNCTION

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.qualname(node.func) not in _TF_FUNCTION:
            return
        stack = self.ctx.stack
        loop = repeating_loop(self.ctx)
        if loop is None or not isinstance(loop, (cst.For, cst.While)):
            return
        wrapper: cst.CSTNode = node
        parent = stack[-2] if len(stack) >= 2 else None
        wrapped = node.args[0].value if node.args and node.args[0].keyword is None else None
        if wrapped is None:
            # tf.function(jit_compile=True)(step): the outer call wraps
            if isinstance(parent, cst.Call) and parent.func is node and parent.args:
                wrapped = parent.args[0].value
                wrapper = parent
                parent = stack[-3] if len(stack) >= 3 else None
            else:
                return
        if isinstance(parent, cst.Decorator):
            return  # handled by visit_FunctionDef
        if isinstance(loop, cst.For) and isinstance(wrapped, cst.Name) and wrapped.value in _names_in(loop.target):
            return  # one distinct function per iteration: each is traced once anyway
        if self._memoised() or not _hoistable(loop, wrapped):
            return
        if isinstance(parent, cst.Call) and parent.func is wrapper:
            self.report(node, self._MESSAGE)
            return
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0].target, cst.Name):
            if self._used_in(loop, parent.targets[0].target.value, exclude=parent):
                self.report(node, self._MESSAGE)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        decorator = next((d for d in node.decorators if self._is_tf_function(d.decorator)), None)
        if decorator is None:
            return
        loop = repeating_loop(self.ctx)
        if loop is None or not isinstance(loop, (cst.For, cst.While)) or self._memoised():
            return
        if _reads_loop_state(node, _bound_in(loop)):
            return  # closes over this iteration's objects: it cannot simply move out of the loop
        if self._used_in(loop, node.name.value, exclude=node):
            self.report(decorator, self._MESSAGE)

    def _memoised(self) -> bool:
        """Under ``if key not in cache:`` / ``if fn is None:`` inside the loop: made once per key."""
        for ancestor in reversed(self.ctx.stack[:-1]):
            if isinstance(ancestor, (cst.For, cst.While)):
                return False
            if isinstance(ancestor, cst.If):
                for n in walk(ancestor.test):
                    if isinstance(n, (cst.NotIn, cst.IsNot, cst.Is)):
                        return True
        return False

    @staticmethod
    def _used_in(loop: cst.For | cst.While, name: str, exclude: cst.CSTNode) -> bool:
        """``name(...)`` called, or handed to a call, in the loop body (storing it is not use)."""
        skip = {id(n) for n in walk(exclude, skip_scopes=False)} | {id(exclude)}
        for n in walk(loop.body):
            if id(n) in skip or not isinstance(n, cst.Call):
                continue
            if isinstance(n.func, cst.Name) and n.func.value == name:
                return True
            if isinstance(n.func, cst.Attribute) and n.func.attr.value in ("append", "setdefault", "update", "add"):
                continue
            if any(isinstance(a.value, cst.Name) and a.value.value == name for a in n.args):
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
    ]
