"""MEM001: a forward pass in evaluation code while autograd is recording.

``model.eval()`` switches dropout and batch-norm to inference behaviour; it does not stop
autograd. An evaluation loop without ``torch.no_grad()`` builds a graph per batch and keeps
every activation alive until the output is dropped.

Trigger: a mode switch ``<model>.eval()`` / ``.train(False)`` (also chained:
``self.model = self.model.eval().to(device)``, ``enc = Encoder().eval()``), or a function named
like evaluation or sampling (``validate``, ``_valid_epoch``, ``sample_images``...).

Query, on the shared analysis:

1. Region: in source order, from the mode switch until ``<model>.train()``. Forward passes in it
   are ``model(...)``, ``model.forward(...)``, ``model.module(...)``, a method of a project model
   class that runs it, or a call of a helper (in this file or another) whose body runs the model.
2. Silent when the forward is under a guard (``with``, decorators, every caller in the project, a
   library hook such as Lightning's ``validation_step``), or when the region needs gradients
   (``backward``, ``autograd.grad``, ``requires_grad_``...).
3. Evaluation by name, without ``.eval()``: a loop running a model the project trains, or a
   sampling function reached from a training loop.

Fix: ``@torch.no_grad()`` on a function that is all evaluation, else ``with torch.no_grad():``
around the evaluation statements. Code that needs gradients is never wrapped: a region that
spans training code is split, one finding per evaluation loop.
"""

from __future__ import annotations

import ast
import re

from memlint.analysis.autograd import (
    ScopeEvents,
    called_for_side_effects,
    eval_regions,
    eval_switch_receiver,
    inference_methods,
    evaluation_units,
    guarded_elsewhere,
    model_callee,
    param_names,
    periodic_forwards,
    phase_flag,
    returns_numbers,
    steps_through_helper,
    runs_training,
    scope_events,
    top_statement,
    trained_receivers,
    under_tensorflow,
)
from memlint.analysis.syntax import FunctionNode
from memlint.fixes import add_decorator, wrap_with
from memlint.rule import Fix, Invalid, Rule, Valid

# Names of functions whose whole purpose is evaluation.
_EVAL_NAME = re.compile(
    r"^_*(?:(?:run|do|eval|evaluate|compute)_)?"
    r"(?:validate|validation|valid|val|evaluate|evaluation|eval|test|testing|predict|prediction|inference|infer)"
    r"(?:_(?:epoch|loop|step|model|one_epoch|batch|net|dataset|loader|set|run))?$",
    re.IGNORECASE,
)
# Sampling during training (GAN/VAE/diffusion image dumps): evaluation when a training loop calls it.
_SAMPLE_NAME = re.compile(
    r"^_*(?:save_|log_|plot_|show_|dump_)?(?:sample|samples|sampling|visuali[sz]e|reconstruct|generate_(?:images?|samples?|imgs?))"
    r"(?:_(?:images?|imgs?|samples?|grid|outputs?|results?|epoch|batch))*$",
    re.IGNORECASE,
)
SAFE_MESSAGE = "Wrap the evaluation in `with torch.no_grad():`"
UNSAFE_MESSAGE = "Wrap the evaluation in `with torch.no_grad():` (check what it returns)"
SAFE_DECORATOR = "Decorate the function with `@torch.no_grad()`"
UNSAFE_DECORATOR = "Decorate the function with `@torch.no_grad()` (check what it returns)"
SAFE_PHASE = "Turn autograd off when the flag selects evaluation: `with torch.set_grad_enabled(flag):`"
UNSAFE_PHASE = "Turn autograd off when the flag selects evaluation: `with torch.set_grad_enabled(flag):` (check what it returns)"


def _asks_for_input_grads(events: ScopeEvents) -> bool:
    return any(kind == "grad_input" for kind, _ in events.items)


