"""MEM105 tf-data-cache-in-memory: ``Dataset.cache()`` with no file on a pipeline read from files.

``cache()`` without a filename keeps every element it has seen in host memory, for the life of
the dataset. On a pipeline over files (TFRecords, a TensorFlow Datasets split, images read from a
directory or from a list of paths) that is the whole data set, usually decoded and larger than on
disk: larq/zoo#258 saw about 150 GB of RAM for ImageNet. ``cache(filename)`` keeps the same
speed-up on disk.

Trigger: a ``.cache()`` call with no filename. Query: the flow's value of the receiver (or, for a
parameter, what callers pass) is a ``tf.data`` pipeline whose elements come from files, and it is
not bounded by ``.take(n)`` (``n`` at most ``max-cached-elements``), a literal list, a small
TensorFlow Datasets data set, or arrays already in memory. Report only: where a cache file may
live (and that it must be fresh) is the user's call.
"""

from __future__ import annotations

import ast

from memlint.analysis.syntax import ancestors
from memlint.analysis.values import DATASET, Value
from memlint.rule import Invalid, Option, Rule, Valid


class TfDataCacheInMemory(Rule):
    code = "MEM105"
    name = "tf-data-cache-in-memory"
    summary = "`tf.data` `.cache()` with no filename on a pipeline read from files (holds it all in RAM)"
    fix_availability = "none"
    # Off by default: on real code most in-memory caches hold small, known data sets on purpose
    # (precision 0.38 on the review corpus; rules/MEM105.md, "Known problems").
    default_enabled = False
    libraries = frozenset({"tensorflow", "keras", "tf_keras"})
    options = (
        Option(
            "max-cached-elements",
            int,
            10_000,
            "A pipeline bounded by `.take(n)` with n at most this is small enough to cache in memory.",
        ),
    )

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr != "cache" or not _in_memory(node):
            return
        if not self._whole_files(func.value) or self._opt_in(node):
            return
        self.report(
            node,
            "`cache()` with no filename keeps every element of this pipeline over files in host memory "
            "(the whole data set, decoded); pass a file, `cache(path)`, or cache only a `take(n)` part",
        )

    def _opt_in(self, call: ast.Call) -> bool:
        """Under ``if cache:`` (or ``ds.cache() if cache else ds``) where ``cache`` is a parameter that
        is off by default: the caller asks for the cache where it fits."""
        func = self.file.enclosing_function(call)
        if func is None:
            return False
        child: ast.AST = call
        for outer in ancestors(call):
            if outer is func:
                return False
            if isinstance(outer, (ast.If, ast.IfExp)) and child is not outer.test:
                names = {n.id for n in ast.walk(outer.test) if isinstance(n, ast.Name)}
                if any(_off_by_default(func, name) for name in names):
                    return True
            child = outer
        return False

    def _whole_files(self, receiver: ast.AST) -> bool:
        """Does the cached pipeline read a whole data set from files?"""
        values = [self.file.flow_of(receiver).value_of(receiver)]
        scope = self.file.enclosing_function(receiver)
        if isinstance(receiver, ast.Name) and not values[0].known and scope is not None:
            values = self.file.argument_values(scope, receiver.id)
        limit = self.settings.get("max-cached-elements") or 0
        return any(_reads_files(value, limit) for value in values)

    VALID = [
        Valid(
            """
            import tensorflow as tf

            def make(pattern, parse, use_fake_data):
                dataset = tf.data.Dataset.list_files(pattern).interleave(tf.data.TFRecordDataset)
                dataset = dataset.map(parse)
                if use_fake_data:
                    dataset = dataset.take(1).cache().repeat()
                return dataset
            """,
            why="fake-data mode caches one element and repeats it",
        ),
        Valid(
            """
            import tensorflow as tf

            def input_fn(files, parse, batch_size, benchmark):
                dataset = tf.data.TFRecordDataset(files).map(parse).batch(batch_size)
                if benchmark:
                    dataset = dataset.take(1).cache().repeat()
                return dataset.prefetch(tf.data.AUTOTUNE)
            """,
            why="benchmark mode caches a single batch",
        ),
        Valid(
            """
            import tensorflow as tf

            def make(pattern, parse, cache_dir):
                dataset = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).map(parse)
                return dataset.cache(cache_dir + "/train.cache").shuffle(1000).batch(64)
            """,
            why="cached to a file, not to memory",
        ),
        Valid(
            """
            import tensorflow as tf

            (x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
            train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).map(lambda x, y: (x / 255, y))
            train = train.cache().shuffle(60000).batch(128)
            """,
            why="slices of arrays already in memory: the cache holds what memory already holds",
        ),
        Valid(
            """
            import tensorflow as tf
            import tensorflow_datasets as tfds

            train = tfds.load("mnist", split="train", as_supervised=True)
            train = train.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).cache().shuffle(1000).batch(128)
            """,
            why="MNIST: a small data set, meant to be cached in memory",
        ),
        Valid(
            """
            import tensorflow as tf

            ds = tf.data.Dataset.from_tensor_slices([1.0, 2.0, 3.0, 4.0]).cache().repeat()
            """,
            why="a literal list",
        ),
        Valid(
            """
            import tensorflow as tf

            ds = tf.data.Dataset.range(100).map(lambda i: i * 2).cache()
            """,
            why="a hundred generated numbers",
        ),
        Valid(
            """
            import tensorflow as tf

            def preview(files, parse, n):
                return tf.data.TFRecordDataset(files).map(parse).take(n).cache()
            """,
            why="bounded by take(n): the caller chose how much to keep",
        ),
        Valid(
            """
            import tensorflow as tf

            def sample(files, parse):
                return tf.data.TFRecordDataset(files).map(parse).take(500).cache().repeat()
            """,
            why="500 elements, under max-cached-elements",
        ),
        Valid(
            """
            import tensorflow as tf

            def stream(gen):
                return tf.data.Dataset.from_generator(gen, output_signature=tf.TensorSpec((None,), tf.float32)).cache()
            """,
            why="a Python generator: its size is not known from here",
        ),
        Valid(
            """
            import tensorflow as tf
            from joblib import Memory

            memory = Memory("/tmp/joblib")
            features = memory.cache(extract_features)
            """,
            why="joblib's cache decorator, not a tf.data pipeline",
        ),
        Valid(
            """
            import glob

            import tensorflow as tf

            paths = tf.data.Dataset.from_tensor_slices(sorted(glob.glob("images/*.png"))).cache()
            images = paths.map(lambda p: tf.io.decode_png(tf.io.read_file(p)))
            """,
            why="only the file names are cached, before they are read",
        ),
        Valid(
            """
            import tensorflow as tf

            def make(files, parse, training_dataset_cache=False):
                dataset = tf.data.Dataset.list_files(files).interleave(tf.data.TFRecordDataset).map(parse)
                if training_dataset_cache:
                    dataset = dataset.cache()
                return dataset.batch(256)
            """,
            why="an opt-in cache, off by default: the caller turns it on where the data fits",
        ),
        Valid(
            """
            import pathlib

            import tensorflow as tf

            archive = tf.keras.utils.get_file("flower_photos.tgz", origin=URL, extract=True)
            data_dir = pathlib.Path(archive).with_suffix("")
            train_ds = tf.keras.utils.image_dataset_from_directory(data_dir, image_size=(180, 180))
            train_ds = train_ds.cache().shuffle(1000)
            """,
            why="a tutorial-sized archive downloaded by get_file",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import tensorflow as tf
            import tensorflow_datasets as tfds

            def make_train(preprocess, batch_size):
                train = tfds.load("imagenet2012", split="train")
                return (
                    train.cache()
                    .shuffle(10 * batch_size)
                    .repeat()
                    .map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
                    .batch(batch_size)
                )
            """,
            line=7,
            why="the ImageNet training split cached in memory (larq/zoo#258, about 150 GB)",
        ),
        Invalid(
            """
            import tensorflow as tf

            def get_loader(paths, parse, batch, cache_parsed=True):
                ds = tf.data.TFRecordDataset(paths, num_parallel_reads=tf.data.AUTOTUNE)
                ds = ds.shuffle(1000)
                ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
                ds = ds.cache() if cache_parsed else ds
                return ds.repeat().batch(batch, drop_remainder=True)
            """,
            line=7,
            why="parsed TFRecord episodes cached by default",
        ),
        Invalid(
            """
            import tensorflow as tf

            class SpeechDataset:
                def __init__(self, tfrecords, extract, cache=True):
                    self.tfrecords, self.extract, self.cache = tfrecords, extract, cache

                def create(self, batch_size):
                    dataset = tf.data.TFRecordDataset(self.tfrecords)
                    dataset = dataset.map(self.extract, num_parallel_calls=tf.data.AUTOTUNE)
                    if self.cache:
                        dataset = dataset.cache()
                    return dataset.padded_batch(batch_size)
            """,
            line=11,
            why="extracted speech features of every utterance, when the cache option is on",
        ),
        Invalid(
            """
            import tensorflow as tf

            def make_dataset(pattern, is_training, use_cache=True):
                files = tf.data.Dataset.list_files(pattern, shuffle=False)
                dataset = files.interleave(tf.data.TFRecordDataset, cycle_length=16)
                if is_training and use_cache:
                    dataset = dataset.cache().shuffle(1024 * 16).repeat()
                return dataset
            """,
            line=7,
            why="raw ImageNet records from TFRecord files kept in host memory",
        ),
        Invalid(
            """
            import tensorflow as tf
            import tensorflow_datasets as tfds

            def main(load_train, model):
                data, info = tfds.load("oxford_iiit_pet:3.*.*", with_info=True)
                train = data["train"].map(load_train, num_parallel_calls=tf.data.AUTOTUNE)
                train_ds = train.cache().shuffle(1000).batch(8).repeat()
                model.fit(train_ds, epochs=20)
            """,
            line=7,
            why="a TFDS split resized to large float images, cached before shuffling",
        ),
        Invalid(
            """
            import tensorflow as tf

            train_ds = tf.keras.utils.image_dataset_from_directory(data_dir, image_size=(512, 512), batch_size=32)
            train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=tf.data.AUTOTUNE)
            """,
            line=4,
            why="images decoded from a directory of unknown size",
        ),
        Invalid(
            """
            import tensorflow as tf

            def load_image(path, label):
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
                return tf.image.resize(image, (384, 384)) / 255.0, label

            def make(image_paths, labels):
                ds = tf.data.Dataset.from_tensor_slices((image_paths, labels))
                return ds.map(load_image).cache().shuffle(2048).batch(32)
            """,
            line=9,
            why="file paths read into decoded images, then cached in memory",
        ),
        Invalid(
            """
            import glob

            import tensorflow as tf

            files = glob.glob("/data/shards/*.tfrecord")
            ds = tf.data.Dataset.from_tensor_slices(files).interleave(tf.data.TFRecordDataset).cache()
            """,
            line=6,
            why="the records of every shard a glob finds",
        ),
        Invalid(
            """
            import tensorflow as tf

            def prepare(ds, batch_size):
                return ds.cache().shuffle(10_000).batch(batch_size)

            def main(files, parse):
                train = prepare(tf.data.TFRecordDataset(files).map(parse), 256)
            """,
            line=4,
            why="a helper caches whatever pipeline it gets; its caller hands it one over files",
        ),
        Invalid(
            """
            import tensorflow as tf

            raw = tf.data.TFRecordDataset(tf.io.gfile.glob("gs://bucket/train-*"))

            def training_pipeline(parse):
                return raw.map(parse).cache().repeat().batch(1024)
            """,
            line=6,
            why="a module-level pipeline over files, cached in a function",
        ),
        Invalid(
            """
            import tensorflow as tf

            def sample(files, parse):
                return tf.data.TFRecordDataset(files).map(parse).take(1_000_000).cache()
            """,
            line=4,
            why="take(1,000,000) is above max-cached-elements",
        ),
        Invalid(
            """
            import tensorflow as tf

            def sample(files, parse):
                return tf.data.TFRecordDataset(files).map(parse).take(500).cache("")
            """,
            line=4,
            options={"max-cached-elements": 100},
            why="an empty filename caches in memory too; 500 is above a configured bound of 100",
        ),
    ]


def _off_by_default(func: ast.AST, name: str) -> bool:
    """``name`` is a parameter of ``func`` whose default is ``False`` (or ``None``)."""
    args = func.args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    default = defaults.get(name)
    return isinstance(default, ast.Constant) and default.value in (False, None)


def _in_memory(call: ast.Call) -> bool:
    """``cache()`` / ``cache("")``: TensorFlow caches in memory when the filename is empty."""
    given = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "filename"), None)
    return given is None or (isinstance(given, ast.Constant) and given.value == "")


def _reads_files(value: Value, limit: int) -> bool:
    if value.kind != DATASET or value.framework != "tf.data":
        return False
    if value.origin.startswith("take:"):
        _, count, source = value.origin.split(":", 2)
        return source == "files" and count.isdigit() and int(count) > limit
    return value.origin == "files"

