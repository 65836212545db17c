"""What is still referenced at a point of a function, and what keeps it referenced.

A rule that asks "can this cleanup free anything?" (MEM004's ``empty_cache()`` at a phase
boundary) needs the names bound before the point and never used after it, what each is bound to,
which objects hold other values (a pipeline built from text encoders, a ``partial`` over them, a
list of them), and which values were moved off the device. Positions are the source order of one
scope; a loop that repeats the point counts its header and the code after it as "after".
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memlint.analysis import facts
from memlint.analysis.flow import names_in
from memlint.analysis.syntax import LoopNode, ScopeNode, last_name, parent, target_names

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

# Calls that keep what they are given, besides constructors (a capitalised callee).
_KEEPING_CALLS = frozenset({"partial", "from_pretrained"})


@dataclass
class Around:
    """The statements before a point (every block level up to its scope or its loop), those after
    it, those before it in its own block, and what the ones before bind and delete."""

    before: list[ast.stmt] = field(default_factory=list)
    later: list[ast.AST] = field(default_factory=list)
    own_block: list[ast.stmt] = field(default_factory=list)
    bound: dict[str, ast.AST] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    used_later: set[str] = field(default_factory=set)
    offloaded: set[str] = field(default_factory=set)

    def unused(self) -> dict[str, ast.AST]:
        """Names bound before the point, not deleted, never read after it, and not moved to host
        memory on the way (``pipe = pipe.to("cpu")`` in some branch)."""
        gone = self.deleted | self.used_later | self.offloaded
        return {n: v for n, v in self.bound.items() if n not in gone}


def around(file: "FileAnalysis", node: ast.AST, loop: ast.AST | None) -> Around:
    """The statements around ``node``'s statement, up to its scope or up to ``loop`` (whose header
    and later code count as after), with the names bound, deleted and used later."""
    found = Around()
    own: list[ast.stmt] | None = None
    current = file.statement_of(node)
    while current is not None:
        located = file.block_of(current)
        if located is None:
            break
        block, index = located
        found.before.extend(block[:index])
        found.later.extend(block[index + 1 :])
        own = block[:index] if own is None else own
        holder = parent(current)
        if holder is loop and loop is not None:
            found.later.append(loop.iter if isinstance(loop, (ast.For, ast.AsyncFor)) else loop.test)  # type: ignore[attr-defined]
            rest = file.block_of(loop)  # type: ignore[arg-type]
            if rest is not None:
                found.later.extend(rest[0][rest[1] + 1 :])
            break
        if holder is None or isinstance(holder, (*ScopeNode, ast.Module)):
            break
        current = holder  # type: ignore[assignment]
    found.own_block = own or []
    for stmt in found.before:
        for small in _simple_statements(stmt):
            if isinstance(small, ast.Delete):
                found.deleted.update(n for t in small.targets for n in target_names(t))
            elif isinstance(small, ast.Assign) and len(small.targets) == 1:
                for name, value in bindings(small.targets[0], small.value):
                    found.bound[name] = value
                    found.deleted.discard(name)
        if not isinstance(stmt, (ast.Assign, ast.Delete, ast.Expr, ast.With)):
            found.deleted.update(n for d in ast.walk(stmt) if isinstance(d, ast.Delete) for t in d.targets for n in target_names(t))
    for stmt in found.before:
        for inner in ast.walk(stmt):
            if isinstance(inner, (ast.Expr, ast.Assign)) and offloads(inner):
                moved = inner.value.func.value  # type: ignore[attr-defined]
                targets = inner.targets if isinstance(inner, ast.Assign) else [moved]
                found.offloaded.update(n for t in targets for n in target_names(t))
    found.used_later = {n for stmt in found.later for n in names_in(stmt)}
    scope = file.enclosing_function(node)
    if scope is not None:
        found.used_later.update(n for g in ast.walk(scope) if isinstance(g, (ast.Global, ast.Nonlocal)) for n in g.names)
    return found


def bindings(target: ast.AST, value: ast.AST) -> list[tuple[str, ast.AST]]:
    """Names an assignment binds with the expression each holds (a call's result for every name
    unpacked from it)."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            return [pair for t, v in zip(target.elts, value.elts) for pair in bindings(t, v)]
        if isinstance(value, ast.Call):
            return [(n.id, value) for n in target.elts if isinstance(n, ast.Name)]
    return []


