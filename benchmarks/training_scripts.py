"""Real-style training scripts on tiny random data, built from parts, for the fix fuzz.

``training_script(rng)`` writes one runnable script: an MLP, CNN or LSTM in PyTorch, or a Keras
model (``KERAS_BACKEND=torch``), with the shapes memlint reports and fixes, and the shapes its fixes
must leave alone. Every choice comes from ``rng``; every script seeds its generators and prints
its metrics, so a fixed script can be compared number by number with the original.

Shapes memlint fixes: evaluation loops after ``.eval()`` (module level, in functions, in a method,
nested in the epoch loop next to the training step), losses summed or appended with their graph,
``np.load`` of a data file. Shapes that must survive: a saliency map that needs gradients after
``.eval()``, gradient accumulation over a list of losses, an array written after loading, torch
imported under ``if __name__ == "__main__":`` (the name a fix would use is unbound at module level).
"""

from __future__ import annotations

import random
import re
import textwrap

PYTORCH_MODELS = {
    "mlp": (
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Dropout(0.1), nn.Linear(HIDDEN, CLASSES))

            def forward(self, x):
                return self.body(x)
        """,
        "torch.randn(N, FEATURES)",
    ),
    "cnn": (
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 4, 3, padding=1)
                self.norm = nn.BatchNorm2d(4)
                self.head = nn.Linear(4 * 4 * 4, CLASSES)

            def forward(self, x):
                x = F.max_pool2d(F.relu(self.norm(self.conv(x))), 2)
                return self.head(x.flatten(1))
        """,
        "torch.randn(N, 1, 8, 8)",
    ),
    "lstm": (
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(FEATURES, HIDDEN, batch_first=True)
                self.head = nn.Linear(HIDDEN, CLASSES)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1])
        """,
        "torch.randn(N, 5, FEATURES)",
    ),
}

TRAIN_STEP = """
    optimizer.zero_grad()
    out = model(xb)
    loss = criterion(out, yb)
    loss.backward()
    optimizer.step()
"""

# Accumulations after the training step (MEM002 shapes), and what the epoch prints.
ACCUMULATIONS = {
    "sum": ("total_loss = 0.0", "    total_loss += loss", 'print("epoch", epoch, "loss", round(float(total_loss), 4))'),
    "sum-raw": ("total_loss = 0", "    total_loss = total_loss + loss", 'print("epoch", epoch, "loss", total_loss)'),
    "append": ("losses = []", "    losses.append(loss)", 'print("epoch", epoch, "loss", round(float(sum(losses) / len(losses)), 4))'),
    "history": ("history = {'loss': []}", "    history['loss'].append(loss)", 'print("epoch", epoch, "last", round(float(history["loss"][-1]), 4))'),
    "item": ("total_loss = 0.0", "    total_loss += loss.item()", 'print("epoch", epoch, "loss", round(total_loss, 4))'),
}

VALIDATION = """
    model.eval()
    val_loss = 0.0
    correct = 0
    for xb, yb in val_batches:
        out = model(xb)
        val_loss += criterion(out, yb)
        correct += (out.argmax(1) == yb).sum().item()
    print("epoch", epoch, "val", round(float(val_loss), 4), correct)
"""

EVALUATE_FUNCTION = """
def evaluate(model, batches):
    model.eval()
    correct = 0
    scores = []
    for xb, yb in batches:
        out = model(xb)
        scores.append(out.softmax(1)[:, 0])
        correct += (out.argmax(1) == yb).sum().item()
    return correct, round(float(torch.cat(scores).sum()), 4)
"""

EVALUATOR_CLASS = """
class Evaluator:
    def __init__(self, model):
        self.model = model

    def run(self, batches):
        self.model.eval()
        total = 0.0
        for xb, yb in batches:
            out = self.model(xb)
            total += out.sum()
        return round(float(total), 4)
"""

SALIENCY = """
model.eval()
probe = test_x[:4].clone().requires_grad_(True)
score = model(probe)[:, 0].sum()
score.backward()
print("saliency", round(float(probe.grad.abs().sum()), 4))
"""

GRAD_ACCUMULATION = """
model.train()
pieces = []
for xb, yb in train_batches[:2]:
    pieces.append(criterion(model(xb), yb))
optimizer.zero_grad()
torch.stack(pieces).mean().backward()
optimizer.step()
print("accumulated", round(float(torch.stack(pieces).mean()), 4))
"""

NPY_LOAD_READ = """
np.save("features.npy", np.arange(24, dtype=np.float32).reshape(6, 4))
features = np.load("features.npy")
print("features", float(features.sum()), features.shape)
"""

NPY_LOAD_WRITE = """
np.save("features.npy", np.arange(24, dtype=np.float32).reshape(6, 4))
features = np.load("features.npy")
features[0] = 0.0
print("features", float(features.sum()))
"""

KERAS_SEARCH = """
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

keras.utils.set_random_seed({seed})
x = np.random.default_rng({seed}).standard_normal((32, 6)).astype("float32")
y = (x[:, 0] > 0).astype("float32")


def build(width):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


scores = []
for trial in range({trials}):
    model = build(4 + trial)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    scores.append(round(float(model.evaluate(x, y, verbose=0)), 4))
print("scores", scores)
actions = []
for step in range(3):
    q = model.predict(x[step : step + 1], verbose=0)
    actions.append(round(float(q[0, 0]), 4))
