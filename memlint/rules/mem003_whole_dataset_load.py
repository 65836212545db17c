"""MEM003 whole-dataset-load: a data set read into memory at once where mmap or streaming serves.

``np.load("big.npy")`` reads the whole file into anonymous memory; a 29 GB feature file then
raises MemoryError (open-mmlab/mmskeleton#41), while ``mmap_mode="r"`` maps it and pages in
only the items a ``Dataset`` touches. ``list(loader)`` materialises every batch
(awslabs/gluonts#996), and a whole corpus moved with one ``.to(device)`` needs all of it on
the GPU at once (kimiyoung/transformer-xl#63). Real reports show the same with other spellings:
``.npz`` archives read whole through ``.items()`` (ShichenLiu/SoftRas), images or video frames
read one by one into a list and stacked (gregwchase/eyenet, yangchris11/samurai,
RaphaelMeudec/deblur-gan), every graph of an unpickled data set moved to the GPU (ORNL/HydraGNN),
a data set's own ``to()`` moving all it stores (matsengrp/netam), ``torch.load`` of a whole split
kept on a ``Dataset`` (waldo-seg/waldo).

Trigger: ``np.load`` / ``torch.load``, ``list()`` / ``[*...]`` of a loader, ``.to(device)`` /
``.cuda()``, stacking calls (``np.array``, ``np.stack``, ``torch.stack`` ...), ``TensorDataset``.

Query: where the loaded or built data goes (a ``TensorDataset``, a ``Dataset`` attribute indexed
per item, a device move, a data loading function's return), by following the expression up its
parents and local names through the scope.

Fix: ``mmap_mode="r"`` for ``np.load`` (safe when the array is only read), ``mmap=True`` for
``torch.load`` (unsafe: needs the zipfile format). The rest is report only.
"""

from __future__ import annotations

import ast
import re

from memlint.analysis import facts
from memlint.analysis.sizes import binding_before, expression_elements
from memlint.analysis.syntax import (
    FunctionNode,
    ancestors,
    dotted,
    is_constant,
    iter_scope,
    last_name,
    literal_loop_bound,
    parent,
)
from memlint.fixes import add_keyword, replace_code
from memlint.rule import Fix, Invalid, Rule, Valid

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
# Attributes that hold index metadata or statistics, small next to the data they describe.
_METADATA_NAME = re.compile(
    r"(?i)(^|_)(offsets?|sizes?|lens|lengths?|index|indices|idx|starts?|ends?|stats?|mean|std|vocab|mapping|dict)$"
)
# Classes that hold a data set (LMOrderedIterator, TextDataset, CorpusLoader ...).
_DATA_CLASS = re.compile(r"Iterator|Dataset|Loader|Corpus|DataModule")
_RESHAPE_METHODS = _VIEW_METHODS | _COPY_METHODS | {"t", "narrow", "flatten", "long", "pin_memory"}
# A whole data set by its name (a receiver of `.to(device)` that moves all it holds).
_DATA_SET_NAME = re.compile(r"(?i)^(?:(?:train|training|val|valid|validation|test|eval|dev)_?(?:set|dataset|data|ds)|data_?set)$")
# Functions whose job is to load a data set (what they return is the data set).
_DATA_LOADING_FUNCTION = re.compile(
    r"(?i)^_*(?:load|read|get|fetch|open)_(?:the_)?(?:\w+_)?(?:data|dataset|datasets|split|corpus|samples|examples|tensors)$"
)
# Calls that stack a list of arrays or tensors into one.
_STACKING = frozenset(
    {"numpy.array", "numpy.asarray", "numpy.stack", "numpy.vstack", "numpy.concatenate", "torch.stack", "torch.cat", "torch.tensor"}
)
_DESERIALIZERS = frozenset({"pickle.load", "torch.load", "joblib.load", "numpy.load", "dill.load", "json.load"})
# Calls that allocate an array to be filled in place, and the size below which it is not a data set.
_PREALLOCATIONS = frozenset({"numpy.zeros", "numpy.empty", "numpy.ones", "numpy.full"})
_SMALL_ELEMENTS = 1_000_000
_PANDAS_READERS = re.compile(r"^pandas\.read_(csv|parquet|feather|pickle|hdf|json|table|excel|sql)$")
NP_LOAD_FIX = 'Add `mmap_mode="r"` (the array becomes read-only)'
NP_LOAD_FIX_UNCHECKED = 'Add `mmap_mode="r"` (the array becomes read-only; check nothing writes to it)'
TORCH_LOAD_FIX = "Add `mmap=True` (needs a zipfile-format checkpoint, torch>=2.1)"


def _string_parts(expr: ast.AST) -> list[str]:
    """Literal text inside a path expression (strings, f-strings, joins, ``/`` and ``+``)."""
    return [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _kwarg(call: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in call.keywords if k.arg == name), None)


def _is_dataset_class(cls: ast.ClassDef | None) -> bool:
    return cls is not None and any((dotted(b) or "").rsplit(".", 1)[-1].endswith("Dataset") for b in cls.bases)


