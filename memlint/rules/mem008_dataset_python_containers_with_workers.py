"""MEM008 dataset-python-containers-with-workers: per-item Python objects in a Dataset read by workers.

A Dataset whose ``__init__`` keeps a list or dict of Python objects (file names, parsed annotations,
samples) and reads it per item gets copied, page by page, into every DataLoader worker: reading an
object writes its reference count, and the forked worker's copy-on-write pages become private
(pytorch/pytorch#13246, more than ten independent reports; the DataLoader docs warn since PR#64337).

Trigger: a class derived from ``torch.utils.data.Dataset`` / ``IterableDataset``.

Query, on the shared data analysis (``memlint/analysis/data.py``): an attribute that ``__init__`` (or
a method it calls) binds to per-item Python objects built from data (a comprehension, a file listing,
``json.load`` / ``pickle.load``, a container filled in a loop, a helper or an overridden
``load_annotations`` that returns one, a pandas object column), read with the item's index in
``__getitem__`` (or the methods it calls) or walked by ``__iter__``; and a DataLoader that may start
workers: one that reads this class (or a subclass), in this file or another, with ``num_workers``
not 0, or, when no DataLoader can be tied to the class, any DataLoader of the project with workers.
Silent on arrays, tensors, memory maps and shared proxies, small literal lists, attributes converted to
an array later in ``__init__``, and classes whose every DataLoader runs without workers.

Fix: none. The document shows the NumPy / pyarrow layouts.
"""

from __future__ import annotations

import ast
import os

from memlint.analysis import data, facts
from memlint.rule import Invalid, Rule, Valid