print("actions", actions)
"""


def _block(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


def pytorch_script(rng: random.Random) -> str:
    kind = rng.choice(sorted(PYTORCH_MODELS))
    model_code, inputs = PYTORCH_MODELS[kind]
    seed = rng.randrange(1000)
    accumulation = rng.choice(sorted(ACCUMULATIONS))
    start, step, report = ACCUMULATIONS[accumulation]
    guarded_import = rng.random() < 0.15
    parts: list[str] = []
    if not guarded_import:
        parts.append("import numpy as np\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n")
    else:  # torch bound only when run as a script: a module-level `@torch.no_grad()` would fail on import
        parts.append("import numpy as np\n")
    constants = (
        f"N, FEATURES, HIDDEN, CLASSES = {rng.choice([24, 32])}, {rng.choice([4, 6])}, "
        f"{rng.choice([8, 16])}, {rng.choice([2, 3])}\n"
    )
    parts.append(constants)
    body: list[str] = []
    body.append(_block(model_code))
    body.append(
        f"torch.manual_seed({seed})\n"
        f"train_x, train_y = {inputs}, torch.randint(0, CLASSES, (N,))\n"
        f"test_x, test_y = {inputs}, torch.randint(0, CLASSES, (N,))\n"
        "train_batches = [(train_x[i : i + 8], train_y[i : i + 8]) for i in range(0, N, 8)]\n"
        "val_batches = [(test_x[i : i + 8], test_y[i : i + 8]) for i in range(0, N, 8)]\n"
        "model = Net()\n"
        f"optimizer = torch.optim.{rng.choice(['SGD', 'Adam'])}(model.parameters(), lr=0.01)\n"
        "criterion = nn.CrossEntropyLoss()\n"
    )
    with_evaluate = rng.random() < 0.5
    with_evaluator = rng.random() < 0.3
    if with_evaluate and guarded_import:  # a module-level helper; torch is bound by the time it runs
        parts.append(_block(EVALUATE_FUNCTION))
    elif with_evaluate:
        body.append(_block(EVALUATE_FUNCTION))
    if with_evaluator:
        body.append(_block(EVALUATOR_CLASS))
    # `model.train()` at the top of the epoch, or after validation, or (a bug of its own) nowhere.
    train_mode = rng.choice(["top", "after-validation", "none"])
    epoch = [f"for epoch in range({rng.choice([1, 2])}):\n", "    model.train()\n" if train_mode == "top" else "",
             f"    {start}\n",
             "    for xb, yb in train_batches:\n", _indent(_block(TRAIN_STEP), "        "), "    " + step + "\n",
             "    " + report + "\n"]
    if rng.random() < 0.6:  # validation inside the epoch loop, next to the training step
        epoch.append(_indent(_block(VALIDATION), "    "))
        if train_mode == "after-validation":
            epoch.append("    model.train()\n")
    body.append("".join(epoch))
    if rng.random() < 0.5:  # a test loop at module level, after training (`.eval()` may be the validation's)
        body.append(
            ("model.eval()\n" if rng.random() < 0.5 else "")
            + "test_correct = 0\nfor xb, yb in val_batches:\n    out = model(xb)\n"
            "    test_correct += (out.argmax(1) == yb).sum().item()\nprint(\"test\", test_correct)\n"
        )
    if with_evaluate:
        body.append('print("evaluate", *evaluate(model, val_batches))\n')
    if with_evaluator:
        body.append('print("evaluator", Evaluator(model).run(val_batches))\n')
    if rng.random() < 0.3:
        body.append(_block(SALIENCY))
    if rng.random() < 0.3:
        body.append(_block(GRAD_ACCUMULATION))
    if rng.random() < 0.3:
        body.append(_block(rng.choice([NPY_LOAD_READ, NPY_LOAD_WRITE])))
    code = "\n\n".join(body)
    if guarded_import:
        imports = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
        code = 'if __name__ == "__main__":\n' + _indent(imports + "\n" + code, "    ")
    elif rng.random() < 0.3:
        code = "def main():\n" + _indent(code, "    ") + '\n\nif __name__ == "__main__":\n    main()\n'
    script = "\n\n".join(parts) + "\n\n" + code
    if rng.random() < 0.2 and not guarded_import:
        script = script.replace("import torch\n", "import torch as T\n", 1)
        script = re.sub(r"(?m)^(?!import |from )(.*)$", lambda m: re.sub(r"(?<![\w.])torch\.", "T.", m.group(0)), script)
    return script


def keras_script(rng: random.Random) -> str:
    return _block(KERAS_SEARCH.format(seed=rng.randrange(1000), trials=rng.choice([2, 3])))


def training_script(rng: random.Random, keras: bool = True) -> str:
    if keras and rng.random() < 0.15:
        return keras_script(rng)
    return pytorch_script(rng)


# ---------------------------------------------------------------------------- file-level shapes
def colab_tabs(text: str) -> str:
    """Indentation as Colab exports sometimes write it: level n is n tabs then 2n spaces (CPython
    accepts it: consistent at tab sizes 8 and 1; libcst's tokenizer does not read it)."""

    def level(match: re.Match[str]) -> str:
        spaces = len(match.group(1))
        depth, rest = divmod(spaces, 4)
        return "\t" * depth + "  " * depth + " " * rest

    return re.sub(r"(?m)^( +)", level, text)


def file_shape(text: str, rng: random.Random) -> tuple[str, str]:
    """One file-level variation that CPython still runs: (name, text)."""
    shape = rng.choice(["plain", "crlf", "cr", "bom", "tabs", "colab-tabs", "form-feed"])
    if shape == "crlf":
        return shape, text.replace("\n", "\r\n")
    if shape == "cr":
        return shape, text.replace("\n", "\r")
    if shape == "bom":
        return shape, "\ufeff" + text
    if shape == "tabs":
        return shape, re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)
    if shape == "colab-tabs":
        return shape, colab_tabs(text)
    if shape == "form-feed":  # rows Python counts differently from str.splitlines
        return shape, text.replace("\n\n", "\n\x0c\n# a section \u2028 marker \x1c\n\n", 1)
    return shape, text