class EvalWithoutNoGrad(Rule):
    code = "MEM001"
    name = "eval-without-no-grad"
    summary = "Evaluation forward pass runs with autograd recording (no `torch.no_grad()`)"
    fix_availability = "sometimes"
    severity = "error"
    fix_kinds = {
        SAFE_MESSAGE: "safe",
        UNSAFE_MESSAGE: "unsafe",
        SAFE_DECORATOR: "safe",
        UNSAFE_DECORATOR: "unsafe",
        SAFE_PHASE: "safe",
        UNSAFE_PHASE: "unsafe",
    }
    libraries = frozenset({"torch"})

    def __init__(self, file, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file, settings)
        self._pending: dict[int, ast.AST] = {}
        self._named: list[ast.AST] = []
        self._skip = file.is_test_file

    # ------------------------------------------------------------------ triggers
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if self._skip or not isinstance(func, ast.Attribute) or func.attr not in ("eval", "train"):
            return
        if eval_switch_receiver(node) is None and not (func.attr == "train" and len(node.args) == 1 and isinstance(node.args[0], ast.Name)):
            return
        scope = self.file.enclosing_function(node) or self.file.tree
        self._pending.setdefault(id(scope), scope)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if not self._skip and (_EVAL_NAME.match(node.name) or _SAMPLE_NAME.match(node.name)):
            self._named.append(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def finish(self) -> None:
        if self._skip:
            return
        analysed: set[int] = set()
        scopes = sorted(self._pending.values(), key=lambda s: (isinstance(s, ast.Module), getattr(s, "lineno", 0)))
        for scope in scopes:
            if self._analyse_regions(scope):
                analysed.add(id(scope))
        for func in self._named:
            if id(func) not in analysed:
                self._analyse_by_name(func)
        reported = {id(self.file.enclosing_function(r.node) or self.file.tree) for r in self.file.reports if r.rule is type(self)}
        for definitions in self.file.functions.values():
            for func in definitions:
                if id(func) in reported:
                    continue
                if id(func) not in analysed and called_for_side_effects(self.file, func, self._reported_calls()):
                    self._analyse_by_name(func, from_training_loop=True)
                elif not self._phase_flag(func):
                    self._periodic_forwards(func)
        if id(self.file.tree) not in reported:
            self._periodic_forwards(self.file.tree)
        for cls in self.file.classes.values():
            for method, calls in inference_methods(self.file, cls, _EVAL_NAME):
                if id(method) not in reported and id(method) not in analysed:
                    self._report(method, scope_events(self.file, method), [(c, False) for c in calls], None, by_name=True)

    # ------------------------------------------------------------------ eval() regions
    def _analyse_regions(self, scope: ast.AST) -> bool:
        events = scope_events(self.file, scope)
        regions = eval_regions(self.file, scope, events)
        if not regions:
            return False
        if guarded_elsewhere(self.file, scope):
            return True
        for region in regions:
            if region.needs_grad:
                continue
            exposed = [(c, h) for c, h in region.forwards if self.file.guard_at(c) is None]
            guarded = {ast.unparse(c) for c, _ in region.forwards if self.file.guard_at(c) is not None}
            if not exposed or any(ast.unparse(c) in guarded for c, _ in exposed):
                # All guarded, or the same call guarded on one path only: a deliberate choice (a
                # model whose forward needs autograd is run unguarded on purpose).
                continue
            self._report(scope, events, exposed, region.start, conditional=region.conditional)
        return True

    # ------------------------------------------------------------------ evaluation by name
    def _analyse_by_name(self, func: ast.FunctionDef | ast.AsyncFunctionDef, from_training_loop: bool = False) -> None:
        """An evaluation or sampling function without ``.eval()``: it runs a model the project
        trains, in a loop (evaluation) or once (sampling, or a helper a training loop calls only for
        what it prints or saves)."""
        file = self.file
        events = scope_events(file, func)
        sampling = from_training_loop or (bool(_SAMPLE_NAME.match(func.name)) and not _EVAL_NAME.match(func.name))
        candidates = []
        # `validate()` that switches the model to train mode (batch statistics, dropout) and never
        # steps still needs no gradient: its `.train()` is no evidence of training.
        evaluating = bool(_EVAL_NAME.match(func.name)) and not any(kind == "grad" for kind, _ in events.items)
        for kind, node in events.items:
            if kind == "train" and evaluating:
                continue
            if kind in ("grad", "train", "eval"):
                return
            if kind != "call":
                continue
            in_loop = bool(file.enclosing_loops(node)) or file.repeating_loop(node) is not None
            if not in_loop and not sampling:
                continue
            name = model_callee(file, node, trained_receivers(file))  # type: ignore[arg-type]
            if name is not None:
                candidates.append((name, node))
        if not candidates or steps_through_helper(file, func):
            return  # it trains through a helper (`self._apply(loss)` steps): not evaluation
        callers = file.callers(func)
        if not callers:
            return  # not called from this project (a pytest test, an API entry point)
        params = set(param_names(func))
        trained = trained_receivers(file)
        from_training = any(runs_training(owner, call) for owner, call in callers)
        from_loops = any(owner.enclosing_loops(call) for owner, call in callers)
        exposed = []
        for name, node in candidates:
            if file.guard_at(node) is not None:
                continue
            held = name.split(".")[0] in params or name.startswith("self.")
            if name in trained or (held and (from_training or from_training_loop or (from_loops and not sampling))):
                exposed.append((node, False))
        if exposed and not guarded_elsewhere(file, func):
            self._report(func, events, exposed, None, by_name=True)

    # ------------------------------------------------------------------ training code that evaluates
    def _phase_flag(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Evaluation passes of a function whose backward runs only under a flag a caller passes
        False (``run_epoch(loader, train=False)``). Reports; True if so."""
        found = phase_flag(self.file, func)
        if found is None:
            return False
        flag, forwards = found
        file = self.file
        loop = top_statement(forwards[0], func)
        safe = returns_numbers(file, func) and not _asks_for_input_grads(scope_events(file, func))
        torch_name, imports = file.module_ref("torch")
        fix = None
        if loop is not None and not scope_events(file, func).has_yield:
            edits = wrap_with([loop], f"{torch_name}.set_grad_enabled({flag})")
            fix = Fix("safe" if safe else "unsafe", SAFE_PHASE if safe else UNSAFE_PHASE, edits, imports, uses=(torch_name.split(".")[0],))
        message = (
            f"with `{flag}` False (a caller passes it) this forward pass runs with autograd on and keeps "
            f"activations alive: wrap the loop in `with torch.set_grad_enabled({flag}):`"
        )
        self.report(forwards[0], message, fix)
        return True

    def _periodic_forwards(self, scope: ast.AST) -> None:
        """A grad-free ``if`` block of a training loop runs a trained model only to look at the output."""
        for forwards in periodic_forwards(self.file, scope):
            self._report(scope, scope_events(self.file, scope), forwards, None, by_name=True, whole_allowed=False)

    # ------------------------------------------------------------------ report and fix
    def _report(
        self,
        scope: ast.AST,
        events: ScopeEvents,
        exposed: list[tuple[ast.Call, bool]],
        start: ast.Call | None,
        by_name: bool = False,
        conditional: bool = False,
        whole_allowed: bool = True,
    ) -> None:
        exposed = [item for item in exposed if not under_tensorflow(self.file, item[0])]
        if not exposed:
            return  # TensorFlow code in a file that also uses torch (a notebook comparing frameworks)
        why = "evaluation runs with autograd on" if by_name else "`.eval()` does not turn off autograd"
        units = evaluation_units(self.file, exposed, start)
        whole = (
            whole_allowed
            and len(units) == 1
            and isinstance(scope, FunctionNode)
            and bool(_EVAL_NAME.match(scope.name) or _SAMPLE_NAME.match(scope.name))
            and not any(kind == "train" for kind, _ in events.items)
            and (start is None or self.file.enclosing_function(start) is scope and top_statement(start, scope) is not None)
            and not isinstance(scope, ast.AsyncFunctionDef)
        )
        for unit_forwards, block in units:
            call = unit_forwards[0][0]
            via_helper = any(h for _, h in unit_forwards)
            what = "a helper that runs the model" if via_helper else "this forward pass"
            message = (
                f"{why}: {what} records a graph and keeps activations alive; "
                "wrap the evaluation in `with torch.no_grad():`"
            )
            fix = None if conditional else self._fix(scope, events, unit_forwards, block, via_helper, whole)
            self.report(call, message, fix)

    def _fix(
        self,
        scope: ast.AST,
        events: ScopeEvents,
        forwards: list[tuple[ast.Call, bool]],
        block: tuple[list[ast.stmt], int, int] | None,
        via_helper: bool,
        whole: bool,
    ) -> Fix | None:
        if events.has_yield:
            return None
        file = self.file
        torch_name, imports = file.module_ref("torch")
        # Inputs made with `requires_grad=True`: the model may differentiate inside its forward
        # (a log-determinant by `torch.autograd.grad`), which a guard would break.
        safe = not via_helper and not _asks_for_input_grads(events) and (isinstance(scope, ast.Module) or returns_numbers(file, scope))
        if whole and isinstance(scope, FunctionNode) and self._decorator_binds(scope, torch_name, imports):
            message = SAFE_DECORATOR if safe else UNSAFE_DECORATOR
            edit = add_decorator(scope, f"{torch_name}.no_grad()")
            return Fix("safe" if safe else "unsafe", message, (edit,), imports, uses=(torch_name.split(".")[0],))
        if block is None:
            return None
        statements, first, last = block
        edits = wrap_with(statements[first : last + 1], f"{torch_name}.no_grad()")
        message = SAFE_MESSAGE if safe else UNSAFE_MESSAGE
        return Fix("safe" if safe else "unsafe", message, edits, imports, uses=(torch_name.split(".")[0],))

    def _decorator_binds(self, func: ast.AST, torch_name: str, imports: tuple[str, ...]) -> bool:
        """A decorator runs when the ``def`` runs: ``torch`` must be bound by then (not only
        imported later, or inside ``if __name__ == "__main__":``)."""
        if imports:
            return True  # the fix adds `import torch` at the top
        outer = self.file.enclosing_function(func)
        if outer is not None:
            return True  # a nested def runs with its enclosing function, after module imports
        return self.file.bound_unconditionally_before(torch_name.split(".")[0], func)

    def _reported_calls(self) -> set[int]:
        """Calls already reported (after ``.eval()``): they carry the finding and its fix."""
        return {id(r.node) for r in self.file.reports if r.rule is type(self)}


EvalWithoutNoGrad.VALID = [
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            """,
        why='loop under with torch.no_grad()',
    ),
    Valid(
        code="""
            import torch as T


            @T.no_grad
            def predict(model, batches):
                model.eval()
                return [model(b).softmax(-1) for b in batches]


            @T.inference_mode()
            def embed(encoder, batches):
                encoder.eval()
                return [encoder(b) for b in batches]
            """,
        why='decorators, any alias, with or without parentheses',
    ),
    Valid(
        code="""
            import torch


            def run_phase(model, loader, optimizer, criterion, phase):
                if phase == "train":
                    model.train()
                else:
                    model.eval()
                running = 0.0
                for inputs, labels in loader:
                    optimizer.zero_grad()
                    with torch.set_grad_enabled(phase == "train"):
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                        if phase == "train":
                            loss.backward()
                            optimizer.step()
                    running += loss.item()
                return running
            """,
        why="the phase idiom: set_grad_enabled(phase == 'train')",
    ),
    Valid(
        code="""
            import lightning as L
            import torch


            class LitClassifier(L.LightningModule):
                def validation_step(self, batch, batch_idx):
                    x, y = batch
                    self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

                def on_validation_epoch_end(self):
                    self.teacher.eval()
                    sample = self.teacher(self.example_input_array)
                    self.log("teacher_mean", sample.mean())
            """,
        why='Lightning hooks run under inference mode',
    ),
    Valid(
        code="""
            import torch


            def saliency_maps(model, images, labels):
                model.eval()
                images = images.clone().requires_grad_(True)
                scores = model(images).gather(1, labels[:, None]).sum()
                scores.backward()
                return images.grad.abs().amax(dim=1)
            """,
        why='saliency needs gradients (requires_grad_, backward, .grad)',
    ),
    Valid(
        code="""
            import torch


            def predict_forces(potential, positions):
                potential.eval()
                positions.requires_grad_(True)
                energy = potential(positions).sum()
                forces = -torch.autograd.grad(energy, positions)[0]
                return energy.detach(), forces
            """,
        why='forces need torch.autograd.grad',
    ),
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                total = 0.0
                for x, y in loader:
                    total += (model(x) - y).pow(2).mean().item()
                return total / len(loader)


            def main(model, loader):
                with torch.no_grad():
                    print("val mse", evaluate(model, loader))
                for epoch in range(3):
                    with torch.no_grad():
                        score = evaluate(model, loader)
                    print(epoch, score)
            """,
        why='every call site of evaluate() in the file is guarded',
    ),
    Valid(
        code="""
            import torch


            def build_validator(model, loader):
                with torch.no_grad():
                    def run():
                        model.eval()
                        return [model(x).argmax(-1) for x, _ in loader]
                    return run()
            """,
        why='a guard in the enclosing function covers the closure',
    ),
    Valid(
        code="""
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained("gpt2")
            model = AutoModelForCausalLM.from_pretrained("gpt2")
            model.eval()
            for prompt in ["Hello", "The weather"]:
                ids = tokenizer(prompt, return_tensors="pt").input_ids
                out = model.generate(ids, max_new_tokens=20)
                print(tokenizer.decode(out[0]))
            """,
        why='HF generate() is already decorated with no_grad',
    ),
    Valid(
        code="""
            import pandas as pd
            import torch

            frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
            frame.eval("c = a + b", inplace=True)
            expression = "1 + 2"
            print(eval(expression), torch.tensor(frame["c"].values))
            """,
        why='pandas DataFrame.eval and builtin eval are not models',
    ),
    Valid(
        code="""
            import torch


            def train_step(model, batch, optimizer):
                model.eval()
                model.train()
                optimizer.zero_grad()
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()
                return loss.item()
            """,
        why='model.train() ends the region before the forward',
    ),
    Valid(
        code="""
            import torch
            from utils.torch_utils import smart_inference_mode


            def guard_for(torch_1_9=True):
                def decorate(fn):
                    return (torch.inference_mode if torch_1_9 else torch.no_grad)()(fn)

                return decorate


            @smart_inference_mode()
            def run(model, dataloader):
                model.eval()
                stats = []
                for im, targets in dataloader:
                    stats.append(model(im))
                return stats
            """,
        why="a guard wrapper imported from the project (yolov5's smart_inference_mode)",
    ),
    Valid(
        code="""
            import torch


            def validate(model, loader):
                total = 0.0
                for x, y in loader:
                    total += torch.nn.functional.mse_loss(model(x), y).item()
                return total
            """,
        why='an evaluation-named function that nothing in the file calls from training code',
    ),
    Valid(
        code="""
            import torch


            class Solver:
                def validate(self):
                    self.model.eval()
                    # Gradient-step denoisers need autograd inside forward: no guard for them.
                    if self.model_needs_grad:
                        loss = self._validation_loop()
                    else:
                        with torch.no_grad():
                            loss = self._validation_loop()
                    self.model.train()
                    return loss

                def _validation_loop(self):
                    return sum(self.loss_fn(self.model(x), y).item() for x, y in self.loader)
            """,
        why='guarded on one branch and deliberately not on the other',
    ),
    Valid(
        code="""
            import torch


            def export(model, example, path):
                model.eval()
                traced = torch.jit.trace(model, example)
                traced.save(path)
                torch.onnx.export(model, (example,), path + ".onnx")
            """,
        why='tracing and export are not forward calls in this file',
    ),
    Valid(
        code="""
            import torch


            def pgd_attack(model, images, labels, eps=8 / 255, steps=10):
                model.eval()
                adv = images.clone()
                for _ in range(steps):
                    adv.requires_grad_(True)
                    loss = torch.nn.functional.cross_entropy(model(adv), labels)
                    grad, = torch.autograd.grad(loss, adv)
                    adv = (adv + eps / 4 * grad.sign()).clamp(images - eps, images + eps).detach()
                return adv
            """,
        why='adversarial attack: torch.autograd.grad through the model',
    ),
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    outs = [model(x) for x in loader]
                model.train()
                return torch.cat(outs)


            def smoke(model, x):
                model.eval()
                model.train()
                return model(x)
            """,
        why='the forward after train() is training, and the eval region is guarded',
    ),
    Valid(
        code="""
            import torch


            def compile_for_inference(graph_module, example_inputs):
                scripted = torch.jit.script(graph_module)
                scripted = torch.jit.freeze(scripted.eval())
                scripted = torch.jit.optimize_for_inference(scripted)
                scripted(*example_inputs)  # warm-up run
                return scripted
            """,
        why="eval() only as an argument (freeze(m.eval())): not a mode switch before a forward",
    ),
    Valid(
        code="""
            import torch


            class Trainer:
                @torch.no_grad()
                def _eval_step(self, batch):
                    inputs, targets = batch
                    return self.criterion(self.model(inputs), targets).item()

                def _eval_epoch(self):
                    self.model.eval()
                    total = sum(self._eval_step(batch) for batch in self.loader)
                    self.model.train()
                    return total
            """,
        why="the helper that runs the model is itself decorated with @torch.no_grad()",
    ),
]