class DatasetPythonContainersWithWorkers(Rule):
    code = "MEM008"
    name = "dataset-python-containers-with-workers"
    summary = "A Dataset keeps per-item Python objects that every DataLoader worker copies as it reads them"
    fix_availability = "none"
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})
    # Off by default: on real code most findings are file-name lists too small to matter (rules/MEM008.md).
    default_enabled = False

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        file = self.file
        if not file.subclasses(node, facts.DATASET_ROOTS):
            return
        containers = data.stored_containers(file, node)
        if not containers:
            return
        read = data.items_read(file, node)
        containers = [c for c in containers if c.attr in read]
        if not containers:
            return
        evidence = self._workers(node)
        if evidence is None:
            return
        for container in containers:
            how = "walked in `__iter__`" if isinstance(read[container.attr], (ast.For, ast.comprehension)) else "read per item"
            self.report(
                container.node,
                f"`self.{container.attr}` holds {container.description}, {how}; DataLoader workers "
                f"({evidence}) each copy the objects they touch (copy-on-read): keep it in a NumPy array "
                "or a pyarrow table",
            )

    def _workers(self, cls: ast.ClassDef) -> str | None:
        """Where a DataLoader that may read this class with workers is, as text; None when every
        DataLoader that reads it (or, when none can be tied to it, every one) has none."""
        file = self.file
        linked = data.loaders_reading(file, cls)
        candidates = linked if linked else data.loaders_with_workers(file)
        for owner, call in candidates:
            workers = data.loader_setting(owner, call, "num_workers")
            if workers.off:
                continue
            expr, _ = data.loader_argument(owner, call, "num_workers")
            spelled = f"num_workers={ast.unparse(expr)}" if expr is not None else "num_workers from **kwargs"
            if len(spelled) > 48:
                spelled = spelled[:45] + "..."
            where = "" if owner is file else f" in {os.path.basename(owner.path)}"
            return f"{spelled}{where}, line {call.lineno}"
        return None

    VALID = [
        Valid(
            """
            import numpy as np
            from torch.utils.data import DataLoader, Dataset


            class Frames(Dataset):
                def __init__(self, paths):
                    self.paths = np.array(sorted(paths))

                def __len__(self):
                    return len(self.paths)

                def __getitem__(self, index):
                    return str(self.paths[index])


            loader = DataLoader(Frames(["a.png", "b.png"]), batch_size=8, num_workers=4)
            """,
            why="a NumPy array of paths: one buffer, no per-item objects",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, Dataset


            class Features(Dataset):
                def __init__(self, path):
                    self.features = torch.load(path)

                def __len__(self):
                    return len(self.features)

                def __getitem__(self, index):
                    return self.features[index]


            def loader(path):
                return DataLoader(Features(path), batch_size=64, num_workers=8)
            """,
            why="a tensor",
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, Dataset


            class Colors(Dataset):
                def __init__(self):
                    self.names = ["red", "green", "blue"]

                def __len__(self):
                    return len(self.names)

                def __getitem__(self, index):
                    return self.names[index]


            loader = DataLoader(Colors(), batch_size=2, num_workers=2)
            """,
            why="a small literal list",
        ),
        Valid(
            """
            import glob
            from torch.utils.data import DataLoader, Dataset


            class Images(Dataset):
                def __init__(self, root):
                    self.files = sorted(glob.glob(root + "/*.png"))

                def __len__(self):
                    return len(self.files)

                def __getitem__(self, index):
                    return self.files[index]


            def evaluate(root):
                for batch in DataLoader(Images(root), batch_size=16, num_workers=0):
                    print(batch)
            """,
            why="num_workers=0: no worker processes",
        ),
        Valid(
            """
            import glob
            from torch.utils.data import DataLoader, Dataset


            class Images(Dataset):
                def __init__(self, root):
                    self.files = sorted(glob.glob(root + "/*.png"))

                def __len__(self):
                    return len(self.files)

                def __getitem__(self, index):
                    return self.files[index]


            loader = DataLoader(Images("data"), batch_size=16, shuffle=True)
            """,
            why="num_workers left at its default, 0",
        ),
        Valid(
            """
            from multiprocessing import Manager

            from torch.utils.data import DataLoader, IterableDataset


            class Slices(IterableDataset):
                def __init__(self, paths, depth):
                    self.manager = Manager()
                    self.paths = self.manager.list(paths)
                    self.depths = self.manager.dict({i: depth for i in range(len(paths))})

                def __iter__(self):
                    for index, depth in self.depths.items():
                        for s in range(depth):
                            yield self.paths[index], s


            loader = DataLoader(Slices(["a.nii"], 155), batch_size=16, num_workers=8)
            """,
            why="multiprocessing Manager proxies are shared, not copied per worker",
        ),
        Valid(
            """
            import json

            import numpy as np
            from torch.utils.data import DataLoader, Dataset


            class Captions(Dataset):
                def __init__(self, path):
                    with open(path) as f:
                        records = json.load(f)
                    self.lengths = np.array([len(r["text"]) for r in records])
                    self.offsets = np.cumsum(self.lengths)

                def __len__(self):
                    return len(self.lengths)

                def __getitem__(self, index):
                    return self.offsets[index]


            loader = DataLoader(Captions("c.json"), batch_size=32, num_workers=4)
            """,
            why="the parsed records are turned into arrays; only the arrays are kept",
        ),
        Valid(
            """
            import glob

            import numpy as np
            from torch.utils.data import DataLoader, Dataset


            class Images(Dataset):
                def __init__(self, root):
                    self.files = sorted(glob.glob(root + "/*.png"))
                    self.files = np.array(self.files)

                def __len__(self):
                    return len(self.files)

                def __getitem__(self, index):
                    return self.files[index]


            loader = DataLoader(Images("data"), batch_size=16, num_workers=8)
            """,
            why="the list is converted to an array before the workers start",
        ),
        Valid(
            """
            import os
            from torch.utils.data import DataLoader, Dataset


            class Folder(Dataset):
                def __init__(self, root, transforms):
                    self.root = root
                    self.classes = sorted(os.listdir(root))
                    self.transforms = list(transforms)

                def __len__(self):
                    return 1000

                def __getitem__(self, index):
                    image = os.path.join(self.root, str(index))
                    for t in self.transforms:
                        image = t(image)
                    return image


            loader = DataLoader(Folder("data", []), batch_size=16, num_workers=8)
            """,
            why="the lists are never read with the item's index",
        ),
        Valid(
            {
                "dataset.py": """
                    import glob
                    from torch.utils.data import Dataset


                    class Images(Dataset):
                        def __init__(self, root):
                            self.files = sorted(glob.glob(root + "/*.png"))

                        def __len__(self):
                            return len(self.files)

                        def __getitem__(self, index):
                            return self.files[index]
                """,
                "train.py": """
                    from torch.utils.data import DataLoader

                    from dataset import Images

                    loader = DataLoader(Images("data"), batch_size=16, num_workers=0)
                """,
            },
            why="the only DataLoader that reads the class, in another file, has no workers",
        ),
        Valid(
            """
            import glob
            from torch.utils.data import Dataset


            class Images(Dataset):
                def __init__(self, root):
                    self.files = sorted(glob.glob(root + "/*.png"))

                def __len__(self):
                    return len(self.files)

                def __getitem__(self, index):
                    return self.files[index]
            """,
            why="no DataLoader with workers anywhere in sight",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import glob
            import os

            from torch.utils.data import DataLoader, Dataset


            class ImageDataset(Dataset):
                def __init__(self, root, mode="train"):
                    self.files = sorted(glob.glob(os.path.join(root, mode) + "/*.*"))

                def __getitem__(self, index):
                    return self.files[index % len(self.files)]

                def __len__(self):
                    return len(self.files)


            def make_loader(opt):
                return DataLoader(ImageDataset(opt.root), batch_size=opt.batch_size, shuffle=True, num_workers=opt.n_cpu)
            """,
            line=9,
            why="a file listing, workers from the options",
        ),
        Invalid(
            """
            import pickle

            from torch.utils.data import DataLoader, Dataset


            class MultiviewDataset(Dataset):
                def __init__(self, ann_file):
                    with open(ann_file, "rb") as f:
                        data = pickle.load(f)
                    self.data_infos = list(data["infos"])

                def __len__(self):
                    return len(self.data_infos)

                def __getitem__(self, index):
                    info = self.data_infos[index]
                    return info["lidar_path"], info["cams"]


            def build_loader(ann_file, workers=32):
                return DataLoader(MultiviewDataset(ann_file), batch_size=2, num_workers=workers)
            """,
            line=10,
            why="a list of annotation dicts from a pickle (tier4/autoware-ml PR#78)",
        ),
        Invalid(
            """
            import pickle

            import torch
            from torch.utils.data import DataLoader, Dataset


            class TrainingDataset(Dataset):
                def __init__(self, query_file):
                    self.queries = pickle.load(open(query_file, "rb"))

                def __len__(self):
                    return len(self.queries)

                def __getitem__(self, ndx):
                    return torch.load(self.queries[ndx].rel_scan_filepath), ndx


            def make_loader(query_file, params):
                dataset = TrainingDataset(query_file)
                return DataLoader(dataset, batch_size=32, num_workers=params.num_workers)
            """,
            line=9,
            why="a pickled dict of per-query objects (jac99/MinkLoc3Dv2#4)",
        ),
        Invalid(
            """
            import os

            from torch.utils.data import DataLoader, Dataset


            class Pairs(Dataset):
                def __init__(self, root):
                    self.samples = []
                    for name in sorted(os.listdir(root)):
                        label = int(name.split("_")[0])
                        self.samples.append((os.path.join(root, name), label))

                def __len__(self):
                    return len(self.samples)

                def __getitem__(self, i):
                    path, label = self.samples[i]
                    return path, label


            train_loader = DataLoader(Pairs("train"), batch_size=64, shuffle=True, num_workers=8)
            """,
            line=8,
            why="a list of tuples filled in a loop",
        ),
        Invalid(
            """
            import random

            from torch.utils.data import DataLoader, IterableDataset


            class SliceDataset(IterableDataset):
                @staticmethod
                def _slice_indices(paths, depth):
                    return {i: {s: None for s in range(depth)} for i in range(len(paths))}

                def __init__(self, image_paths, depth):
                    self.image_paths = image_paths
                    self.image_slice_indices = SliceDataset._slice_indices(image_paths, depth)

                def __iter__(self):
                    for image_index, slices in self.image_slice_indices.items():
                        for s in slices:
                            yield self.image_paths[image_index], s


            def loader(paths):
                return DataLoader(SliceDataset(paths, 155), batch_size=16, num_workers=8)
            """,
            line=13,
            why="a dict of dicts built by a static helper, walked by __iter__ (HealthML/active-segmentation PR#142)",
        ),
        Invalid(
            """
            import json

            from torch.utils.data import DataLoader, Dataset


            class Captions(Dataset):
                def __init__(self, path, tokenizer):
                    with open(path) as f:
                        self.records = json.load(f)
                    self.tokenizer = tokenizer

                def __len__(self):
                    return len(self.records)

                def __getitem__(self, index):
                    record = self.records[index]
                    return self.tokenizer(record["caption"]), record["image"]


            def loaders(path, tokenizer, cfg):
                kwargs = {"batch_size": cfg.batch_size, "num_workers": cfg.workers, "pin_memory": True}
                return DataLoader(Captions(path, tokenizer), shuffle=True, **kwargs)
            """,
            line=9,
            why="a parsed JSON list, workers passed through a kwargs dict",
        ),
        Invalid(
            """
            import json

            import numpy as np
            import pandas as pd
            from torch.utils.data import DataLoader, Dataset


            class DetectionDataset(Dataset):
                def __init__(self, csv_path):
                    self.df = pd.read_csv(csv_path)
                    self.df["bbox"] = self.df["bbox"].apply(json.loads)
                    self.df["bbox"] = self.df["bbox"].apply(np.array)

                def __len__(self):
                    return len(self.df)

                def __getitem__(self, idx):
                    row = self.df.iloc[idx]
                    return row["image"], row["bbox"]


            loader = DataLoader(DetectionDataset("ann.csv"), batch_size=8, num_workers=8)
            """,
            line=11,
            why="a pandas column holding one array object per row (eora-ai/torchok PR#181)",
        ),
        Invalid(
            {
                "detection.py": """
                    import json

                    import numpy as np
                    import pandas as pd
                    from torch.utils.data import Dataset


                    class DetectionDataset(Dataset):
                        def __init__(self, csv_path):
                            self.df = pd.read_csv(csv_path)
                            if csv_path.endswith("csv"):
                                self.df["bbox"] = self.df["bbox"].apply(json.loads)
                            self.df["bbox"] = self.df["bbox"].apply(np.array)
                            self.df["label"] = self.df["label"].apply(np.array)

                        def __len__(self):
                            return len(self.df)

                        def get_raw(self, idx):
                            row = self.df.iloc[idx]
                            return row["image"], row["bbox"], row["label"]

                        def __getitem__(self, idx):
                            return self.get_raw(idx)
                """,
                "loaders.py": """
                    from torch.utils.data import DataLoader

                    from detection import DetectionDataset


                    def make_loader(cfg):
                        return DataLoader(DetectionDataset(cfg["ann"]), batch_size=cfg["batch_size"], num_workers=cfg["num_workers"])
                """,
            },
            path="detection.py",
            line=13,
            count=1,
            why="the DataLoader is in another file; reported once, at the unconditional conversion",
        ),
        Invalid(
            {
                "base_dataset.py": """
                    import copy

                    from torch.utils.data import Dataset


                    class BaseDataset(Dataset):
                        def __init__(self, ann_file):
                            self.ann_file = ann_file
                            self.data_infos = self.load_annotations()

                        def load_annotations(self):
                            raise NotImplementedError

                        def __len__(self):
                            return len(self.data_infos)

                        def prepare_data(self, idx):
                            return copy.deepcopy(self.data_infos[idx])

                        def __getitem__(self, idx):
                            return self.prepare_data(idx)
                """,
                "voc.py": """
                    import numpy as np

                    from base_dataset import BaseDataset


                    class VOC(BaseDataset):
                        def load_annotations(self):
                            infos = []
                            for line in open(self.ann_file):
                                labels = np.zeros(20, dtype=np.int8)
                                infos.append({"filename": line.strip(), "gt_label": labels})
                            return infos
                """,
                "builder.py": """
                    from torch.utils.data import DataLoader


                    def build_dataloader(dataset, samples_per_gpu, workers_per_gpu):
                        return DataLoader(dataset, batch_size=samples_per_gpu, num_workers=workers_per_gpu)
                """,
            },
            path="base_dataset.py",
            line=9,
            why="a subclass in another module builds the list (open-mmlab/mmpretrain PR#315); "
            "the project's DataLoader takes workers from its caller",
        ),
        Invalid(
            {
                "data/folder.py": """
                    import os

                    from torch.utils.data import Dataset


                    class Folder(Dataset):
                        def __init__(self, root):
                            self.items = [os.path.join(root, f) for f in os.listdir(root) if f.endswith(".wav")]

                        def __len__(self):
                            return len(self.items)

                        def __getitem__(self, index):
                            return self.items[index]
                """,
                "train.py": """
                    from torch.utils.data import DataLoader

                    from data.folder import Folder


                    def main(args):
                        train_set = Folder(args.root)
                        loader = DataLoader(train_set, batch_size=args.batch_size, num_workers=4)
                        for batch in loader:
                            print(batch)
                """,
            },
            path="data/folder.py",
            line=8,
            why="a comprehension over a directory listing; the DataLoader with 4 workers is in train.py",
        ),
        Invalid(
            """
            import csv

            from torch.utils.data import DataLoader, Dataset


            def read_manifest(path):
                rows = []
                with open(path) as f:
                    for row in csv.DictReader(f):
                        rows.append((row["audio"], row["text"]))
                return rows


            class Speech(Dataset):
                def __init__(self, manifest):
                    self.rows = read_manifest(manifest)

                def __len__(self):
                    return len(self.rows)

                def __getitem__(self, i):
                    audio, text = self.rows[i]
                    return audio, text


            loader = DataLoader(Speech("train.csv"), batch_size=8, num_workers=6, pin_memory=True)
            """,
            line=16,
            why="a list built by a helper function of the file",
        ),
    ]
