"""MEM003 whole-dataset-load: a data set read into memory at once where mmap or streaming serves.

``np.load("big.npy")`` reads the whole file into anonymous memory; a 29 GB feature file then
raises MemoryError (open-mmlab/mmskeleton#41), while ``mmap_mode="r"`` maps it and pages in
only the items a ``Dataset`` touches. ``list(loader)`` materialises every batch
(awslabs/gluonts#996), and a whole corpus moved with one ``.to(device)`` needs all of it on
the GPU at once (kimiyoung/transformer-xl#63).
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

import libcst as cst

from memlint.context import dotted_name, walk
from memlint.legacy_rule import Fix, Invalid, Rule, Valid

# Calls that hand back their first argument's data, with whether they copy it.
_WRAPPERS = {
    "torch.from_numpy": False,
    "torch.as_tensor": False,
    "numpy.asarray": False,
    "torch.tensor": True,
    "torch.Tensor": True,
    "torch.FloatTensor": True,
    "torch.LongTensor": True,
    "numpy.array": True,
    "numpy.ascontiguousarray": True,
}
# Methods that keep the (whole) data: views, and copies that are just as large.
_VIEW_METHODS = frozenset({"reshape", "view", "squeeze", "unsqueeze", "transpose", "permute", "T"})
_COPY_METHODS = frozenset(
    {"astype", "float", "double", "long", "int", "half", "bool", "byte", "contiguous", "clone", "copy", "type"}
)
_DEVICE_METHODS = frozenset({"to", "cuda"})
# Uses of an mmap'd array that only read it (used to prove the np.load fix safe).
_READ_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "size", "nbytes"})
_COPYING_CALLS = frozenset({"torch.tensor", "numpy.array", "numpy.copy", "torch.Tensor"})
_DATA_NAME = re.compile(
    r"(?i)(^|_)(x|data|dataset|train|training|val|valid|validation|test|corpus|tokens|inputs|features|feats"
    r"|images|imgs|samples|examples)(_|$)"
)
_CHECKPOINT_HINT = re.compile(r"(?i)ckpt|checkpoint|state_dict|weights|model|\.pth\b")
_LOADER_NAME = re.compile(r"(?i)(^|_)(loader|dataloader)$")
# Attributes that hold index metadata or statistics, small next to the data they describe.
_METADATA_NAME = re.compile(
    r"(?i)(^|_)(offsets?|sizes?|lens|lengths?|index|indices|idx|starts?|ends?|stats?|mean|std|vocab|mapping|dict)$"
)
# Classes that hold a data set (LMOrderedIterator, TextDataset, CorpusLoader ...).
_DATA_CLASS = re.compile(r"Iterator|Dataset|Loader|Corpus|DataModule")
_RESHAPE_METHODS = _VIEW_METHODS | _COPY_METHODS | {"t", "narrow", "flatten", "long", "pin_memory"}
_TEST_PATH = re.compile(r"(^|[/\\])(tests?[/\\]|test_[^/\\]*$|[^/\\]*_test\.py$|conftest\.py$)")


def _string_parts(expr: cst.BaseExpression) -> Iterator[str]:
    """Literal text inside a path expression (strings, f-strings, joins, ``/`` and ``+``)."""
    for node in _walk(expr):
        if isinstance(node, cst.SimpleString):
            yield node.value
        elif isinstance(node, cst.FormattedStringText):
            yield node.value


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(current.children)


def _kwarg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_dataset_class(cls: cst.ClassDef | None) -> bool:
    if cls is None:
        return False
    for base in cls.bases:
        name = dotted_name(base.value)
        if name is not None and name.rsplit(".", 1)[-1].endswith("Dataset"):
            return True
    return False


def _self_attr(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
        return expr.attr.value
    return None


def _same_target(expr: cst.BaseExpression, target: cst.BaseExpression) -> bool:
    return expr.deep_equals(target)


class WholeDatasetLoad(Rule):
    code = "MEM003"
    name = "whole-dataset-load"
    summary = "Whole data set loaded into memory (or onto the device) where mmap or streaming serves"
    fix_availability = "sometimes"
    libraries = frozenset({"torch", "numpy"})

    VALID = [
        Valid(
            """
            import numpy as np
            import torch


            class Features(torch.utils.data.Dataset):
                def __init__(self, path, labels):
                    self.features = np.load(path, mmap_mode="c")
                    self.labels = labels

                def __getitem__(self, i):
                    return torch.tensor(self.features[i]), self.labels[i]
            """,
            why="mmap_mode given",
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import Dataset


            class Pairs(Dataset):
                def __init__(self, root):
                    self.archive = np.load(root + "/pairs.npz")

                def __getitem__(self, i):
                    return self.archive["x"][i], self.archive["y"][i]
            """,
            why=".npz archives load lazily",
        ),
        Valid(
            """
            import torch


            def restore(model, optimizer, path):
                state = torch.load(path, map_location="cpu")
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                model.load_state_dict(torch.load(path))
            """,
            why="checkpoints",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import TensorDataset


            def cached(path):
                x, y = torch.load(path, weights_only=True)
                return TensorDataset(x, y)
            """,
            why="weights_only loads are treated as checkpoints",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader


            def peek(loader: DataLoader):
                images, labels = next(iter(loader))
                print(len(loader), images.shape)
            """,
            why="one batch, and the length",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import TensorDataset

            torch.manual_seed(0)
            X = torch.randn(1000, 16)
            y = (X.sum(1) > 0).long()
            dataset = TensorDataset(X.to("cuda"), y.to("cuda"))
            """,
            why="data built in memory, not loaded",
        ),
        Valid(
            """
            import numpy as np
            import torch


            def project(feats, path):
                A = torch.from_numpy(np.load(path + "/pca_A.npy")).cuda()
                return feats @ A
            """,
            why="a small parameter matrix moved to the device is not a data set",
        ),
        Valid(
            """
            import numpy as np


            def summarize(path):
                arr = np.load(path)
                return float(arr.mean()), arr.shape
            """,
            why="loaded for a one-off computation, not kept as a data set",
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import Dataset


            class Vocab(Dataset):
                def __init__(self, path):
                    self.mapping = np.load(path, allow_pickle=True).item()
            """,
            why="a pickled dict, not an array",
        ),
        Valid(
            """
            import torch


            def batches(loader):
                return [move(b) for b in loader]


            def count(loader):
                return sum(1 for _ in loader), list(range(len(loader)))
            """,
            why="list() of something other than a loader",
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import Dataset


            class Skeletons(Dataset):
                def __init__(self, path, use_mmap=True):
                    if use_mmap:
                        self.data = np.load(path, mmap_mode="r")
                    else:
                        self.data = np.load(path)

                def __getitem__(self, i):
                    return np.array(self.data[i])
            """,
            why="mmap left to the user as an option",
        ),
        Valid(
            """
            import torch


            class BatchIterator:
                def __init__(self, data, bsz, device):
                    self.data = data
                    self.bsz = bsz
                    self.device = device

                def __iter__(self):
                    for i in range(0, len(self.data), self.bsz):
                        yield self.data[i : i + self.bsz].to(self.device)
            """,
            why="each batch moved on its own",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import Dataset


            class Speech(Dataset):
                def __init__(self, manifest, files):
                    self.files = files
                    self.pitch_stats = torch.load(manifest + ".stats.pt")

                def __getitem__(self, i):
                    mean = self.pitch_stats["mean"]
                    return torch.load(self.files[i]) - mean
            """,
            why="small statistics, looked up by key",
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import Dataset


            class Sequences(Dataset):
                def __init__(self, path):
                    self.offsets, self.sizes = np.load(path + ".idx.npy")

                def __getitem__(self, i):
                    return self.offsets[i], self.sizes[i]
            """,
            why="index metadata is small next to the data it points into",
        ),
        Valid(
            """
            import torch


            class ShardSampler(torch.utils.data.Sampler):
                def __iter__(self):
                    order = list(self.dataset)[: self.total]
                    return iter(order)
            """,
            why="list() of something not known to be a loader",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import numpy as np
            import torch
            from torch.utils.data import Dataset


            class Embeddings(Dataset):
                def __init__(self, path):
                    self.data = np.load(path)

                def __len__(self):
                    return len(self.data)

                def __getitem__(self, i):
                    return torch.tensor(self.data[i])
            """,
            line=8,
            fixed="""
            import numpy as np
            import torch
            from torch.utils.data import Dataset


            class Embeddings(Dataset):
                def __init__(self, path):
                    self.data = np.load(path, mmap_mode="r")

                def __len__(self):
                    return len(self.data)

                def __getitem__(self, i):
                    return torch.tensor(self.data[i])
            """,
            applicability="safe",
        ),
        Invalid(
            """
            import numpy as np
            import torch


            class Frames(torch.utils.data.Dataset):
                def __init__(self, root):
                    self.frames = np.load(root + "/frames.npy")

                def __getitem__(self, i):
                    frame = self.frames[i]
                    frame -= frame.mean()
                    return torch.from_numpy(frame)
            """,
            line=7,
            fixed="""
            import numpy as np
            import torch


            class Frames(torch.utils.data.Dataset):
                def __init__(self, root):
                    self.frames = np.load(root + "/frames.npy", mmap_mode="r")

                def __getitem__(self, i):
                    frame = self.frames[i]
                    frame -= frame.mean()
                    return torch.from_numpy(frame)
            """,
            applicability="unsafe",
            why="items flow on unchecked (here written in place): the fix is unsafe",
        ),
        Invalid(
            """
            import numpy as np
            import torch
            from torch.utils.data import DataLoader, TensorDataset


            def make_loader(x_path, y_path):
                features = np.load(x_path)
                labels = np.load(y_path)
                ds = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
                return DataLoader(ds, batch_size=64, shuffle=True)
            """,
            line=7,
            count=2,
            fixed="""
            import numpy as np
            import torch
            from torch.utils.data import DataLoader, TensorDataset


            def make_loader(x_path, y_path):
                features = np.load(x_path, mmap_mode="r")
                labels = np.load(y_path, mmap_mode="r")
                ds = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
                return DataLoader(ds, batch_size=64, shuffle=True)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import TensorDataset


            def cached_dataset(path):
                inputs, targets = torch.load(path)
                return TensorDataset(inputs, targets)
            """,
            line=6,
            fixed="""
            import torch
            from torch.utils.data import TensorDataset


            def cached_dataset(path):
                inputs, targets = torch.load(path, mmap=True)
                return TensorDataset(inputs, targets)
            """,
            applicability="unsafe",
        ),
        Invalid(
            """
            import torch
            from torch.utils import data


            class Tokens(data.Dataset):
                def __init__(self, path, block):
                    self.data, self.targets = torch.load(path)
                    self.block = block

                def __getitem__(self, i):
                    return self.data[i : i + self.block], self.targets[i : i + self.block]
            """,
            line=7,
            fixed="""
            import torch
            from torch.utils import data


            class Tokens(data.Dataset):
                def __init__(self, path, block):
                    self.data, self.targets = torch.load(path, mmap=True)
                    self.block = block

                def __getitem__(self, i):
                    return self.data[i : i + self.block], self.targets[i : i + self.block]
            """,
            applicability="unsafe",
        ),
        Invalid(
            """
            import torch


            def train(model, loader, optimizer, epochs):
                batches = list(loader)
                for _ in range(epochs):
                    for x, y in batches:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
            """,
            line=5,
        ),
        Invalid(
            """
            import torch


            def cache(train_loader):
                return [*train_loader]
            """,
            line=5,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader


            def snapshot(ds):
                return tuple(DataLoader(ds, batch_size=32))
            """,
            line=6,
        ),
        Invalid(
            """
            import numpy as np
            import torch


            def load_corpus(path, device):
                train_data = torch.from_numpy(np.load(path + "/train.npy")).to(device)
                return train_data
            """,
            line=6,
        ),
        Invalid(
            """
            import numpy as np
            import torch


            def main(args):
                tokens = np.load(args.tokens)
                tokens = torch.from_numpy(tokens).long()
                data = tokens.cuda()
                return data
            """,
            line=6,
            why="a whole loaded data set moved to the GPU in one call",
        ),
        Invalid(
            """
            import torch


            class OrderedTokenIterator:
                def __init__(self, data, bsz, device="cpu"):
                    steps = data.size(0) // bsz
                    data = data.narrow(0, 0, steps * bsz)
                    self.data = data.view(bsz, -1).t().contiguous().to(device)
            """,
            line=8,
            why="the whole token stream is moved to the GPU when the iterator is built",
        ),
    ]

    # ------------------------------------------------------------------ triggers
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Name) and func.value in ("list", "tuple"):
            if len(node.args) == 1 and not node.args[0].star and self._is_loader(node.args[0].value):
                self.report(
                    node,
                    f"`{func.value}(...)` over a data loader materialises every batch of the data set at once; iterate the "
                    "loader instead",
                )
            return
        if not isinstance(func, (cst.Attribute, cst.Name)):
            return
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value
        if last in _DEVICE_METHODS:
            self._check_stored_device_move(node)
            return
        if last != "load":
            return
        qualname = self.ctx.qualname(func)
        if qualname == "numpy.load":
            self._check_numpy_load(node)
        elif qualname == "torch.load":
            self._check_torch_load(node)

    def visit_List(self, node: cst.List) -> None:
        if len(node.elements) == 1 and isinstance(node.elements[0], cst.StarredElement):
            if self._is_loader(node.elements[0].value):
                self.report(
                    node, "`[*...]` over a data loader materialises every batch of the data set at once; iterate the loader instead"
                )

    def _is_loader(self, expr: cst.BaseExpression) -> bool:
        if self._in_tests():
            return False  # tests list tiny loaders to compare batches
        if isinstance(expr, cst.Call):
            name = self.ctx.qualname(expr.func)
            return name is not None and name.startswith("torch.") and name.rsplit(".", 1)[-1] == "DataLoader"
        name = dotted_name(expr)
        if name is None:
            return False
        return bool(_LOADER_NAME.search(name.rsplit(".", 1)[-1]))

    def _in_tests(self) -> bool:
        func = self.ctx.enclosing_function()
        if func is not None and func.name.value.startswith("test"):
            return True
        return bool(_TEST_PATH.search(self.ctx.path))

    # ------------------------------------------------------------------ np.load / torch.load
    def _check_numpy_load(self, node: cst.Call) -> None:
        if not node.args or node.args[0].keyword is not None:
            return
        mmap = _kwarg(node, "mmap_mode")
        if mmap is not None and not _is_none(mmap.value):
            return
        if len([a for a in node.args if a.keyword is None]) > 1:
            return  # mmap_mode passed positionally
        if any(".npz" in part for part in _string_parts(node.args[0].value)):
            return
        if self._user_chose_mmap():
            return
        use = self._dataset_use(node)
        if use is None:
            return
        kind, target, copied = use
        message = (
            f"`np.load` without `mmap_mode` reads the whole array into memory ({kind}); "
            '`mmap_mode="r"` pages in only the items used'
        )
        fix = None
        if _kwarg(node, "allow_pickle") is None and target is not None and not copied and kind != "moved to the device":
            new_args = list(node.args)
            if mmap is not None:
                new_args = [a for a in new_args if a is not mmap]
            new_args = self._append_kwarg(new_args, "mmap_mode", cst.SimpleString('"r"'))
            safe = self._only_read(target)
            fix = Fix(
                "safe" if safe else "unsafe",
                'Add `mmap_mode="r"` (the array becomes read-only)',
                {node: node.with_changes(args=new_args)},
            )
        self.report(node, message, fix)

    def _check_torch_load(self, node: cst.Call) -> None:
        if not node.args or _kwarg(node, "weights_only") is not None:
            return
        mmap = _kwarg(node, "mmap")
        if mmap is not None:
            return
        if any(_CHECKPOINT_HINT.search(part) for part in _string_parts(node.args[0].value)):
            return
        for ancestor in reversed(self.ctx.stack[:-1]):
            if isinstance(ancestor, cst.Call) and isinstance(ancestor.func, cst.Attribute):
                if ancestor.func.attr.value in ("load_state_dict", "load"):
                    return
        use = self._dataset_use(node)
        if use is None:
            return
        kind, target, _copied = use
        if target is not None and any(_CHECKPOINT_HINT.search(n) for n in _target_names(target)):
            return
        new_args = self._append_kwarg(list(node.args), "mmap", cst.Name("True"))
        fix = Fix(
            "unsafe",
            "Add `mmap=True` (needs a zipfile-format checkpoint, torch>=2.1)",
            {node: node.with_changes(args=new_args)},
        )
        self.report(
            node,
            f"`torch.load` of a data set reads every tensor into memory ({kind}); "
            "`mmap=True` maps the file instead",
            fix if kind != "moved to the device" else None,
        )

    def _user_chose_mmap(self) -> bool:
        """``if use_mmap: np.load(p, mmap_mode="r") else: np.load(p)``: a choice left to the user."""
        for ancestor in reversed(self.ctx.stack[:-1]):
            if isinstance(ancestor, cst.If):
                for inner in _walk(ancestor):
                    if isinstance(inner, cst.Call) and _kwarg(inner, "mmap_mode") is not None:
                        return True
                return False
            if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef)):
                return False
        return False

    def _check_stored_device_move(self, node: cst.Call) -> None:
        """``self.data = data.view(...).to(device)`` in the constructor of a data iterator."""
        func = node.func
        if not isinstance(func, cst.Attribute) or not _device_target(node):
            return
        stack = self.ctx.stack
        if len(stack) < 2 or not isinstance(stack[-2], cst.Assign) or stack[-2].value is not node:
            return
        targets = stack[-2].targets
        if len(targets) != 1 or _self_attr(targets[0].target) is None:
            return
        function = self.ctx.enclosing_function()
        cls = self.ctx.enclosing_class()
        if function is None or function.name.value != "__init__" or cls is None:
            return
        if not _DATA_CLASS.search(cls.name.value):
            return
        core: cst.BaseExpression = func.value
        while isinstance(core, cst.Call) and isinstance(core.func, cst.Attribute):
            if core.func.attr.value not in _RESHAPE_METHODS:
                return
            core = core.func.value
        if not isinstance(core, cst.Name) or not _DATA_NAME.search(core.value):
            return
        params = {p.name.value for p in function.params.params}
        if core.value not in params:
            return
        self.report(
            node,
            f"the whole data set `{core.value}` is moved to the device at once when `{cls.name.value}` is built; "
            "keep it on the CPU and move each batch",
        )

    @staticmethod
    def _append_kwarg(args: list[cst.Arg], name: str, value: cst.BaseExpression) -> list[cst.Arg]:
        new = cst.Arg(value=value, keyword=cst.Name(name), equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ))
        if args:
            last = args[-1]
            if last.comma is cst.MaybeSentinel.DEFAULT or isinstance(last.comma, cst.MaybeSentinel):
                args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                return [*args, new]
            # A trailing comma (often a multi-line call): keep the layout.
            return [*args, new.with_changes(comma=last.comma)]
        return [new]

    # ------------------------------------------------------------------ how the loaded data is used
    def _dataset_use(self, node: cst.Call) -> tuple[str, cst.BaseExpression | None, bool] | None:
        """(how it is kept, the assignment target or None, copied on the way) or None if not a data set."""
        stack = self.ctx.stack
        index = len(stack) - 1  # index of `current` in the stack
        current: cst.CSTNode = node
        copied = moved = False
        while index > 0:
            parent = stack[index - 1]
            if isinstance(parent, cst.Arg):
                call = stack[index - 2] if index > 1 else None
                wrapper = self.ctx.qualname(call.func) if isinstance(call, cst.Call) else None
                if (
                    wrapper in _WRAPPERS
                    and call.args[0] is parent
                    and parent.keyword is None
                    and not parent.star
                ):
                    copied = copied or _WRAPPERS[wrapper]
                    current, index = call, index - 2
                    continue
                break
            if isinstance(parent, cst.Attribute) and parent.value is current:
                attr = parent.attr.value
                if attr in _VIEW_METHODS or attr in _COPY_METHODS or attr in _DEVICE_METHODS:
                    copied = copied or attr in _COPY_METHODS
                    moved = moved or attr in _DEVICE_METHODS
                    call = stack[index - 2] if index > 1 else None
                    if isinstance(call, cst.Call) and call.func is parent:
                        current, index = call, index - 2
                    else:
                        current, index = parent, index - 1
                    continue
                return None
            if isinstance(parent, cst.Subscript) and parent.value is current:
                current, index = parent, index - 1
                continue
            break
        parent = stack[index - 1] if index > 0 else None
        cls = self.ctx.enclosing_class()
        if isinstance(parent, cst.Arg) and index > 1 and self._is_tensor_dataset(stack[index - 2]):
            return "wrapped in a `TensorDataset`", None, copied
        if not isinstance(parent, cst.Assign) or parent.value is not current or len(parent.targets) != 1:
            return None
        target = parent.targets[0].target
        exprs = _target_exprs(target)
        if all(_self_attr(t) for t in exprs) and _is_dataset_class(cls):
            attrs = [_self_attr(t) or "" for t in exprs]
            if any(_METADATA_NAME.search(a) for a in attrs) or not _indexed_per_item(cls, attrs):
                return None
            if moved:
                return "moved to the device", None, copied
            return "kept on a `Dataset`", target, copied
        names = [t.value for t in exprs if isinstance(t, cst.Name)]
        if not names or len(names) != len(exprs):
            return None
        if moved:
            if any(_DATA_NAME.search(n) for n in names):
                return "moved to the device", None, copied
            return None
        kind = self._name_use(names)
        if kind is not None:
            return kind, target, copied
        return None

    def _is_tensor_dataset(self, node: cst.CSTNode) -> bool:
        if not isinstance(node, cst.Call):
            return False
        name = dotted_name(node.func)
        return name is not None and name.rsplit(".", 1)[-1] == "TensorDataset"

    def _scope_body(self) -> cst.CSTNode:
        return self.ctx.enclosing_function() or self.ctx.module

    def _name_use(self, names: Sequence[str]) -> str | None:
        """Does a local bound from the load feed a TensorDataset, a Dataset attribute or a device move?"""
        scope = self._scope_body()
        wanted = set(names)
        for node in _walk(scope):
            if isinstance(node, cst.Call):
                if self._is_tensor_dataset(node):
                    for arg in node.args:
                        if self._core_name(arg.value) in wanted:
                            return "wrapped in a `TensorDataset`"
                elif (
                    isinstance(node.func, cst.Attribute)
                    and node.func.attr.value in _DEVICE_METHODS
                    and self._core_name(node.func.value) in wanted
                    and any(_DATA_NAME.search(n) for n in names)
                ):
                    return "moved to the device"
        return None

    def _core_name(self, expr: cst.BaseExpression) -> str | None:
        """The name under wrappers: ``torch.from_numpy(x).float()`` -> ``x``."""
        for _ in range(8):
            if isinstance(expr, cst.Name):
                return expr.value
            if isinstance(expr, cst.Call):
                if isinstance(expr.func, cst.Attribute) and (
                    expr.func.attr.value in _VIEW_METHODS or expr.func.attr.value in _COPY_METHODS
                ):
                    expr = expr.func.value
                    continue
                if expr.args and self.ctx.qualname(expr.func) in _WRAPPERS:
                    expr = expr.args[0].value
                    continue
            return None
        return None

    # ------------------------------------------------------------------ fix safety
    def _only_read(self, target: cst.BaseExpression) -> bool:
        """Every use of ``target`` in its scope reads: shape/len, or an indexed copy (torch.tensor, np.array)."""
        exprs = _target_exprs(target)
        if len(exprs) != 1:
            return False
        target = exprs[0]
        scope: cst.CSTNode = self.ctx.enclosing_class() if _self_attr(target) else self._scope_body()
        if scope is None:
            return False
        checker = _ReadOnlyUses(self.ctx, target)
        walk(scope, checker)
        return checker.ok


def _device_target(call: cst.Call) -> bool:
    """``.cuda()``, ``.to(device)``, ``.to(self.device)``, ``.to("cuda")``; not ``.to(torch.float16)``."""
    func = call.func
    assert isinstance(func, cst.Attribute)
    if func.attr.value == "cuda":
        return True
    if not call.args:
        return False
    first = call.args[0].value
    if isinstance(first, cst.SimpleString):
        return "cuda" in first.value
    name = dotted_name(first)
    return name is not None and name.rsplit(".", 1)[-1].lower().endswith("device")


def _indexed_per_item(cls: cst.ClassDef | None, attrs: Sequence[str]) -> bool:
    """``self.<attr>[i]`` (not a string key) somewhere in the class's ``__getitem__``."""
    if cls is None:
        return False
    wanted = set(attrs)
    for stmt in cls.body.body:
        if not isinstance(stmt, cst.FunctionDef) or stmt.name.value != "__getitem__":
            continue
        for node in _walk(stmt.body):
            if isinstance(node, cst.Subscript) and _self_attr(node.value) in wanted:
                first = node.slice[0].slice
                if not (isinstance(first, cst.Index) and isinstance(first.value, (cst.SimpleString, cst.ConcatenatedString))):
                    return True
    return False


def _target_exprs(target: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [e.value for e in target.elements]
    return [target]


def _target_names(target: cst.BaseExpression) -> list[str]:
    out = []
    for expr in _target_exprs(target):
        name = dotted_name(expr)
        if name is not None:
            out.append(name.rsplit(".", 1)[-1])
    return out


class _ReadOnlyUses(cst.CSTVisitor):
    """Checks that a name (or ``self.attr``) is only read: ``len(t)``, ``t.shape``, ``copy(t[i])``."""

    def __init__(self, ctx, target: cst.BaseExpression) -> None:
        self.ctx = ctx
        self.target = target
        self.stack: list[cst.CSTNode] = []
        self.ok = True
        self.assignments = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if self.ok and type(node) is type(self.target) and node.deep_equals(self.target):
            self._check()
            return False
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()

    def _check(self) -> None:
        parent = self.stack[-2] if len(self.stack) > 1 else None
        node = self.stack[-1]
        if isinstance(parent, (cst.AssignTarget,)) or (isinstance(parent, (cst.Tuple, cst.List)) and any(
            isinstance(s, cst.AssignTarget) for s in self.stack[-4:-1]
        )):
            self.assignments += 1
            if self.assignments > 1:
                self.ok = False
            return
        if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _READ_ATTRIBUTES:
            return
        if isinstance(parent, cst.Arg) and len(self.stack) > 2:
            call = self.stack[-3]
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "len":
                return
        if isinstance(parent, cst.Subscript) and parent.value is node and len(self.stack) > 3:
            holder = self.stack[-3]
            if isinstance(holder, cst.Arg) and holder.value is parent and holder.keyword is None:
                call = self.stack[-4]
                if isinstance(call, cst.Call) and self.ctx.qualname(call.func) in _COPYING_CALLS:
                    return
            if isinstance(holder, cst.Attribute) and holder.value is parent and holder.attr.value in ("copy", "astype"):
                return
        self.ok = False