EvalWithoutNoGrad.INVALID = [
    Invalid(
        code="""
            import torch
            import torch.nn as nn

            net = nn.Linear(8, 2)
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            loss_fn = nn.CrossEntropyLoss()
            batches = [(torch.randn(4, 8), torch.randint(0, 2, (4,))) for _ in range(3)]

            for epoch in range(2):
                net.train()
                for x, y in batches:
                    opt.zero_grad()
                    loss = loss_fn(net(x), y)
                    loss.backward()
                    opt.step()
                net.eval()
                hits = 0
                for x, y in batches:
                    hits += (net(x).argmax(1) == y).sum().item()
                print(epoch, hits)

            for x, y in batches:
                print((net(x).argmax(1) == y).float().mean().item())
            """,
        line=19,
        count=2,
        applicability="safe",
        fixed="""
            import torch
            import torch.nn as nn

            net = nn.Linear(8, 2)
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            loss_fn = nn.CrossEntropyLoss()
            batches = [(torch.randn(4, 8), torch.randint(0, 2, (4,))) for _ in range(3)]

            for epoch in range(2):
                net.train()
                for x, y in batches:
                    opt.zero_grad()
                    loss = loss_fn(net(x), y)
                    loss.backward()
                    opt.step()
                net.eval()
                hits = 0
                with torch.no_grad():
                    for x, y in batches:
                        hits += (net(x).argmax(1) == y).sum().item()
                print(epoch, hits)

            with torch.no_grad():
                for x, y in batches:
                    print((net(x).argmax(1) == y).float().mean().item())
            """,
        why="#15: a script's epoch loop holds training and validation, and a test loop follows it: each "
        "evaluation loop is its own finding and only it is wrapped, never the training",
    ),
    Invalid(
        code="""
            def score(net, batches):
                net.eval()
                hits = 0
                for x, y in batches:
                    hits += (net(x).argmax(1) == y).sum().item()
                return hits


            if __name__ == "__main__":
                import torch

                net = torch.nn.Linear(8, 2)
                print(score(net, [(torch.randn(4, 8), torch.randint(0, 2, (4,)))]))
            """,
        line=5,
        applicability="safe",
        fixed="""
            def score(net, batches):
                net.eval()
                hits = 0
                with torch.no_grad():
                    for x, y in batches:
                        hits += (net(x).argmax(1) == y).sum().item()
                return hits


            if __name__ == "__main__":
                import torch

                net = torch.nn.Linear(8, 2)
                print(score(net, [(torch.randn(4, 8), torch.randint(0, 2, (4,)))]))
            """,
        why="#15: torch is imported only under `if __name__ == '__main__':`, so a decorator would run "
        "before it is bound; the loop is wrapped in the body, which runs after the import",
    ),
    Invalid(
        code="""
            import torch


            def evaluate(model, loader, device):
                model.eval()
                correct = 0
                total = 0
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    logits = model(images)
                    correct += (logits.argmax(dim=1) == labels).sum().item()
                    total += labels.size(0)
                return correct / total
            """,
        line=10,
        fixed="""
            import torch


            @torch.no_grad()
            def evaluate(model, loader, device):
                model.eval()
                correct = 0
                total = 0
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    logits = model(images)
                    correct += (logits.argmax(dim=1) == labels).sum().item()
                    total += labels.size(0)
                return correct / total
            """,
        applicability='safe',
        why='model.eval() then a loader loop: the whole function is evaluation, so it is decorated',
    ),
    Invalid(
        code="""
            import torch


            class Trainer:
                def __init__(self, model, criterion):
                    self.model = model
                    self.criterion = criterion

                def validate(self, loader):
                    self.model.eval()
                    losses = []
                    for inputs, targets in loader:
                        outputs = self.model(inputs)
                        losses.append(self.criterion(outputs, targets))
                    self.model.train()
                    return torch.stack(losses).mean()
            """,
        line=13,
        fixed="""
            import torch


            class Trainer:
                def __init__(self, model, criterion):
                    self.model = model
                    self.criterion = criterion

                def validate(self, loader):
                    self.model.eval()
                    losses = []
                    with torch.no_grad():
                        for inputs, targets in loader:
                            outputs = self.model(inputs)
                            losses.append(self.criterion(outputs, targets))
                    self.model.train()
                    return torch.stack(losses).mean()
            """,
        applicability='unsafe',
        why='method: the region between self.model.eval() and self.model.train() is wrapped; returns a tensor, so unsafe',
    ),
    Invalid(
        code="""
            import torch as T

            net = T.nn.Sequential(T.nn.Linear(16, 64), T.nn.ReLU(), T.nn.Linear(64, 4))
            net.load_state_dict(T.load("weights.pt"))
            net.eval()

            # Score every batch and keep the predictions.
            predictions = []
            for batch in T.randn(100, 8, 16):
                predictions.append(net(batch).argmax(dim=1))
            print(T.cat(predictions).bincount())
            """,
        line=10,
        fixed="""
            import torch as T

            net = T.nn.Sequential(T.nn.Linear(16, 64), T.nn.ReLU(), T.nn.Linear(64, 4))
            net.load_state_dict(T.load("weights.pt"))
            net.eval()

            # Score every batch and keep the predictions.
            predictions = []
            with T.no_grad():
                for batch in T.randn(100, 8, 16):
                    predictions.append(net(batch).argmax(dim=1))
            print(T.cat(predictions).bincount())
            """,
        applicability='safe',
        why='module-level script with an import alias: the fix spells T.no_grad()',
    ),
    Invalid(
        code="""
            import torch


            class EnergyTrainer:
                def predict(self, loader):
                    self.model.eval()
                    energies = []
                    for batch in loader:
                        with torch.autocast("cuda", enabled=self.amp):
                            out = self._forward(batch)
                        energies.extend(out["energy"].tolist())
                    return energies

                def _forward(self, batch):
                    output = self.model(batch)
                    return {"energy": output.view(-1)}
            """,
        line=10,
        fixed="""
            import torch


            class EnergyTrainer:
                @torch.no_grad()
                def predict(self, loader):
                    self.model.eval()
                    energies = []
                    for batch in loader:
                        with torch.autocast("cuda", enabled=self.amp):
                            out = self._forward(batch)
                        energies.extend(out["energy"].tolist())
                    return energies

                def _forward(self, batch):
                    output = self.model(batch)
                    return {"energy": output.view(-1)}
            """,
        applicability='unsafe',
        why='forward through a helper method (self._forward runs self.model): unsafe fix',
    ),
    Invalid(
        code="""
            import torch


            def run_epoch(loader, model, loss_fn):
                total = 0.0
                for x, y in loader:
                    out = model.forward(x)
                    total += loss_fn(out, y).item()
                return total / len(loader)


            def main(model, train_loader, val_loader, loss_fn, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    val_loss = run_epoch(val_loader, model, loss_fn)
                    print(epoch, val_loss)
            """,
        line=20,
        fixed="""
            import torch


            def run_epoch(loader, model, loss_fn):
                total = 0.0
                for x, y in loader:
                    out = model.forward(x)
                    total += loss_fn(out, y).item()
                return total / len(loader)


            def main(model, train_loader, val_loader, loss_fn, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        val_loss = run_epoch(val_loader, model, loss_fn)
                    print(epoch, val_loss)
            """,
        applicability='unsafe',
        why='forward through a module-level helper that receives the model as an argument',
    ),
    Invalid(
        code="""
            import torch
            import torch.nn.functional as F


            def test(model, loader):
                model.eval()
                test_loss = 0.0
                for data, target in loader:
                    output = model(data)
                    with torch.no_grad():
                        test_loss += F.nll_loss(output, target, reduction="sum").item()
                return test_loss / len(loader.dataset)
            """,
        line=9,
        fixed="""
            import torch
            import torch.nn.functional as F


            @torch.no_grad()
            def test(model, loader):
                model.eval()
                test_loss = 0.0
                for data, target in loader:
                    output = model(data)
                    with torch.no_grad():
                        test_loss += F.nll_loss(output, target, reduction="sum").item()
                return test_loss / len(loader.dataset)
            """,
        applicability='safe',
        why='the guard wraps only the metric code after the forward pass',
    ),
    Invalid(
        code="""
            import torch
            import torch.distributed as dist


            def gather_predictions(ddp_model, loader, rank):
                ddp_model.eval()
                chunks = []
                for batch in loader:
                    logits = ddp_model.module(batch.to(rank))
                    chunks.append(logits.softmax(dim=-1))
                local = torch.cat(chunks)
                gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
                dist.all_gather(gathered, local)
                return torch.cat(gathered)
            """,
        line=9,
        fixed="""
            import torch
            import torch.distributed as dist


            def gather_predictions(ddp_model, loader, rank):
                ddp_model.eval()
                chunks = []
                with torch.no_grad():
                    for batch in loader:
                        logits = ddp_model.module(batch.to(rank))
                        chunks.append(logits.softmax(dim=-1))
                local = torch.cat(chunks)
                gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
                dist.all_gather(gathered, local)
                return torch.cat(gathered)
            """,
        applicability='unsafe',
        why='DDP wrapper: ddp_model.module(x) is the forward pass',
    ),
    Invalid(
        code="""
            import torch
            import torch.nn as nn
            from tqdm import tqdm

            model = nn.Linear(8, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            train_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]
            val_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]


            def validate():
                mse = nn.MSELoss(reduction="sum")
                total = 0.0
                for x, y in tqdm(val_data):
                    total += mse(model(x), y).item()
                return total / 320


            for epoch in range(5):
                print("val", validate())
                for x, y in train_data:
                    loss = nn.functional.mse_loss(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
        line=15,
        fixed="""
            import torch
            import torch.nn as nn
            from tqdm import tqdm

            model = nn.Linear(8, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            train_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]
            val_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]


            @torch.no_grad()
            def validate():
                mse = nn.MSELoss(reduction="sum")
                total = 0.0
                for x, y in tqdm(val_data):
                    total += mse(model(x), y).item()
                return total / 320


            for epoch in range(5):
                print("val", validate())
                for x, y in train_data:
                    loss = nn.functional.mse_loss(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
        applicability='safe',
        why='evaluation by name without .eval(): validate() runs a model that the script trains',
    ),
    Invalid(
        code="""
            import torch


            def train_one_epoch(model, loader, val_batch, optimizer, criterion):
                # Log a quick sanity value before training.
                model.eval()
                sanity = criterion(model(val_batch[0]), val_batch[1]).item()
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                return sanity
            """,
        line=7,
        fixed="""
            import torch


            def train_one_epoch(model, loader, val_batch, optimizer, criterion):
                # Log a quick sanity value before training.
                model.eval()
                with torch.no_grad():
                    sanity = criterion(model(val_batch[0]), val_batch[1]).item()
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                return sanity
            """,
        applicability='safe',
        why='only the region between model.eval() and model.train() counts; the training after it needs grad',
    ),
    Invalid(
        code="""
            import torch


            class Net:
                def evaluation_step(self, batch, training=False):
                    self.module_.train(training)
                    return self.module_(batch)
            """,
        line=7,
        why='module_.train(training) with training=False by default: no automatic fix (set_grad_enabled(training) is the fix)',
    ),
    Invalid(
        code="""
            from torch import nn


            def embed_corpus(encoder: nn.Module, batches):
                encoder.train(False)
                vectors = []
                for tokens in batches:
                    vectors.append(encoder(tokens).mean(dim=1).cpu().numpy())
                return vectors
            """,
        line=8,
        fixed="""
            from torch import nn
            import torch


            def embed_corpus(encoder: nn.Module, batches):
                encoder.train(False)
                vectors = []
                with torch.no_grad():
                    for tokens in batches:
                        vectors.append(encoder(tokens).mean(dim=1).cpu().numpy())
                return vectors
            """,
        applicability='safe',
        why='train(False) is eval(); the file has no `import torch`, the fix adds it',
    ),
    Invalid(
        code="""
            import torch


            def stream_predictions(model, loader):
                model.eval()
                for batch in loader:
                    yield model(batch).argmax(dim=-1)
            """,
        line=7,
        why='a generator: wrapping a yield in no_grad would leak grad mode to the consumer, so no fix',
    ),
    Invalid(
        code="""
            import torch
            from torch import nn


            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(32, 10)

                def forward(self, x):
                    return self.body(x)

                def predict(self, x):
                    self.eval()
                    return self(x).argmax(dim=-1).tolist()
            """,
        line=15,
        fixed="""
            import torch
            from torch import nn


            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(32, 10)

                def forward(self, x):
                    return self.body(x)

                @torch.no_grad()
                def predict(self, x):
                    self.eval()
                    return self(x).argmax(dim=-1).tolist()
            """,
        applicability='safe',
        why='self.eval() then self(x) inside an nn.Module',
    ),
    Invalid(
        code="""
            import torch


            def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                history = []
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()

                    model.eval()
                    val_loss = 0.0
                    for x, y in val_loader:
                        val_loss += criterion(model(x), y).item()
                    history.append(val_loss / len(val_loader))
                return history
            """,
        line=16,
        fixed="""
            import torch


            def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                history = []
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()

                    model.eval()
                    val_loss = 0.0
                    with torch.no_grad():
                        for x, y in val_loader:
                            val_loss += criterion(model(x), y).item()
                    history.append(val_loss / len(val_loader))
                return history
            """,
        applicability='safe',
        why='validation after training inside the epoch loop',
    ),
    Invalid(
        code="""
            import torch


            class Generator:
                def _validate(self, epoch):
                    self.metrics.clear()
                    for data in self.val_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        self.metrics.add(self.criterion(outputs, targets).item())
                    self.metrics.write(epoch)

                def _run_epoch(self, epoch):
                    for data in self.train_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        loss = self.criterion(outputs, targets)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()

                def train(self):
                    for epoch in range(self.epochs):
                        self._run_epoch(epoch)
                        self._validate(epoch)
            """,
        line=9,
        fixed="""
            import torch


            class Generator:
                @torch.no_grad()
                def _validate(self, epoch):
                    self.metrics.clear()
                    for data in self.val_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        self.metrics.add(self.criterion(outputs, targets).item())
                    self.metrics.write(epoch)

                def _run_epoch(self, epoch):
                    for data in self.train_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        loss = self.criterion(outputs, targets)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()

                def train(self):
                    for epoch in range(self.epochs):
                        self._run_epoch(epoch)
                        self._validate(epoch)
            """,
        applicability='safe',
        why="a trainer's _validate() without .eval(): netG is trained in _run_epoch",
    ),
    Invalid(
        code="""
            import torch


            def evaluate_ema(ema, loader):
                ema.ema.eval()
                scores = []
                for images, _ in loader:
                    scores.append(ema.ema(images).sigmoid())
                return torch.cat(scores)
            """,
        line=8,
        fixed="""
            import torch


            def evaluate_ema(ema, loader):
                ema.ema.eval()
                scores = []
                with torch.no_grad():
                    for images, _ in loader:
                        scores.append(ema.ema(images).sigmoid())
                return torch.cat(scores)
            """,
        applicability='unsafe',
        why='an EMA copy: ema.ema.eval() then ema.ema(x)',
    ),
    Invalid(
        code="""
            import torch


            class GANTrainer:
                def _eval_step(self, batch):
                    noise, cond, audio = [b.to(self.device) for b in batch]
                    fake = self.model["generator"](noise, cond)
                    score = self.model["discriminator"](fake)
                    self.stats["eval/adv"] += self.criterion(score).item()

                def _eval_epoch(self):
                    for key in self.model.keys():
                        self.model[key].eval()
                    for batch in self.data_loader["dev"]:
                        self._eval_step(batch)
                    for key in self.model.keys():
                        self.model[key].train()
            """,
        line=15,
        fixed="""
            import torch


            class GANTrainer:
                def _eval_step(self, batch):
                    noise, cond, audio = [b.to(self.device) for b in batch]
                    fake = self.model["generator"](noise, cond)
                    score = self.model["discriminator"](fake)
                    self.stats["eval/adv"] += self.criterion(score).item()

                def _eval_epoch(self):
                    for key in self.model.keys():
                        self.model[key].eval()
                    with torch.no_grad():
                        for batch in self.data_loader["dev"]:
                            self._eval_step(batch)
                    for key in self.model.keys():
                        self.model[key].train()
            """,
        applicability="unsafe",
        why="models in a dict: self.model[key].eval() covers self.model[\"generator\"](x) in a helper",
    ),
]