def argument_names(value: ast.AST | None) -> list[str]:
    """Names handed whole to a call (``make_pipeline(a, b)``) or listed in a display (``[a, b]``)."""
    if isinstance(value, ast.Call):
        parts = [*value.args, *(k.value for k in value.keywords)]
    elif isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        parts = list(value.elts)
    else:
        return []
    parts = [p.value if isinstance(p, ast.Starred) else p for p in parts]
    return [p.id for p in parts if isinstance(p, ast.Name)]


def held_names(file: "FileAnalysis", value: ast.AST | None) -> list[str]:
    """Names the object ``value`` builds keeps a reference to: the items of a display, the
    arguments of a constructor (``Pipeline(text_encoder=te)``), a factory function
    (``make_pipeline(te)``), a ``partial`` or a ``from_pretrained``. A method of some other object
    (``dataset.map(encode_fn)``) returns something new and keeps none of its arguments."""
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return argument_names(value)
    if not isinstance(value, ast.Call):
        return []
    callee = last_name(value.func) or ""
    if isinstance(value.func, ast.Attribute) and file.qualname(value.func) is None:
        if not (callee[:1].isupper() or callee in _KEEPING_CALLS):
            return []
    return argument_names(value)


def holders(file: "FileAnalysis", here: Around, names: dict[str, ast.AST]) -> dict[str, list[str]]:
    """Which of ``names`` (bound to their values) hold what was deleted before the point: a deleted
    name, or another such holder (``fn = partial(embed, encoders=encoders)`` over a list
    ``encoders = [enc_a, enc_b]`` of deleted encoders), to a fixed point; each with the names it holds."""
    found: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for name, value in names.items():
            held = [h for h in held_names(file, value) if h != name and (h in here.deleted or h in found)]
            if held and held != found.get(name):
                found[name] = held
                changed = True
    return found


def still_bound_contents(file: "FileAnalysis", here: Around, held: list[str], holding: dict[str, list[str]]) -> list[str]:
    """What the objects behind ``held`` keep that a name not deleted still binds: ``del encoders``
    of ``encoders = [enc_a, enc_b]`` leaves both encoders bound to ``enc_a`` and ``enc_b``. Followed
    through deleted names and through ``holding`` (from :func:`holders`); a deleted name's contents
    are the items of a display or the arguments of a ``partial``, which certainly hold them (what a
    factory's result keeps of its arguments is not known)."""
    found: list[str] = []
    seen: set[str] = set()
    todo = list(held)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in holding:
            todo.extend(holding[name])
        elif name in here.deleted:
            value = here.bound.get(name)
            container = isinstance(value, (ast.List, ast.Tuple, ast.Set)) or (isinstance(value, ast.Call) and last_name(value.func) == "partial")
            for inner in argument_names(value) if container else ():
                if inner in here.deleted:
                    todo.append(inner)
                elif inner in here.bound and inner not in found:
                    found.append(inner)
    return found


def kept_elsewhere(name: str, statements: list[ast.stmt]) -> bool:
    """``name`` was handed to a constructor or a container (``TensorDataset(x)``, ``[x] * n``): a
    ``del`` of the name would free nothing while that holds it."""
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and name in argument_names(node):
                callee = last_name(node.func) or ""
                if callee[:1].isupper() or callee in facts.KEEPS_ARGUMENTS:
                    return True
            elif isinstance(node, (ast.List, ast.Tuple, ast.Dict)) and isinstance(parent(node), ast.Assign):
                if name in argument_names(node) or (isinstance(node, ast.Dict) and name in {v.id for v in node.values if isinstance(v, ast.Name)}):
                    return True
    return False


def offloads(stmt: ast.stmt) -> bool:
    """``unet.to("cpu")``, ``self.vae.cpu()``, ``model = model.to(device="cpu")``: weights moved off the device."""
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    return moved_to_cpu(value)


def moved_to_cpu(value: ast.AST | None) -> bool:
    """``x.cpu()``, ``x.to("cpu")``, ``x.to(device=torch.device("cpu"))``."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)):
        return False
    if value.func.attr == "cpu" and not value.args:
        return True
    if value.func.attr != "to":
        return False
    targets = [*value.args[:1], *(k.value for k in value.keywords if k.arg == "device")]
    for target in targets:
        if isinstance(target, ast.Call) and target.args:
            target = target.args[0]  # torch.device("cpu")
        if isinstance(target, ast.Constant) and target.value == "cpu":
            return True
    return False


def loop_body_nodes(loop: ast.AST):  # type: ignore[no-untyped-def]
    """Nodes of a loop's body, not entering nested loops or scopes."""
    stack = list(reversed(loop.body))  # type: ignore[attr-defined]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*LoopNode, *ScopeNode)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _simple_statements(stmt: ast.stmt):  # type: ignore[no-untyped-def]
    """The statement itself, or the statements of a ``with`` block (names bound there stay bound)."""
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        for inner in stmt.body:
            yield from _simple_statements(inner)
    else:
        yield stmt