def _holds_items(cls: ast.ClassDef | None) -> bool:
    """A data set class: a ``*Dataset`` base, or a ``__getitem__`` of its own."""
    return cls is not None and (_is_dataset_class(cls) or any(isinstance(s, FunctionNode) and s.name == "__getitem__" for s in cls.body))


def _self_attr(expr: ast.AST) -> str | None:
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    return None


def _target_exprs(target: ast.AST) -> list[ast.AST]:
    return list(target.elts) if isinstance(target, (ast.Tuple, ast.List)) else [target]


class WholeDatasetLoad(Rule):
    code = "MEM003"
    name = "whole-dataset-load"
    summary = "Whole data set loaded into memory (or onto the device) where mmap or streaming serves"
    fix_availability = "sometimes"
    fix_kinds = {NP_LOAD_FIX: "safe", NP_LOAD_FIX_UNCHECKED: "unsafe", TORCH_LOAD_FIX: "unsafe"}
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
        Valid(
            """
            import pickle

            import numpy as np
            from torch.utils.data import Dataset


            class Clips(Dataset):
                def __init__(self, data_path, label_path):
                    with open(label_path, "rb") as f:
                        self.names, self.labels = pickle.load(f)
                    self.data = np.load(data_path, mmap_mode="r")

                def __getitem__(self, i):
                    return np.array(self.data[i]), self.labels[i]

                def __len__(self):
                    return len(self.labels)
            """,
            why="a pickle of names and integer labels: small Python lists that mmap cannot help with",
        ),
        Valid(
            """
            import numpy as np
            import torch


            def load_pretrained(model, path):
                params = dict(np.load(path))
                for name, tensor in model.state_dict().items():
                    tensor.copy_(torch.from_numpy(params[name]))
            """,
            why="weights read once, whole, to copy into a model",
        ),
        Valid(
            """
            import cv2
            import numpy as np


            def stereo_pair(folder):
                return np.stack([cv2.imread(f"{folder}/{side}.png") for side in ("left", "right")])
            """,
            why="two images named in the source",
        ),
        Valid(
            """
            import torch
            from PIL import Image
            from torch.utils.data import Dataset


            class Folder(Dataset):
                def __init__(self, paths, transform):
                    self.paths, self.transform = paths, transform

                def __getitem__(self, i):
                    return self.transform(Image.open(self.paths[i]).convert("RGB"))

                def __len__(self):
                    return len(self.paths)
            """,
            why="each image is read when its item is asked for",
        ),
        Valid(
            """
            import torch


            def run(model, loader, device):
                outputs = []
                for batch in loader:
                    batch.to(device)
                    outputs.append(model(batch).cpu())
                return outputs
            """,
            why="one batch at a time from a loader",
        ),
        Valid(
            """
            import torch
            from torch import nn


            def place(device):
                models = [nn.Linear(8, 8), nn.Linear(8, 2)]
                for layer in models:
                    layer.to(device)
                return models
            """,
            why="models, not data",
        ),
        Valid(
            """
            import numpy as np
            import pandas as pd
            import torch
            from torch.utils.data import TensorDataset


            def toy_table(rows):
                frame = pd.DataFrame(rows, columns=["a", "b", "y"])
                return TensorDataset(torch.tensor(frame[["a", "b"]].values), torch.tensor(frame["y"].values))
            """,
            why="a table built in memory from rows the caller already holds, not read from a file",
        ),
        Valid(
            """
            import torch


            def restore(model, path):
                model.load_state_dict(torch.load(path)["state_dict"])
                return torch.load(path)["epoch"]


            def load_checkpoint(path):
                return torch.load(path, map_location="cpu")
            """,
            why="checkpoint entries, and a function that loads a checkpoint",
        ),
        Valid(
            """
            import numpy as np
            import torch
            from torch.utils.data import TensorDataset


            def corners(points):
                grid = np.zeros((4, 2), dtype=np.float32)
                for i, point in enumerate(points[:4]):
                    grid[i] = point
                return grid


            def corner_dataset(points, labels):
                return TensorDataset(torch.FloatTensor(corners(points)), torch.LongTensor(labels))
            """,
            why="the array the helper fills is spelled small (4 x 2)",
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
        Invalid(
            """
            import numpy as np


            class Shapes:
                def __init__(self, root, names):
                    images = []
                    for name in names:
                        images.append(dict(np.load(f"{root}/{name}.npz"))["images"])
                    self.images = np.concatenate(images)

                def __getitem__(self, i):
                    return self.images[i]
            """,
            line=8,
            why="each archive is decompressed whole and the result kept on a data set class",
        ),
        Invalid(
            """
            import numpy as np
            import torch


            def gather(paths):
                arrays = []
                for path in paths:
                    for _, value in np.load(path).items():
                        arrays.append(value)
                return torch.from_numpy(np.concatenate(arrays))
            """,
            line=8,
            why="every array of every archive read whole through .items()",
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import Dataset


            class Pages(Dataset):
                def __init__(self, split_file):
                    self.records = torch.load(split_file)

                def __getitem__(self, index):
                    record = self.records[index]
                    return torch.from_numpy(record["image"]), torch.from_numpy(record["mask"])

                def __len__(self):
                    return len(self.records)
            """,
            line=7,
            fixed="""
            import torch
            from torch.utils.data import Dataset


            class Pages(Dataset):
                def __init__(self, split_file):
                    self.records = torch.load(split_file, mmap=True)

                def __getitem__(self, index):
                    record = self.records[index]
                    return torch.from_numpy(record["image"]), torch.from_numpy(record["mask"])

                def __len__(self):
                    return len(self.records)
            """,
            applicability="unsafe",
            why="a whole processed split kept on the Dataset and indexed per item",
        ),
        Invalid(
            """
            import torch


            def training_tensors(path):
                samples = torch.load(path)["samples"]
                return samples.float()
            """,
            line=5,
            fixed="""
            import torch


            def training_tensors(path):
                samples = torch.load(path, mmap=True)["samples"]
                return samples.float()
            """,
            applicability="unsafe",
            why="a data set pulled out of a loaded dict",
        ),
        Invalid(
            """
            import torch


            def load_dataset(split):
                return torch.load(f"cache/{split}.pt")
            """,
            line=5,
            fixed="""
            import torch


            def load_dataset(split):
                return torch.load(f"cache/{split}.pt", mmap=True)
            """,
            applicability="unsafe",
            why="what a data loading function returns is the data set",
        ),
        Invalid(
            """
            import numpy as np
            from PIL import Image


            def folder_to_array(folder, names):
                return np.array([np.asarray(Image.open(f"{folder}/{name}")) for name in names])
            """,
            line=6,
            why="every image of the folder decoded and stacked into one array",
        ),
        Invalid(
            """
            import torch
            from decord import VideoReader


            def read_video(path, side):
                frames = []
                for frame in VideoReader(path, width=side, height=side):
                    frames.append(frame.permute(2, 0, 1))
                return torch.stack(frames).float() / 255.0
            """,
            line=9,
            why="every frame of the video decoded into a list, then stacked",
        ),
        Invalid(
            """
            import os

            import cv2
            import numpy as np


            def load_images(root):
                images = []
                for name in sorted(os.listdir(root)):
                    images.append(cv2.resize(cv2.imread(os.path.join(root, name)), (256, 256)))
                return np.array(images, dtype=np.float32) / 255.0
            """,
            line=11,
            why="a folder of images read into a list one by one",
        ),
        Invalid(
            """
            import pickle

            import torch


            def load_graphs(path, device):
                with open(path, "rb") as handle:
                    graphs = pickle.load(handle)
                for graph in graphs:
                    graph.to(device)
                return graphs
            """,
            line=10,
            why="each graph of the unpickled data set moved to the GPU in place",
        ),
        Invalid(
            """
            import numpy as np
            import torch


            def to_inputs(frame, featurize, device):
                features = frame["formula"].map(featurize)
                inputs = np.empty(len(features), dtype=object)
                for i, tensor in enumerate(features):
                    inputs[i] = tensor.to(device)
                return inputs
            """,
            line=9,
            why="every sample's tensor moved to the device and kept in the in-memory set",
        ),
        Invalid(
            {
                "seqdata.py": """
                    class SeqDataset:
                        def __init__(self, parents, children):
                            self.parents, self.children = parents, children

                        def to(self, device):
                            self.parents = self.parents.to(device)
                            self.children = self.children.to(device)

                        def __getitem__(self, i):
                            return self.parents[i], self.children[i]
                """,
                "trainer.py": """
                    import torch


                    def refit(model, train_set, val_set, device, optimise):
                        for data in (train_set, val_set):
                            data.to("cpu")
                            data.lengths = optimise(model, data)
                            data.to(device)
                """,
            },
            path="trainer.py",
            line=8,
            why="a data set's own to() moves everything it stores",
        ),
        Invalid(
            """
            import pandas as pd
            import torch
            from torch.utils.data import TensorDataset


            def table_dataset(path):
                frame = pd.read_csv(path)
                features = torch.tensor(frame.drop(columns="label").values, dtype=torch.float32)
                labels = torch.tensor(frame["label"].values)
                return TensorDataset(features, labels)
            """,
            line=10,
            why="a table read from a file copied whole into a tensor for a TensorDataset",
        ),
        Invalid(
            """
            import numpy as np
            import torch
            from torch.utils.data import TensorDataset


            def encode_all(encoder, images, width):
                codes = np.zeros((len(images), width), dtype=np.float16)
                for i, image in enumerate(images):
                    with torch.no_grad():
                        codes[i] = encoder(image).cpu().numpy()
                return codes


            def code_dataset(encoder, images, labels, width):
                codes = encode_all(encoder, images, width)
                return TensorDataset(torch.FloatTensor(codes), torch.LongTensor(labels))
            """,
            line=16,
            why="a whole array a helper fills is copied again into the tensor a TensorDataset holds",
        ),
        Invalid(
            """
            import numpy as np
            import torch


            def table_inputs(df, embed, column, device):
                initial_embeddings = df[column].map(embed)
                kept = np.empty(len(initial_embeddings), dtype=object)
                for i, tensor in enumerate(initial_embeddings):
                    kept[i] = tensor.to(device)
                return kept
            """,
            line=9,
            why="a table column mapped row by row to tensors, each moved to the device and kept",
        ),
        Invalid(
            """
            import numpy as np
            from PIL import Image


            def read_rgb(path):
                return Image.open(path).convert("RGB")


            def load_folder(paths):
                pictures = []
                for path in paths:
                    picture = read_rgb(path)
                    pictures.append(np.asarray(picture) / 255.0)
                return np.array(pictures)
            """,
            line=14,
            why="images read through a helper of the file, one by one into a list, then stacked",
        ),
    ]

    # ------------------------------------------------------------------ triggers
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("list", "tuple", "dict"):
            if len(node.args) == 1 and not isinstance(node.args[0], ast.Starred) and func.id != "dict" and self._is_loader(node.args[0]):
                self.report(
                    node,
                    f"`{func.id}(...)` over a data loader materialises every batch of the data set at once; iterate the "
                    "loader instead",
                )
            return
        last = last_name(func)
        if last in _DEVICE_METHODS and isinstance(func, ast.Attribute):
            self._check_device_move(node)
            return
        qualified = self.file.qualname(func)
        if qualified == "numpy.load":
            self._check_numpy_load(node)
        elif qualified == "torch.load":
            self._check_torch_load(node)
        elif qualified in _STACKING and node.args:
            self._check_stacked_reads(node, qualified)
        elif last == "TensorDataset":
            self._check_table_copy(node)

    def visit_List(self, node: ast.List) -> None:
        if len(node.elts) == 1 and isinstance(node.elts[0], ast.Starred) and self._is_loader(node.elts[0].value):
            self.report(
                node, "`[*...]` over a data loader materialises every batch of the data set at once; iterate the loader instead"
            )

    def _is_loader(self, expr: ast.AST) -> bool:
        if self._in_tests(expr):
            return False  # tests list tiny loaders to compare batches
        if isinstance(expr, ast.Call):
            name = self.file.qualname(expr.func)
            return name is not None and name.startswith("torch.") and name.rsplit(".", 1)[-1] == "DataLoader"
        name = dotted(expr)
        return name is not None and bool(facts.LOADER_NAME.search(name.rsplit(".", 1)[-1]))

    def _in_tests(self, node: ast.AST) -> bool:
        func = self.file.enclosing_function(node)
        return (func is not None and func.name.startswith("test")) or self.file.is_test_file

    # ------------------------------------------------------------------ np.load / torch.load
    def _check_numpy_load(self, node: ast.Call) -> None:
        if not node.args or isinstance(node.args[0], ast.Starred):
            return
        if self._npz_read_whole(node):
            return
        mmap = _kwarg(node, "mmap_mode")
        if (mmap is not None and not is_constant(mmap.value, None)) or len(node.args) > 1:
            return  # mapped (positionally or by keyword)
        if any(".npz" in part for part in _string_parts(node.args[0])) or self._user_chose_mmap(node):
            return
        use = self._dataset_use(node)
        if use is None:
            return
        kind, target, copied = use
        fix = None
        if _kwarg(node, "allow_pickle") is None and target is not None and not copied and kind != "moved to the device":
            edit = replace_code(mmap.value, '"r"') if mmap is not None else add_keyword(node, "mmap_mode", '"r"')
            safe = self._only_read(target)
            fix = Fix("safe" if safe else "unsafe", NP_LOAD_FIX if safe else NP_LOAD_FIX_UNCHECKED, (edit,))
        self.report(
            node,
            f"`np.load` without `mmap_mode` reads the whole array into memory ({kind}); "
            '`mmap_mode="r"` pages in only the items used',
            fix,
        )

    def _npz_read_whole(self, node: ast.Call) -> bool:
        """``np.load(p).items()``, ``dict(np.load(p))``: every array of an archive decompressed at once,
        kept by a data set class or repeated per file in a loop. True when reported."""
        holder = parent(node)
        whole = (isinstance(holder, ast.Attribute) and holder.attr in ("items", "values") and isinstance(parent(holder), ast.Call)) or (
            isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and holder.func.id in ("dict", "list") and holder.args[:1] == [node]
        )
        if not whole or any(facts.CHECKPOINT_HINT.search(p) for p in _string_parts(node.args[0])):
            return False
        if not (_holds_items(self.file.enclosing_class(node)) or self.file.enclosing_loops(node)):
            return False
        self.report(
            node,
            "`np.load` of an archive read whole (`.items()` / `dict(...)`) decompresses every array into memory; "
            "read the arrays an item needs (`archive[key][i]`), or store `.npy` files and use `mmap_mode=\"r\"`",
        )
        return True

    def _check_torch_load(self, node: ast.Call) -> None:
        if not node.args or _kwarg(node, "weights_only") is not None or _kwarg(node, "mmap") is not None:
            return
        if any(facts.CHECKPOINT_HINT.search(part) for part in _string_parts(node.args[0])):
            return
        for outer in ancestors(node):
            if isinstance(outer, ast.Call) and isinstance(outer.func, ast.Attribute) and outer.func.attr in ("load_state_dict", "load"):
                return
        use = self._dataset_use(node)
        if use is None:
            return
        kind, target, _copied = use
        if target is not None and any(facts.CHECKPOINT_HINT.search(n) for n in _target_names(target)):
            return
        fix = Fix("unsafe", TORCH_LOAD_FIX, (add_keyword(node, "mmap", "True"),))
        self.report(
            node,
            f"`torch.load` of a data set reads every tensor into memory ({kind}); `mmap=True` maps the file instead",
            fix if kind != "moved to the device" else None,
        )

    def _user_chose_mmap(self, node: ast.AST) -> bool:
        """``if use_mmap: np.load(p, mmap_mode="r") else: np.load(p)``: a choice left to the user."""
        for outer in ancestors(node):
            if isinstance(outer, ast.If):
                return any(isinstance(n, ast.Call) and _kwarg(n, "mmap_mode") is not None for n in ast.walk(outer))
            if isinstance(outer, (*FunctionNode, ast.ClassDef)):
                return False
        return False

    # ------------------------------------------------------------------ how the loaded data is used
    def _dataset_use(self, node: ast.Call) -> tuple[str, ast.AST | None, bool] | None:
        """(how it is kept, the assignment target or None, copied on the way) or None if not a data set."""
        current: ast.AST = node
        copied = moved = picked = False
        while True:
            holder = parent(current)
            if isinstance(holder, ast.Call) and holder.args[:1] == [current] and self.file.qualname(holder.func) in _WRAPPERS:
                copied = copied or _WRAPPERS[self.file.qualname(holder.func) or ""]
                current = holder
            elif isinstance(holder, ast.Attribute) and holder.value is current:
                if holder.attr not in _VIEW_METHODS | _COPY_METHODS | _DEVICE_METHODS:
                    return None
                copied = copied or holder.attr in _COPY_METHODS
                moved = moved or holder.attr in _DEVICE_METHODS
                call = parent(holder)
                current = call if isinstance(call, ast.Call) and call.func is holder else holder
            elif isinstance(holder, ast.Subscript) and holder.value is current:
                key = holder.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    if not facts.DATA_NAME.search(key.value) or facts.CHECKPOINT_HINT.search(key.value):
                        return None
                    picked = True  # `torch.load(p)["dataset"]`
                current = holder
            else:
                break
        holder = parent(current)
        cls = self.file.enclosing_class(node)
        if isinstance(holder, ast.Call) and current in holder.args and last_name(holder.func) == "TensorDataset":
            return "wrapped in a `TensorDataset`", None, copied
        function = self.file.enclosing_function(node)
        if isinstance(holder, ast.Return) and function is not None and (picked or _DATA_LOADING_FUNCTION.match(function.name)):
            return f"returned as the data set of `{function.name}`", None, copied
        if not isinstance(holder, ast.Assign) or holder.value is not current or len(holder.targets) != 1:
            return None
        target = holder.targets[0]
        exprs = _target_exprs(target)
        if all(_self_attr(t) for t in exprs) and _is_dataset_class(cls):
            attrs = [_self_attr(t) or "" for t in exprs]
            if any(_METADATA_NAME.search(a) for a in attrs) or not _indexed_per_item(cls, attrs):
                return None
            return ("moved to the device", None, copied) if moved else ("kept on a `Dataset`", target, copied)
        names = [t.id for t in exprs if isinstance(t, ast.Name)]
        if not names or len(names) != len(exprs):
            return None
        if moved:
            return ("moved to the device", None, copied) if any(facts.DATA_NAME.search(n) for n in names) else None
        if picked:
            return "a data set pulled out of the loaded file", target, copied
        kind = self._name_use(node, names)
        return (kind, target, copied) if kind is not None else None

    def _name_use(self, node: ast.AST, names: list[str]) -> str | None:
        """Does a local bound from the load feed a TensorDataset or a device move?"""
        scope = self.file.enclosing_function(node) or self.file.tree
        wanted = set(names)
        for inner in iter_scope(scope):
            if not isinstance(inner, ast.Call):
                continue
            if last_name(inner.func) == "TensorDataset" and any(self._core_name(a) in wanted for a in inner.args):
                return "wrapped in a `TensorDataset`"
            if (
                isinstance(inner.func, ast.Attribute)
                and inner.func.attr in _DEVICE_METHODS
                and self._core_name(inner.func.value) in wanted
                and any(facts.DATA_NAME.search(n) for n in names)
            ):
                return "moved to the device"
        return None

    def _core_name(self, expr: ast.AST) -> str | None:
        """The name under wrappers: ``torch.from_numpy(x).float()`` -> ``x``."""
        for _ in range(8):
            if isinstance(expr, ast.Name):
                return expr.id
            if not isinstance(expr, ast.Call):
                return None
            if isinstance(expr.func, ast.Attribute) and (expr.func.attr in _VIEW_METHODS or expr.func.attr in _COPY_METHODS):
                expr = expr.func.value
            elif expr.args and self.file.qualname(expr.func) in _WRAPPERS:
                expr = expr.args[0]
            else:
                return None
        return None

    # ------------------------------------------------------------------ fix safety
    def _only_read(self, target: ast.AST) -> bool:
        """Every use of ``target`` in its scope reads: shape/len, or an indexed copy (torch.tensor, np.array)."""
        exprs = _target_exprs(target)
        if len(exprs) != 1:
            return False
        wanted = dotted(exprs[0])
        scope = self.file.enclosing_class(target) if _self_attr(exprs[0]) else (self.file.enclosing_function(target) or self.file.tree)
        if scope is None or wanted is None:
            return False
        assignments = 0
        for node in ast.walk(scope):
            if not isinstance(node, (ast.Name, ast.Attribute)) or dotted(node) != wanted:
                continue
            holder = parent(node)
            if isinstance(node.ctx, ast.Store):
                assignments += 1
                if assignments > 1:
                    return False
            elif isinstance(holder, ast.Attribute) and holder.attr in _READ_ATTRIBUTES:
                continue
            elif isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and holder.func.id == "len":
                continue
            elif isinstance(holder, ast.Subscript) and holder.value is node and self._copied_item(holder):
                continue
            else:
                return False
        return True

    def _copied_item(self, item: ast.Subscript) -> bool:
        holder = parent(item)
        if isinstance(holder, ast.Call) and holder.args[:1] == [item] and self.file.qualname(holder.func) in _COPYING_CALLS:
            return True
        return isinstance(holder, ast.Attribute) and holder.attr in ("copy", "astype")

    # ------------------------------------------------------------------ whole data sets on the device
    def _check_device_move(self, node: ast.Call) -> None:
        if not _device_target(node):
            return
        receiver = node.func.value  # type: ignore[attr-defined]
        if self._stored_in_data_class(node, receiver) or self._in_tests(node):
            return
        whole = self._whole_data_set(node, receiver)
        if whole is not None:
            self.report(
                node,
                f"`{whole}.{node.func.attr}(...)` moves a whole data set to the device at once (its own `to()` moves "  # type: ignore[attr-defined]
                "everything it stores); keep it on the CPU and move each batch",
            )
            return
        source = self._element_of_in_memory_set(node, receiver)
        if source is not None:
            self.report(
                node,
                f"every element of `{source}` is moved to the device and kept there: the whole data set ends up in device "
                "memory; move each batch in the training loop instead",
            )

    def _stored_in_data_class(self, node: ast.Call, receiver: ast.AST) -> bool:
        """``self.data = data.view(...).to(device)`` in the constructor of a data iterator. True when reported."""
        holder = parent(node)
        function = self.file.enclosing_function(node)
        cls = self.file.enclosing_class(node)
        if not (isinstance(holder, ast.Assign) and holder.value is node and len(holder.targets) == 1 and _self_attr(holder.targets[0])):
            return False
        if function is None or function.name != "__init__" or cls is None or not _DATA_CLASS.search(cls.name):
            return False
        core = receiver
        while isinstance(core, ast.Call) and isinstance(core.func, ast.Attribute):
            if core.func.attr not in _RESHAPE_METHODS:
                return False
            core = core.func.value
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
        if not isinstance(core, ast.Name) or not facts.DATA_NAME.search(core.id) or core.id not in params:
            return False
        self.report(
            node,
            f"the whole data set `{core.id}` is moved to the device at once when `{cls.name}` is built; "
            "keep it on the CPU and move each batch",
        )
        return True

    def _whole_data_set(self, node: ast.Call, receiver: ast.AST) -> str | None:
        """``train_set.to(device)``, or ``data.to(device)`` in ``for data in (train_set, val_set)``."""
        if not isinstance(receiver, ast.Name):
            return None
        if _DATA_SET_NAME.match(receiver.id):
            return receiver.id
        for loop in self.file.enclosing_loops(node):
            if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name) and loop.target.id == receiver.id:
                if isinstance(loop.iter, (ast.Tuple, ast.List)) and loop.iter.elts and all(
                    isinstance(e, ast.Name) and _DATA_SET_NAME.match(e.id) for e in loop.iter.elts
                ):
                    return receiver.id
        return None

    def _element_of_in_memory_set(self, node: ast.Call, receiver: ast.AST) -> str | None:
        """``for graph in graphs: graph.to(device)`` over an unpickled list, ``inputs[i] = t.to(device)``:
        each element of a data set held in memory moved and kept. The collection's name, or None."""
        holder = parent(node)
        kept = (isinstance(holder, ast.Expr)) or (
            isinstance(holder, ast.Assign) and holder.value is node and all(isinstance(t, (ast.Subscript, ast.Attribute)) for t in holder.targets)
        ) or (isinstance(holder, ast.Call) and isinstance(holder.func, ast.Attribute) and holder.func.attr == "append")
        loops = self.file.enclosing_loops(node)
        if not kept or not loops or not isinstance(loops[0], (ast.For, ast.AsyncFor)) or not isinstance(receiver, ast.Name):
            return None
        loop = loops[0]
        if receiver.id not in {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}:
            return None
        collection = loop.iter
        while isinstance(collection, ast.Call) and last_name(collection.func) in ("enumerate", "tqdm", "zip", "list", "sorted") and collection.args:
            collection = collection.args[0]
        if not isinstance(collection, ast.Name) or self._is_loader(collection):
            return None
        bound = binding_before(self.file.enclosing_function(node) or self.file.tree, collection.id, loop)
        loaded = isinstance(bound, ast.Call) and self.file.qualname(bound.func) in _DESERIALIZERS
        mapped = (
            isinstance(bound, ast.Call)
            and isinstance(bound.func, ast.Attribute)
            and bound.func.attr in ("map", "apply")
            # a data-like name, or a column of a table mapped row by row: `df[col].map(embed)`
            and (facts.DATA_NAME.search(collection.id) is not None or isinstance(bound.func.value, ast.Subscript))
        )
        return collection.id if loaded or mapped else None

    # ------------------------------------------------------------------ samples read one by one
    def _check_stacked_reads(self, node: ast.Call, stacking: str) -> None:
        """``np.array([imread(p) for p in paths])``, ``frames.append(...)`` in a loop then ``torch.stack(frames)``."""
        if self._in_tests(node):
            return
        source = node.args[0]
        read = None
        if isinstance(source, (ast.ListComp, ast.GeneratorExp)):
            if any(literal_loop_bound(_as_loop(g)) is not None for g in source.generators):
                return
            read = self._reader_in(source.elt) or next((r for g in source.generators if (r := self._frame_source(g.iter))), None)
        elif isinstance(source, ast.Name):
            read = self._list_of_reads(node, source.id)
        if read is None:
            return
        self.report(
            node,
            f"`{dotted(node.func)}` stacks every sample read one by one (`{read}`) into one array: the whole data set "
            "is held in memory, twice while it is stacked; read each sample in a `Dataset.__getitem__` instead",
        )

    def _reader_in(self, expr: ast.AST, depth: int = 0) -> str | None:
        """The call in ``expr`` that reads a sample from a file: a reader itself, a project helper whose
        body calls one (``load_image(path)``), or a local bound from one (``img = load_image(p)``)."""
        scope = self.file.enclosing_function(expr) or self.file.tree
        for inner in ast.walk(expr):
            if isinstance(inner, ast.Call) and (self.file.qualname(inner.func) or "") in facts.SAMPLE_READERS:
                return dotted(inner.func)
            if isinstance(inner, ast.Call) and depth < 2:
                for owner, definition in self.file.resolve_call(inner):
                    if any(isinstance(n, ast.Call) and (owner.qualname(n.func) or "") in facts.SAMPLE_READERS for n in ast.walk(definition)):
                        return definition.name
            if isinstance(inner, ast.Name) and depth < 2:
                bound = binding_before(scope, inner.id, self.file.statement_of(expr) or expr)
                found = self._reader_in(bound, depth + 1) if bound is not None else None
                if found is not None:
                    return found
        return None

    def _frame_source(self, expr: ast.AST) -> str | None:
        if isinstance(expr, ast.Call) and (self.file.qualname(expr.func) or "") in facts.FRAME_SOURCES:
            return dotted(expr.func)
        return None

    def _list_of_reads(self, node: ast.Call, name: str) -> str | None:
        """``name`` grew in a loop (over data, not a few literal items) by samples read from files."""
        scope = self.file.enclosing_function(node) or self.file.tree
        for inner in iter_scope(scope):
            if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr == "append"):
                continue
            if dotted(inner.func.value) != name or not inner.args or getattr(inner, "lineno", 0) > node.lineno:
                continue
            loops = self.file.enclosing_loops(inner)
            if not loops or any(literal_loop_bound(loop) is not None for loop in loops):
                continue
            read = self._reader_in(inner.args[0]) or self._frame_source(getattr(loops[-1], "iter", None)) or self._frame_source(getattr(loops[0], "iter", None))
            if read is not None:
                return read
        return None

    # ------------------------------------------------------------------ tables copied whole
    def _check_table_copy(self, node: ast.Call) -> None:
        """``TensorDataset(torch.tensor(df.values))`` of a table read from a file, or
        ``TensorDataset(torch.FloatTensor(build_features(...)))`` of an array a helper fills."""
        for arg in node.args:
            table = self._table_values(arg, node)
            if table is not None:
                self.report(
                    arg,
                    f"the whole table `{table}` is copied into one tensor held by a `TensorDataset`, and the table stays "
                    "alive too; read rows per item in a `Dataset.__getitem__`",
                )
                return
            helper = self._copied_helper_array(arg, node)
            if helper is not None:
                self.report(
                    arg,
                    f"the whole array `{helper}` builds is copied into one tensor held by a `TensorDataset`, so two copies "
                    "of the data set are alive; save it and map it (`np.load(..., mmap_mode=\"r\")`) or build items in "
                    "a `Dataset.__getitem__`",
                )
                return

    def _copied_helper_array(self, expr: ast.AST, at: ast.AST) -> str | None:
        """``torch.FloatTensor(features)`` where ``features`` is what a project function returns: an
        array it preallocates (``np.zeros(shape)``, size not spelled small) and fills in a loop."""
        if not (isinstance(expr, ast.Call) and expr.args and _WRAPPERS.get(self.file.qualname(expr.func) or "")):
            return None
        built = expr.args[0]
        if isinstance(built, ast.Name):
            scope = self.file.enclosing_function(at) or self.file.tree
            built = binding_before(scope, built.id, self.file.statement_of(at) or at)
        if not isinstance(built, ast.Call):
            return None
        for owner, definition in self.file.resolve_call(built):
            for ret in ast.walk(definition):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Name) and _filled_preallocation(owner, definition, ret):
                    return definition.name
        return None

    def _table_values(self, expr: ast.AST, at: ast.AST) -> str | None:
        scope = self.file.enclosing_function(at) or self.file.tree
        for _ in range(6):
            if isinstance(expr, ast.Name):
                bound = binding_before(scope, expr.id, self.file.statement_of(at) or at)
                if bound is None:
                    return None
                expr = bound
            elif isinstance(expr, ast.Call) and (self.file.qualname(expr.func) in _WRAPPERS) and expr.args:
                expr = expr.args[0]
            elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _COPY_METHODS | {"to_numpy"}:
                expr = expr.func.value
            elif isinstance(expr, ast.Attribute) and expr.attr == "values":
                table = expr.value  # `frame.values`, `frame.drop(columns=...).values`, `frame[cols].values`
                while isinstance(table, (ast.Call, ast.Subscript, ast.Attribute)) and not isinstance(table, ast.Name):
                    table = table.func.value if isinstance(table, ast.Call) and isinstance(table.func, ast.Attribute) else getattr(table, "value", None)
                if not isinstance(table, ast.Name):
                    return None
                frame = binding_before(scope, table.id, self.file.statement_of(at) or at)
                read = isinstance(frame, ast.Call) and _PANDAS_READERS.match(self.file.qualname(frame.func) or "")
                return table.id if read else None
            else:
                return None
        return None


