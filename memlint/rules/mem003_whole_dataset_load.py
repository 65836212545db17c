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

Query (``analysis/loads.py``): where the loaded or built data goes (a ``TensorDataset``, a
``Dataset`` attribute indexed per item, a device move, a data loading function's return), by
following the expression up its parents and local names through the scope.

Fix: ``mmap_mode="r"`` for ``np.load`` (safe when the array is only read), ``mmap=True`` for
``torch.load`` (unsafe: needs the zipfile format). The rest is report only.
"""

from __future__ import annotations

import ast

from memlint.analysis import facts
from memlint.analysis.data import looks_like_loader
from memlint.analysis.effects import only_read
from memlint.analysis.loads import (
    DEVICE_METHODS,
    STACKING_CALLS,
    archive_read_whole,
    copied_helper_array,
    data_destination,
    data_moved_in_constructor,
    element_of_in_memory_set,
    mmap_left_to_user,
    moves_to_device,
    stacked_reads,
    table_values,
    whole_data_set,
)
from memlint.analysis.syntax import ancestors, dotted, is_constant, keyword, last_name, string_parts, target_elements
from memlint.fixes import add_keyword, replace_code
from memlint.rule import Fix, Invalid, Rule, Valid

NP_LOAD_FIX = 'Add `mmap_mode="r"` (the array becomes read-only)'
NP_LOAD_FIX_UNCHECKED = 'Add `mmap_mode="r"` (the array becomes read-only; check nothing writes to it)'
TORCH_LOAD_FIX = "Add `mmap=True` (needs a zipfile-format checkpoint, torch>=2.1)"


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
        Valid(
            """
            import os

            import torch
            from torch.utils.data import Dataset


            class FashionMNIST(Dataset):
                def __init__(self, root, train=True):
                    name = "training.pt" if train else "test.pt"
                    self.images, self.labels = torch.load(os.path.join(root, "processed", name))

                def __len__(self):
                    return len(self.labels)

                def __getitem__(self, i):
                    return self.images[i], self.labels[i]
            """,
            why="a copy of torchvision's MNIST-family class: its processed tensors are tens of MB, loaded whole by design",
        ),
        Valid(
            """
            import numpy as np
            from PIL import Image


            def pixels(item, side):
                picture = Image.open(item) if isinstance(item, str) else item
                return np.asarray(picture.convert("L").resize((side, side)))[None]


            def build(split, side):
                def to_arrays(rows):
                    before = np.concatenate([pixels(p, side) for p in rows["before"]])
                    after = np.concatenate([pixels(p, side) for p in rows["after"]])
                    return np.stack([before, after])

                def prepare(rows):
                    rows["pairs"] = to_arrays(rows)
                    return rows

                return split.with_transform(prepare)
            """,
            why="the stacking function runs only through a per-batch `with_transform` callback: one batch, not the set",
        ),
        Valid(
            """
            import functools

            import numpy as np
            from PIL import Image


            def decode(batch, side):
                return {"img": np.stack([np.asarray(Image.open(p).resize((side, side))) for p in batch["path"]])}


            def encode(table, side):
                return table.map(functools.partial(decode, side=side), batched=True, batch_size=64)
            """,
            why="`Dataset.map(..., batched=True)` hands the function one batch at a time, here through a partial",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            from torchvision.io import read_image


            def gather(paths):
                return torch.stack([read_image(p) for p in paths])


            def loader(paths, size):
                return DataLoader(paths, batch_size=size, collate_fn=lambda chunk: gather(chunk))
            """,
            why="read and stacked in a `collate_fn`: one batch of paths at a time",
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
        Invalid(
            """
            import numpy as np
            from PIL import Image


            def to_array(rows):
                return np.stack([np.asarray(Image.open(p)) for p in rows["path"]])


            def prepare(table):
                table = table.with_transform(to_array)
                everything = to_array({"path": table.paths})
                return table, everything
            """,
            line=6,
            why="a transform callback that is also called on every path at once: that call stacks the whole set",
        ),
    ]

    def report(self, node: ast.AST, message: str, fix: Fix | None = None) -> None:
        # a function that only ever runs as a pipeline's per-element or per-batch callback
        # (`ds.with_transform(f)`, `ds.map(f)`, `collate_fn=f`) loads and stacks one batch, not the set
        if not self.file.runs_per_item(self.file.enclosing_scope(node)):
            super().report(node, message, fix)

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
        if last in DEVICE_METHODS and isinstance(func, ast.Attribute):
            self._check_device_move(node)
            return
        qualified = self.file.qualname(func)
        if qualified == "numpy.load":
            self._check_numpy_load(node)
        elif qualified == "torch.load":
            self._check_torch_load(node)
        elif qualified in STACKING_CALLS and node.args:
            self._check_stacked_reads(node)
        elif last == "TensorDataset":
            self._check_table_copy(node)

    def visit_List(self, node: ast.List) -> None:
        if len(node.elts) == 1 and isinstance(node.elts[0], ast.Starred) and self._is_loader(node.elts[0].value):
            self.report(
                node, "`[*...]` over a data loader materialises every batch of the data set at once; iterate the loader instead"
            )

    def _is_loader(self, expr: ast.AST) -> bool:
        # tests list tiny loaders to compare batches
        return not self.file.in_test(expr) and looks_like_loader(self.file, expr)

    # ------------------------------------------------------------------ np.load / torch.load
    def _check_numpy_load(self, node: ast.Call) -> None:
        if not node.args or isinstance(node.args[0], ast.Starred):
            return
        if archive_read_whole(self.file, node):
            self.report(
                node,
                "`np.load` of an archive read whole (`.items()` / `dict(...)`) decompresses every array into memory; "
                "read the arrays an item needs (`archive[key][i]`), or store `.npy` files and use `mmap_mode=\"r\"`",
            )
            return
        mmap = keyword(node, "mmap_mode")
        if (mmap is not None and not is_constant(mmap.value, None)) or len(node.args) > 1:
            return  # mapped (positionally or by keyword)
        if any(".npz" in part for part in string_parts(node.args[0])) or mmap_left_to_user(node):
            return
        use = data_destination(self.file, node)
        if use is None:
            return
        kind, target, copied = use
        fix = None
        if keyword(node, "allow_pickle") is None and target is not None and not copied and kind != "moved to the device":
            edit = replace_code(mmap.value, '"r"') if mmap is not None else add_keyword(node, "mmap_mode", '"r"')
            safe = only_read(self.file, target)
            fix = Fix("safe" if safe else "unsafe", NP_LOAD_FIX if safe else NP_LOAD_FIX_UNCHECKED, (edit,))
        self.report(
            node,
            f"`np.load` without `mmap_mode` reads the whole array into memory ({kind}); "
            '`mmap_mode="r"` pages in only the items used',
            fix,
        )

    def _check_torch_load(self, node: ast.Call) -> None:
        if not node.args or keyword(node, "weights_only") is not None or keyword(node, "mmap") is not None:
            return
        if any(facts.CHECKPOINT_HINT.search(part) for part in string_parts(node.args[0])):
            return
        for outer in ancestors(node):
            if isinstance(outer, ast.Call) and isinstance(outer.func, ast.Attribute) and outer.func.attr in ("load_state_dict", "load"):
                return
        use = data_destination(self.file, node)
        if use is None:
            return
        kind, target, _copied = use
        if target is not None:
            names = [name.rsplit(".", 1)[-1] for name in (dotted(e) for e in target_elements(target)) if name is not None]
            if any(facts.CHECKPOINT_HINT.search(n) for n in names):
                return
        fix = Fix("unsafe", TORCH_LOAD_FIX, (add_keyword(node, "mmap", "True"),))
        self.report(
            node,
            f"`torch.load` of a data set reads every tensor into memory ({kind}); `mmap=True` maps the file instead",
            fix if kind != "moved to the device" else None,
        )

    # ------------------------------------------------------------------ whole data sets on the device
    def _check_device_move(self, node: ast.Call) -> None:
        if not moves_to_device(node):
            return
        message = self._whole_move(node, node.func.value)  # type: ignore[attr-defined]
        if message is not None:
            self.report(node, message)

    def _whole_move(self, node: ast.Call, receiver: ast.AST) -> str | None:
        """What the move takes to the device whole, said for the finding; None if only a batch."""
        moved = data_moved_in_constructor(self.file, node, receiver)
        if moved is not None:
            return (
                f"the whole data set `{moved[0]}` is moved to the device at once when `{moved[1]}` is built; "
                "keep it on the CPU and move each batch"
            )
        if self.file.in_test(node):
            return None
        whole = whole_data_set(self.file, node, receiver)
        if whole is not None:
            return (
                f"`{whole}.{node.func.attr}(...)` moves a whole data set to the device at once (its own `to()` moves "  # type: ignore[attr-defined]
                "everything it stores); keep it on the CPU and move each batch"
            )
        source = element_of_in_memory_set(self.file, node, receiver)
        if source is not None:
            return (
                f"every element of `{source}` is moved to the device and kept there: the whole data set ends up in device "
                "memory; move each batch in the training loop instead"
            )
        return None

    # ------------------------------------------------------------------ samples read one by one
    def _check_stacked_reads(self, node: ast.Call) -> None:
        """``np.array([imread(p) for p in paths])``, ``frames.append(...)`` in a loop then ``torch.stack(frames)``."""
        if self.file.in_test(node):
            return
        read = stacked_reads(self.file, node)
        if read is None:
            return
        self.report(
            node,
            f"`{dotted(node.func)}` stacks every sample read one by one (`{read}`) into one array: the whole data set "
            "is held in memory, twice while it is stacked; read each sample in a `Dataset.__getitem__` instead",
        )

    # ------------------------------------------------------------------ tables copied whole
    def _check_table_copy(self, node: ast.Call) -> None:
        """``TensorDataset(torch.tensor(df.values))`` of a table read from a file, or
        ``TensorDataset(torch.FloatTensor(build_features(...)))`` of an array a helper fills."""
        for arg in node.args:
            table = table_values(self.file, arg, node)
            if table is not None:
                self.report(
                    arg,
                    f"the whole table `{table}` is copied into one tensor held by a `TensorDataset`, and the table stays "
                    "alive too; read rows per item in a `Dataset.__getitem__`",
                )
                return
            helper = copied_helper_array(self.file, arg, node)
            if helper is not None:
                self.report(
                    arg,
                    f"the whole array `{helper}` builds is copied into one tensor held by a `TensorDataset`, so two copies "
                    "of the data set are alive; save it and map it (`np.load(..., mmap_mode=\"r\")`) or build items in "
                    "a `Dataset.__getitem__`",
                )
                return
WholeDatasetLoad.VALID += [
    Valid(
        """
        import os

        import numpy as np
        from imageio import imread
        from tensorflow import keras


        class TileBatches(keras.utils.Sequence):
            def __init__(self, folder, names, batch_size):
                self.folder = folder
                self.names = names
                self.batch_size = batch_size

            def __len__(self):
                return len(self.names) // self.batch_size

            def __getitem__(self, index):
                chunk = self.names[index * self.batch_size:(index + 1) * self.batch_size]
                return self._stack(chunk)

            def _stack(self, chunk):
                tiles = []
                for name in chunk:
                    tiles.append(imread(os.path.join(self.folder, name)))
                return np.array(tiles)
        """,
        why="the helper runs only from `__getitem__`, on one batch of file names: it stacks one batch",
    ),
]