# Calls that take an output off the device or out of autograd's reach: what is kept is then small or
# host memory (``preds.append(out.argmax(1).cpu())``).
_LEAVES_DEVICE = frozenset({"cpu", "item", "tolist", "numpy", "argmax", "argmin", "sum", "mean", "max", "min"})
_CONCATENATE = frozenset({"torch.cat", "torch.stack", "torch.concat", "torch.concatenate", "torch.vstack", "torch.hstack"})


def pass_outputs_kept(file: "FileAnalysis", loop: ast.For | ast.While) -> list[tuple[str, ast.stmt]]:
    """In a loop whose body trains and then runs an evaluation pass: names bound after the training
    to the outputs of that whole pass (a list a nested loop fills with a model's outputs, kept on
    the device, or its ``torch.cat``), never deleted in the body. The next iteration's training runs
    while they still hold the pass; they are rebound only after it. With the statement that binds
    each."""
    body = loop.body
    trained = [i for i, stmt in enumerate(body) if _trains(file, stmt)]
    if not trained:
        return []
    after = body[trained[-1] + 1 :]
    if any(_trains(file, stmt) for stmt in after):
        return []
    deleted = {n for stmt in body for d in ast.walk(stmt) if isinstance(d, ast.Delete) for t in d.targets for n in target_names(t)}
    found: list[tuple[str, ast.stmt]] = []
    lists: dict[str, ast.stmt] = {}
    for stmt in after:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name, value = node.targets[0].id, node.value
                if isinstance(value, ast.List) and not value.elts:
                    lists[name] = node
                elif isinstance(value, ast.Call) and file.qualname(value.func) in _CONCATENATE and value.args:
                    source = value.args[0]
                    if isinstance(source, ast.Name) and source.id in {n for n, _ in found}:
                        found.append((name, node))
            elif (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append"
                and isinstance(node.func.value, ast.Name) and node.func.value.id in lists and node.args
                and _device_output(node.args[0]) and file.enclosing_loops(node)
            ):
                name = node.func.value.id
                if name not in {n for n, _ in found}:
                    found.append((name, lists[name]))
    return [(n, s) for n, s in found if n not in deleted]


def _trains(file: "FileAnalysis", stmt: ast.stmt) -> bool:
    """``stmt`` runs a backward pass or an optimizer step, itself or through a project helper."""
    for node in ast.walk(stmt):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            if isinstance(node, ast.Call):
                for owner, definition in file.resolve_call(node):
                    if owner.flow(definition, 1).step_calls:
                        return True
            continue
        if node.func.attr in facts.BACKWARD_METHODS:
            return True
        if node.func.attr == "step" and facts.OPTIMIZER_NAME.search((last_name(node.func.value) or "").lower()):
            return True
    return False


def _device_output(expr: ast.AST) -> bool:
    """A model's output, kept as it is (``model(x)``, ``net(x)[0]``, ``out.detach()``)."""
    while True:
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("detach", "float", "contiguous", "squeeze", "clone"):
            expr = expr.func.value
        else:
            break
    if not isinstance(expr, ast.Call):
        return False
    if isinstance(expr.func, ast.Attribute) and expr.func.attr in _LEAVES_DEVICE:
        return False
    return bool(facts.MODEL_LIKE_CALLEE.search(last_name(expr.func) or ""))


def holder_note(
    file: "FileAnalysis", here: Around, name: str, holding: dict[str, list[str]], unused: dict[str, ast.AST], dead: list[str]
) -> str | None:
    """``name`` keeps deleted objects alive: add it to ``dead`` with every other name still
    binding what it holds (``del`` of all of them is what frees it), and say so; None when the
    next phase still uses all it holds (deleting it would free nothing)."""
    held = holding[name]
    live = still_bound_contents(file, here, held, holding)
    freeable = [n for n in live if n in unused]
    if live and not freeable:
        return None
    for n in (name, *freeable):
        if n not in dead:
            dead.append(n)
    spelled = ", ".join(f"`{h}`" for h in held)
    kind = "deleted " if all(h in here.deleted for h in held) else ""
    note = f"`{name}` holds {kind}{spelled}"
    if live:
        note += f", whose items are still bound to {', '.join(f'`{n}`' for n in live)}"
    return note