def _as_loop(generator: ast.comprehension) -> ast.For:
    return ast.For(target=generator.target, iter=generator.iter, body=[], orelse=[])


def _device_target(call: ast.Call) -> bool:
    """``.cuda()``, ``.to(device)``, ``.to(self.device)``, ``.to("cuda")``; not ``.to(torch.float16)``."""
    func = call.func
    if func.attr == "cuda":  # type: ignore[attr-defined]
        return True
    if not call.args:
        return False
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return "cuda" in first.value
    name = dotted(first)
    return name is not None and name.rsplit(".", 1)[-1].lower().endswith("device")


def _indexed_per_item(cls: ast.ClassDef | None, attrs: list[str]) -> bool:
    """``self.<attr>[i]`` (not a string key) somewhere in the class's ``__getitem__``."""
    if cls is None:
        return False
    wanted = set(attrs)
    for stmt in cls.body:
        if isinstance(stmt, FunctionNode) and stmt.name == "__getitem__":
            for node in ast.walk(stmt):
                if isinstance(node, ast.Subscript) and _self_attr(node.value) in wanted:
                    if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                        return True
    return False


def _filled_preallocation(owner, definition: ast.AST, ret: ast.Return) -> bool:  # type: ignore[no-untyped-def]
    """``return feats`` where ``feats = np.zeros(shape)`` (not spelled small) is written item by item in a loop."""
    name = ret.value.id  # type: ignore[union-attr]
    bound = binding_before(definition, name, ret)
    if not (isinstance(bound, ast.Call) and owner.qualname(bound.func) in _PREALLOCATIONS):
        return False
    elements = expression_elements(owner, bound)
    if elements is not None and elements < _SMALL_ELEMENTS:
        return False
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name for t in node.targets)
        and owner.enclosing_loops(node)
        for node in ast.walk(definition)
    )


def _target_names(target: ast.AST) -> list[str]:
    return [name.rsplit(".", 1)[-1] for name in (dotted(e) for e in _target_exprs(target)) if name is not None]