# Shapes that cross a function or a file (issue #18), each seen in real public code that 0.1 missed.
EvalWithoutNoGrad.INVALID += [
    Invalid(
        """
        import numpy as np
        import torch


        class FrameDetector:
            def __init__(self, weights, device="cuda"):
                self.device = torch.device(device)
                self.net = torch.jit.load(weights, map_location=self.device)
                self.net.eval()

            def _prepare(self, frame):
                return torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).float()[None] / 255

            def __call__(self, frame):
                boxes = self.net(self._prepare(frame))[0]
                return boxes.cpu().detach().numpy()
        """,
        line=15,
        applicability="safe",
        fixed="""
        import numpy as np
        import torch


        class FrameDetector:
            def __init__(self, weights, device="cuda"):
                self.device = torch.device(device)
                self.net = torch.jit.load(weights, map_location=self.device)
                self.net.eval()

            def _prepare(self, frame):
                return torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).float()[None] / 255

            def __call__(self, frame):
                with torch.no_grad():
                    boxes = self.net(self._prepare(frame))[0]
                return boxes.cpu().detach().numpy()
        """,
        why="an inference wrapper: the model is put in eval mode when loaded, and every call runs it with autograd on "
        "although the result leaves as NumPy (BlueMirrors/cvu's YOLOv5 torch backend)",
    ),
    Invalid(
        """
        import torch
        from torch import nn


        class Scorer(nn.Module):
            def __init__(self, dim, classes):
                super().__init__()
                self.head = nn.Linear(dim, classes)

            def forward(self, x):
                return self.head(x)


        class Runner:
            def __init__(self, dim, classes, parallel):
                self.network = Scorer(dim, classes)
                self.mnetwork = nn.DataParallel(self.network) if parallel else self.network

            def predict(self, batch):
                self.network.eval()
                score = self.mnetwork(batch)
                score = torch.softmax(score, dim=1)
                return score.data.cpu().numpy().argmax(1).tolist()
        """,
        line=21,
        applicability="safe",
        fixed="""
        import torch
        from torch import nn


        class Scorer(nn.Module):
            def __init__(self, dim, classes):
                super().__init__()
                self.head = nn.Linear(dim, classes)

            def forward(self, x):
                return self.head(x)


        class Runner:
            def __init__(self, dim, classes, parallel):
                self.network = Scorer(dim, classes)
                self.mnetwork = nn.DataParallel(self.network) if parallel else self.network

            @torch.no_grad()
            def predict(self, batch):
                self.network.eval()
                score = self.mnetwork(batch)
                score = torch.softmax(score, dim=1)
                return score.data.cpu().numpy().argmax(1).tolist()
        """,
        why="eval() on the network, the forward through the DataParallel wrapper the class keeps of it (MT-DNN's predict)",
    ),
    Invalid(
        code={
            "evaluation.py": """
                def evaluate(model, loader, criterion):
                    model.eval()
                    total = 0.0
                    for x, y in loader:
                        total += criterion(model(x), y).item()
                    model.train()
                    return total / len(loader)
                """,
            "train.py": """
                import torch
                from evaluation import evaluate


                def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                    for epoch in range(epochs):
                        for x, y in train_loader:
                            optimizer.zero_grad()
                            criterion(model(x), y).backward()
                            optimizer.step()
                        print(epoch, evaluate(model, val_loader, criterion))
                """,
        },
        path="evaluation.py",
        line=5,
        applicability="safe",
        fixed="""
            import torch

            def evaluate(model, loader, criterion):
                model.eval()
                total = 0.0
                with torch.no_grad():
                    for x, y in loader:
                        total += criterion(model(x), y).item()
                model.train()
                return total / len(loader)
            """,
        why="an evaluation helper in another module, called unguarded from the epoch loop of train.py",
    ),
    Invalid(
        code={
            "sampling.py": """
                import torch


                def sample_images(generator, epoch, device):
                    noise = torch.randn(16, 64, device=device)
                    images = generator(noise)
                    torch.save(images, f"samples_{epoch}.pt")
                """,
            "train.py": """
                import torch
                from sampling import sample_images


                def train(generator, critic, loader, opt_g, epochs, device):
                    for epoch in range(epochs):
                        for real in loader:
                            opt_g.zero_grad()
                            fake = generator(torch.randn(real.size(0), 64, device=device))
                            (-critic(fake).mean()).backward()
                            opt_g.step()
                        sample_images(generator, epoch, device)
                """,
        },
        path="sampling.py",
        line=6,
        applicability="safe",
        fixed="""
            import torch


            @torch.no_grad()
            def sample_images(generator, epoch, device):
                noise = torch.randn(16, 64, device=device)
                images = generator(noise)
                torch.save(images, f"samples_{epoch}.pt")
            """,
        why="a GAN sampling function with no .eval() at all, reached from the training loop of another file",
    ),
    Invalid(
        code="""
            import torch


            class Scorer:
                def __init__(self, model, device):
                    self.model = model
                    self.device = device

                def run(self, loader):
                    self.model = self.model.eval().to(self.device)
                    scores = []
                    for x in loader:
                        scores.append(self.model(x.to(self.device)).argmax(1).tolist())
                    return scores
            """,
        line=13,
        applicability="safe",
        fixed="""
            import torch


            class Scorer:
                def __init__(self, model, device):
                    self.model = model
                    self.device = device

                def run(self, loader):
                    self.model = self.model.eval().to(self.device)
                    scores = []
                    with torch.no_grad():
                        for x in loader:
                            scores.append(self.model(x.to(self.device)).argmax(1).tolist())
                    return scores
            """,
        why="a chained mode switch: self.model = self.model.eval().to(device)",
    ),
]
EvalWithoutNoGrad.VALID += [
    Valid(
        code="""
            import torch
            import torchvision


            class PerceptualDistance:
                def __init__(self):
                    self.features = torchvision.models.vgg16(weights="DEFAULT").features[:16]
                    self.features.eval()
                    self.features.requires_grad_(False)

                def __call__(self, produced, target):
                    return torch.nn.functional.mse_loss(self.features(produced), self.features(target))
            """,
        why="a frozen network in a loss: the generator needs the gradient through it, and a tensor is returned",
    ),
    Valid(
        code="""
            import torch


            class Learner:
                def __init__(self, net, lr):
                    self.net = net
                    self.opt = torch.optim.SGD(net.parameters(), lr=lr)

                def fit(self, loader):
                    self.net.train()
                    for x, y in loader:
                        self.opt.zero_grad()
                        torch.nn.functional.cross_entropy(self.net(x), y).backward()
                        self.opt.step()
                    self.net.eval()

                def __call__(self, x):
                    return self.net(x).argmax(1).cpu().numpy()
            """,
        why="the class trains its model too: no wrapper of a frozen model to infer from (its own eval/train regions decide)",
    ),
    Valid(
        code={
            "evaluation.py": """
                def evaluate(model, loader, criterion):
                    model.eval()
                    total = 0.0
                    for x, y in loader:
                        total += criterion(model(x), y).item()
                    model.train()
                    return total / len(loader)
                """,
            "train.py": """
                import torch
                from evaluation import evaluate


                def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                    for epoch in range(epochs):
                        for x, y in train_loader:
                            optimizer.zero_grad()
                            criterion(model(x), y).backward()
                            optimizer.step()
                        with torch.no_grad():
                            print(epoch, evaluate(model, val_loader, criterion))
                """,
        },
        why="the only caller, in another file, runs the evaluation helper under torch.no_grad()",
    ),
    Valid(
        code={
            "sampling.py": """
                import torch


                def sample_images(generator, epoch, device):
                    noise = torch.randn(16, 64, device=device)
                    images = generator(noise)
                    torch.save(images, f"samples_{epoch}.pt")
                """,
            "train.py": """
                import torch
                from sampling import sample_images


                def train(generator, critic, loader, opt_g, epochs, device):
                    for epoch in range(epochs):
                        for real in loader:
                            opt_g.zero_grad()
                            fake = generator(torch.randn(real.size(0), 64, device=device))
                            (-critic(fake).mean()).backward()
                            opt_g.step()
                        with torch.no_grad():
                            sample_images(generator, epoch, device)
                """,
        },
        why="the sampling function is called under torch.no_grad() by the training loop",
    ),
]
# Shapes seen in real training code: a phase flag, periodic checks inside the training loop,
# helpers the loop calls only to save or print, inputs that ask for gradients nobody takes,
# a subclass calling its base class's evaluation, forward-like methods of a project module.
EvalWithoutNoGrad.INVALID += [
    Invalid(
        code="""
            import torch


            def run_epoch(net, batches, opt, training):
                net.train(training)
                total = 0.0
                for x, y in batches:
                    err = torch.nn.functional.mse_loss(net(x), y)
                    if training:
                        opt.zero_grad()
                        err.backward()
                        opt.step()
                    total += err.item()
                return total


            def fit(net, train_batches, val_batches, opt, epochs):
                for _ in range(epochs):
                    run_epoch(net, train_batches, opt, True)
                    print(run_epoch(net, val_batches, opt, False))
            """,
        line=8,
        applicability="safe",
        fixed="""
            import torch


            def run_epoch(net, batches, opt, training):
                net.train(training)
                total = 0.0
                with torch.set_grad_enabled(training):
                    for x, y in batches:
                        err = torch.nn.functional.mse_loss(net(x), y)
                        if training:
                            opt.zero_grad()
                            err.backward()
                            opt.step()
                        total += err.item()
                return total


            def fit(net, train_batches, val_batches, opt, epochs):
                for _ in range(epochs):
                    run_epoch(net, train_batches, opt, True)
                    print(run_epoch(net, val_batches, opt, False))
            """,
        why="one epoch function for both phases: backward only `if training:`, a caller passes False",
    ),
    Invalid(
        code="""
            import torch

            net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            probe_x, probe_y = torch.randn(500, 8), torch.randint(0, 3, (500,))

            for step in range(1000):
                x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % 100 == 0:
                    probe = net(probe_x)
                    print(step, (probe.argmax(1) == probe_y).float().mean().item())
            """,
        line=14,
        applicability="safe",
        fixed="""
            import torch

            net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            probe_x, probe_y = torch.randn(500, 8), torch.randint(0, 3, (500,))

            for step in range(1000):
                x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % 100 == 0:
                    with torch.no_grad():
                        probe = net(probe_x)
                    print(step, (probe.argmax(1) == probe_y).float().mean().item())
            """,
        why="every N steps the training loop scores a held-out tensor with autograd on",
    ),
    Invalid(
        code="""
            import torch
            from torchvision.utils import save_image


            def train(gen, disc, loader, opt_g, opt_d, fixed_z):
                for i, real in enumerate(loader):
                    fake = gen(torch.randn(real.size(0), 32))
                    d_loss = disc(fake.detach()).mean() - disc(real).mean()
                    opt_d.zero_grad()
                    d_loss.backward()
                    opt_d.step()
                    g_loss = -disc(fake).mean()
                    opt_g.zero_grad()
                    g_loss.backward()
                    opt_g.step()
                    if i % 200 == 0:
                        save_image(gen(fixed_z), f"step_{i}.png")
            """,
        line=17,
        applicability="safe",
        fixed="""
            import torch
            from torchvision.utils import save_image


            def train(gen, disc, loader, opt_g, opt_d, fixed_z):
                for i, real in enumerate(loader):
                    fake = gen(torch.randn(real.size(0), 32))
                    d_loss = disc(fake.detach()).mean() - disc(real).mean()
                    opt_d.zero_grad()
                    d_loss.backward()
                    opt_d.step()
                    g_loss = -disc(fake).mean()
                    opt_g.zero_grad()
                    g_loss.backward()
                    opt_g.step()
                    if i % 200 == 0:
                        with torch.no_grad():
                            save_image(gen(fixed_z), f"step_{i}.png")
            """,
        why="a periodic sample grid from a generator passed in as `gen` (trained: its output reaches backward)",
    ),
    Invalid(
        code="""
            import torch
            from torchvision.utils import save_image

            maker = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh())
            judge = torch.nn.Sequential(torch.nn.Linear(64, 1))
            opt = torch.optim.Adam(maker.parameters())


            def dump_grid(step):
                images = maker(torch.randn(25, 16))
                save_image(images.view(25, 1, 8, 8), f"grid_{step}.png", nrow=5)


            for step in range(5000):
                opt.zero_grad()
                (-judge(maker(torch.randn(32, 16))).mean()).backward()
                opt.step()
                if step % 500 == 0:
                    dump_grid(step)
            """,
        line=10,
        applicability="safe",
        fixed="""
            import torch
            from torchvision.utils import save_image

            maker = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh())
            judge = torch.nn.Sequential(torch.nn.Linear(64, 1))
            opt = torch.optim.Adam(maker.parameters())


            def dump_grid(step):
                with torch.no_grad():
                    images = maker(torch.randn(25, 16))
                save_image(images.view(25, 1, 8, 8), f"grid_{step}.png", nrow=5)


            for step in range(5000):
                opt.zero_grad()
                (-judge(maker(torch.randn(32, 16))).mean()).backward()
                opt.step()
                if step % 500 == 0:
                    dump_grid(step)
            """,
        why="a helper the training loop calls only to save a sample grid: evaluation, with no name that says so",
    ),
    Invalid(
        code="""
            import torch


            def score(model, loader):
                model.eval()
                hits = 0
                for images, labels in loader:
                    images = torch.autograd.Variable(images, requires_grad=True)
                    logits = model(images)
                    hits += (logits.argmax(1) == labels).sum().item()
                return hits
            """,
        line=9,
        applicability="unsafe",
        fixed="""
            import torch


            def score(model, loader):
                model.eval()
                hits = 0
                with torch.no_grad():
                    for images, labels in loader:
                        images = torch.autograd.Variable(images, requires_grad=True)
                        logits = model(images)
                        hits += (logits.argmax(1) == labels).sum().item()
                return hits
            """,
        why="inputs ask for gradients (requires_grad=True) but nothing here takes them: still evaluation; the model may take them inside its forward (an invertible network's log-determinant), so the guard is an unsafe fix",
    ),
    Invalid(
        code={
            "base.py": """
                import torch


                class Runner:
                    def __init__(self, model, val_batches):
                        self.model = model
                        self.val_batches = val_batches

                    def validate(self):
                        self.model.eval()
                        total = 0.0
                        for batch in self.val_batches:
                            total += self.model(batch).sum().item()
                        return total

                    def fit(self, epochs):
                        for epoch in range(epochs):
                            with torch.no_grad():
                                print(self.validate())
                """,
            "child.py": """
                from base import Runner


                class ChildRunner(Runner):
                    def fit(self, epochs):
                        for epoch in range(epochs):
                            self.model.train()
                            print(epoch, self.validate())
                """,
        },
        line=13,
        applicability="safe",
        fixed="""
            import torch


            class Runner:
                def __init__(self, model, val_batches):
                    self.model = model
                    self.val_batches = val_batches

                @torch.no_grad()
                def validate(self):
                    self.model.eval()
                    total = 0.0
                    for batch in self.val_batches:
                        total += self.model(batch).sum().item()
                    return total

                def fit(self, epochs):
                    for epoch in range(epochs):
                        with torch.no_grad():
                            print(self.validate())
            """,
        why="the base class guards its own call, a subclass in another file calls validate() bare",
    ),
    Invalid(
        code={
            "colour_net.py": """
                import torch


                class ColourNet(torch.nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.a = torch.nn.Conv2d(3, 3, 1)

                    def to_linear(self, x):
                        return self.a(x)
                """,
            "convert.py": """
                import torch
                from colour_net import ColourNet

                net = ColourNet()
                net.eval()
                for path in ["x.png", "y.png"]:
                    out = net.to_linear(torch.rand(1, 3, 64, 64))
                    print(path, out.mean().item())
                """,
        },
        path="convert.py",
        line=7,
        applicability="safe",
        fixed="""
            import torch
            from colour_net import ColourNet

            net = ColourNet()
            net.eval()
            with torch.no_grad():
                for path in ["x.png", "y.png"]:
                    out = net.to_linear(torch.rand(1, 3, 64, 64))
                    print(path, out.mean().item())
            """,
        why="a forward-like method of a project nn.Module from another file, after eval(), in a loop",
    ),
    Invalid(
        code="""
            import torch


            def one_pass(model, opt, batches, learn):
                if learn:
                    model.train()
                else:
                    model.eval()
                running = 0.0
                for xb, yb in batches:
                    pred = model(xb)
                    err = (pred - yb).abs().mean()
                    if learn:
                        opt.zero_grad()
                        err.backward()
                        opt.step()
                    running += err.item()
                return running


            def main(model, opt, train_batches, val_batches, epochs):
                for epoch in range(epochs):
                    one_pass(model, opt, train_batches, True)
                    print(epoch, one_pass(model, opt, val_batches, False))
            """,
        line=11,
        applicability="safe",
        fixed="""
            import torch


            def one_pass(model, opt, batches, learn):
                if learn:
                    model.train()
                else:
                    model.eval()
                running = 0.0
                with torch.set_grad_enabled(learn):
                    for xb, yb in batches:
                        pred = model(xb)
                        err = (pred - yb).abs().mean()
                        if learn:
                            opt.zero_grad()
                            err.backward()
                            opt.step()
                        running += err.item()
                return running


            def main(model, opt, train_batches, val_batches, epochs):
                for epoch in range(epochs):
                    one_pass(model, opt, train_batches, True)
                    print(epoch, one_pass(model, opt, val_batches, False))
            """,
        why="eval() on one branch of a phase flag, backward only `if learn:`, a caller passes False",
    ),
    Invalid(
        """
        import torch
        from torchvision.utils import save_image


        class GanTrainer:
            def __init__(self, G, D, g_opt, d_opt):
                self.G, self.D = G, D
                self.g_opt, self.d_opt = g_opt, d_opt

            def train(self, loader):
                step = 0
                for real in loader:
                    z = torch.randn(real.size(0), 64)
                    self.d_opt.zero_grad()
                    d_loss = self.D(self.G(z).detach()).mean() - self.D(real).mean()
                    d_loss.backward()
                    self.d_opt.step()
                    self.g_opt.zero_grad()
                    g_loss = -self.D(self.G(z)).mean()
                    g_loss.backward()
                    self.g_opt.step()
                    step += 1
                    if step % 1000 == 0:
                        grid = self.G(torch.randn(800, 64))
                        save_image(grid.cpu()[:64], f"samples_{step}.png")
        """,
        line=24,
        fixed="""
        import torch
        from torchvision.utils import save_image


        class GanTrainer:
            def __init__(self, G, D, g_opt, d_opt):
                self.G, self.D = G, D
                self.g_opt, self.d_opt = g_opt, d_opt

            def train(self, loader):
                step = 0
                for real in loader:
                    z = torch.randn(real.size(0), 64)
                    self.d_opt.zero_grad()
                    d_loss = self.D(self.G(z).detach()).mean() - self.D(real).mean()
                    d_loss.backward()
                    self.d_opt.step()
                    self.g_opt.zero_grad()
                    g_loss = -self.D(self.G(z)).mean()
                    g_loss.backward()
                    self.g_opt.step()
                    step += 1
                    if step % 1000 == 0:
                        with torch.no_grad():
                            grid = self.G(torch.randn(800, 64))
                        save_image(grid.cpu()[:64], f"samples_{step}.png")
        """,
        applicability="safe",
        why="a trainer class holds its networks as self attributes; every N steps it runs the generator on 800 samples for a grid",
    ),
    Invalid(
        """
        import torch


        class Teacher:
            def __init__(self, gen, opt):
                self.gen, self.opt = gen, opt

            def generator_step(self, noise):
                self.opt.zero_grad()
                fake = self.gen(noise)
                loss = -fake.mean()
                loss.backward()
                self.opt.step()

            def train(self, loader, fixed_noise):
                for step, batch in enumerate(loader):
                    self.generator_step(torch.randn(len(batch), 32))
                    if step % 200 == 0:
                        grid = self.gen(fixed_noise)
                        torch.save(grid.cpu(), f"grid_{step}.pt")
        """,
        line=19,
        fixed="""
        import torch


        class Teacher:
            def __init__(self, gen, opt):
                self.gen, self.opt = gen, opt

            def generator_step(self, noise):
                self.opt.zero_grad()
                fake = self.gen(noise)
                loss = -fake.mean()
                loss.backward()
                self.opt.step()

            def train(self, loader, fixed_noise):
                for step, batch in enumerate(loader):
                    self.generator_step(torch.randn(len(batch), 32))
                    if step % 200 == 0:
                        with torch.no_grad():
                            grid = self.gen(fixed_noise)
                        torch.save(grid.cpu(), f"grid_{step}.pt")
        """,
        applicability="safe",
        why="the training loop steps through a helper method; every N steps it runs the generator on fixed noise for a grid",
    ),
]
EvalWithoutNoGrad.VALID += [
    Valid(
        code="""
            import torch


            def run_epoch(net, batches, opt, training):
                net.train(training)
                total = 0.0
                with torch.set_grad_enabled(training):
                    for x, y in batches:
                        err = torch.nn.functional.mse_loss(net(x), y)
                        if training:
                            opt.zero_grad()
                            err.backward()
                            opt.step()
                        total += err.item()
                return total


            def fit(net, train_batches, val_batches, opt, epochs):
                for _ in range(epochs):
                    run_epoch(net, train_batches, opt, True)
                    print(run_epoch(net, val_batches, opt, False))
            """,
        why="the phase flag also switches autograd: set_grad_enabled(training) around the loop",
    ),
    Valid(
        code="""
            import torch

            net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            anchor_x = torch.randn(64, 8)

            for step in range(1000):
                x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step % 100 == 0:
                    drift = net(anchor_x).pow(2).mean()
                    opt.zero_grad()
                    drift.backward()
                    opt.step()
            """,
        why="the periodic block trains too (a regulariser step with its own backward)",
    ),
    Valid(
        code="""
            import torch


            def train(gen, disc, loader, opt_g, opt_d, fixed_z):
                anchor = None
                for i, real in enumerate(loader):
                    if i % 200 == 0:
                        anchor = gen(fixed_z)
                    fake = gen(torch.randn(real.size(0), 32))
                    d_loss = disc(fake.detach()).mean() - disc(real).mean()
                    opt_d.zero_grad()
                    d_loss.backward()
                    opt_d.step()
                    g_loss = -disc(fake).mean() + (anchor - fake).abs().mean()
                    opt_g.zero_grad()
                    g_loss.backward()
                    opt_g.step()
            """,
        why="the periodic forward's output feeds the generator's loss: its graph is wanted",
    ),
    Valid(
        code="""
            import torch

            maker = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Tanh())
            judge = torch.nn.Sequential(torch.nn.Linear(64, 1))
            opt = torch.optim.Adam(maker.parameters())


            def draw(count):
                return maker(torch.randn(count, 16))


            for step in range(5000):
                opt.zero_grad()
                fakes = draw(32)
                (-judge(fakes).mean()).backward()
                opt.step()
            """,
        why="a helper the training loop calls for a value its loss uses",
    ),
    Valid(
        code="""
            import torch


            def saliency(model, loader):
                model.eval()
                maps = []
                for images, labels in loader:
                    images = torch.autograd.Variable(images, requires_grad=True)
                    logits = model(images)
                    logits.gather(1, labels[:, None]).sum().backward()
                    maps.append(images.grad.abs().amax(1))
                return maps
            """,
        why="inputs ask for gradients and a backward takes them (saliency maps)",
    ),
    Valid(
        code={
            "base.py": """
                import torch


                class Runner:
                    def __init__(self, model, val_batches):
                        self.model = model
                        self.val_batches = val_batches

                    def validate(self):
                        self.model.eval()
                        total = 0.0
                        for batch in self.val_batches:
                            total += self.model(batch).sum().item()
                        return total
                """,
            "child.py": """
                import torch
                from base import Runner


                class ChildRunner(Runner):
                    def fit(self, epochs):
                        for epoch in range(epochs):
                            self.model.train()
                            with torch.no_grad():
                                print(epoch, self.validate())
                """,
        },
        why="the subclass in another file calls its base class's validate() under no_grad",
    ),
    Valid(
        code={
            "colour_net.py": """
                import torch


                class ColourNet(torch.nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.a = torch.nn.Conv2d(3, 3, 1)

                    def to_linear(self, x):
                        return self.a(x)
                """,
            "convert.py": """
                import torch
                from colour_net import ColourNet

                net = ColourNet()
                net.eval()
                for path in ["x.png", "y.png"]:
                    with torch.no_grad():
                        out = net.to_linear(torch.rand(1, 3, 64, 64))
                    print(path, out.mean().item())
                """,
        },
        why="the forward-like method runs under no_grad",
    ),
    Valid(
        code="""
            import torch


            def one_pass(model, opt, batches, learn):
                if learn:
                    model.train()
                else:
                    model.eval()
                running = 0.0
                for xb, yb in batches:
                    pred = model(xb)
                    err = (pred - yb).abs().mean()
                    if learn:
                        opt.zero_grad()
                        err.backward()
                        opt.step()
                    running += err.item()
                return running


            def main(model, opt, train_batches, val_batches, epochs):
                for epoch in range(epochs):
                    one_pass(model, opt, train_batches, True)
                    one_pass(model, opt, train_batches, True)
            """,
        why="the same two-phase function, but no caller selects evaluation (every call passes True)",
    ),
    Valid(
        code="""
            import torch


            def train(unet, accelerator, loader, optimizer, make_pipeline, out_dir):
                for step, batch in enumerate(loader):
                    loss = unet(batch["x"]).pow(2).mean()
                    accelerator.backward(loss)
                    optimizer.step()
                    optimizer.zero_grad()
                    if step % 500 == 0:
                        pipeline = make_pipeline(unet=accelerator.unwrap_model(unet))
                        pipeline.enable_model_cpu_offload()
                        pipeline.save_pretrained(out_dir)
            """,
        why="a periodic checkpoint: unwrap_model and enable_model_cpu_offload take a model, they run no forward",
    ),
    Valid(
        code="""
            import tensorflow as tf
            import torch

            W = tf.Variable(tf.random.normal((4, 1)))
            b = tf.Variable(tf.zeros((1,)))


            def model(x, W, b):
                return tf.matmul(x, W) + b


            @tf.function
            def training_step(inputs, targets):
                with tf.GradientTape() as tape:
                    predictions = model(inputs, W, b)
                    loss = tf.reduce_mean(tf.square(predictions - targets))
                grads = tape.gradient(loss, [W, b])
                W.assign_sub(grads[0] * 0.1)
                b.assign_sub(grads[1] * 0.1)
                return loss


            for step in range(10):
                training_step(tf.random.normal((8, 4)), tf.random.normal((8, 1)))
            torch_model = torch.nn.Linear(4, 1)
            """,
        why="TensorFlow's own training step in a file that also imports torch (a notebook comparing frameworks)",
    ),
    Valid(
        """
        import torch
        from torchvision.utils import save_image


        class Trainer:
            def __init__(self, net, augment, optimizer):
                self.net, self.augment, self.optimizer = net, augment, optimizer

            def train(self, loader):
                for step, (images, labels) in enumerate(loader):
                    inputs = self.augment(images)
                    self.optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(self.net(inputs), labels)
                    loss.backward()
                    self.optimizer.step()
                    if step % 500 == 0:
                        save_image(self.augment(images[:16]), f"augmented_{step}.png")
        """,
        why="the periodic call runs the data augmentation, not a network: no parameter records a graph",
    ),
    Valid(
        """
        import torch


        class Runner:
            def __init__(self, model, loader, opt):
                self.model, self.loader, self.opt = model, loader, opt

            def _apply(self, loss):
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()

            def test(self):
                for x, y in self.loader:
                    loss = torch.nn.functional.mse_loss(self.model(x), y)
                    self._apply(loss)

            def epochs(self, n):
                for _ in range(n):
                    self.test()
        """,
        why="named test, but it trains: its loss goes to a helper that steps (no_grad would break it)",
    ),
    Valid(
        """
        import torch


        class Teacher:
            def __init__(self, gen, opt):
                self.gen, self.opt = gen, opt

            def generator_step(self, noise, anchor=None):
                self.opt.zero_grad()
                fake = self.gen(noise)
                loss = -fake.mean() if anchor is None else (fake - anchor).pow(2).mean()
                loss.backward()
                self.opt.step()

            def train(self, loader, fixed_noise):
                for step, batch in enumerate(loader):
                    self.generator_step(torch.randn(len(batch), 32))
                    if step % 200 == 0:
                        anchor = self.gen(fixed_noise)
                        self.generator_step(torch.randn(len(batch), 32), anchor)
        """,
        why="the periodic block feeds its forward to a helper that steps: it trains",
    ),
]
EvalWithoutNoGrad.INVALID += [
    Invalid(
        """
        import torch


        class Runner:
            def __init__(self, net, train_loader, val_loader, optim):
                self.net = net
                self.train_loader = train_loader
                self.val_loader = val_loader
                self.optim = optim

            def validate(self):
                self.net.train()
                masks = []
                for volume, _ in self.val_loader:
                    scores = self.net(volume)
                    masks.append(scores.data.argmax(1).cpu().numpy())
                return masks

            def fit(self, epochs):
                for epoch in range(epochs):
                    for volume, label in self.train_loader:
                        self.optim.zero_grad()
                        loss = torch.nn.functional.cross_entropy(self.net(volume), label)
                        loss.backward()
                        self.optim.step()
                    self.validate()
        """,
        line=15,
        fixed="""
        import torch


        class Runner:
            def __init__(self, net, train_loader, val_loader, optim):
                self.net = net
                self.train_loader = train_loader
                self.val_loader = val_loader
                self.optim = optim

            def validate(self):
                self.net.train()
                masks = []
                for volume, _ in self.val_loader:
                    with torch.no_grad():
                        scores = self.net(volume)
                    masks.append(scores.data.argmax(1).cpu().numpy())
                return masks

            def fit(self, epochs):
                for epoch in range(epochs):
                    for volume, label in self.train_loader:
                        self.optim.zero_grad()
                        loss = torch.nn.functional.cross_entropy(self.net(volume), label)
                        loss.backward()
                        self.optim.step()
                    self.validate()
        """,
        applicability="safe",
        why="a validation method that switches the network to train mode (for batch statistics) and never steps: "
        "its loop still records a graph per batch",
    ),
]
EvalWithoutNoGrad.VALID += [
    Valid(
        """
        import torch


        class Adapter:
            def __init__(self, net, loader, optim):
                self.net = net
                self.loader = loader
                self.optim = optim

            def test(self):
                self.net.train()
                for x, _ in self.loader:
                    entropy = -(self.net(x).softmax(1) * self.net(x).log_softmax(1)).sum(1).mean()
                    self.optim.zero_grad()
                    entropy.backward()
                    self.optim.step()

            def run(self, rounds):
                for _ in range(rounds):
                    self.test()
        """,
        why="test-time adaptation: the test method switches to train mode and takes gradient steps",
    ),
]
EvalWithoutNoGrad.VALID += [
    Valid(
        """
        import torch


        class Updater:
            def __init__(self, policy, optimizer, epochs, shuffle):
                self.policy = policy
                self.optimizer = optimizer
                self.epochs = epochs
                self.shuffle = shuffle

            def update(self, storage, advantages):
                for _ in range(self.epochs):
                    if self.shuffle:
                        batches = storage.shuffled_generator(advantages, 4)
                    else:
                        batches = storage.sequential_generator(advantages, 4)
                    for obs, actions, adv in batches:
                        loss = -(self.policy.log_prob(obs, actions) * adv).mean()
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()
        """,
        why="`storage.shuffled_generator(...)` is a Python generator of minibatches the loop iterates, not a GAN generator",
    ),
]
EvalWithoutNoGrad.INVALID += [
    Invalid(
        """
        import numpy as np
        import torch

        net = torch.nn.Linear(20, 3)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x_train, y_train = torch.randn(640, 20), torch.randint(0, 3, (640,))
        x_val, y_val = torch.randn(200, 20), torch.randint(0, 3, (200,))


        def step(inputs, labels):
            opt.zero_grad()
            cost = torch.nn.functional.cross_entropy(net(inputs), labels)
            cost.backward()
            opt.step()


        def predict(model, inputs):
            scores = model(inputs)
            return scores.detach().numpy().argmax(axis=1)


        def accuracy(model, inputs, labels):
            return np.mean(predict(model, inputs) == labels.numpy())


        for epoch in range(5):
            for start in range(0, 640, 64):
                step(x_train[start:start + 64], y_train[start:start + 64])
            print(epoch, accuracy(net, x_val, y_val))
        """,
        line=18,
        fixed="""
        import numpy as np
        import torch

        net = torch.nn.Linear(20, 3)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        x_train, y_train = torch.randn(640, 20), torch.randint(0, 3, (640,))
        x_val, y_val = torch.randn(200, 20), torch.randint(0, 3, (200,))


        def step(inputs, labels):
            opt.zero_grad()
            cost = torch.nn.functional.cross_entropy(net(inputs), labels)
            cost.backward()
            opt.step()


        @torch.no_grad()
        def predict(model, inputs):
            scores = model(inputs)
            return scores.detach().numpy().argmax(axis=1)


        def accuracy(model, inputs, labels):
            return np.mean(predict(model, inputs) == labels.numpy())


        for epoch in range(5):
            for start in range(0, 640, 64):
                step(x_train[start:start + 64], y_train[start:start + 64])
            print(epoch, accuracy(net, x_val, y_val))
        """,
        applicability="safe",
        why="a prediction helper, two calls below an epoch loop that trains through a stepping helper, only feeds a printed accuracy",
    ),
]
