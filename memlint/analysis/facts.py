"""What memlint knows about libraries, as data: torch's grad guards and tensor methods, Keras's
spellings, and the name evidence used when nothing better is known.

Names are evidence, never proof: the value analysis (``flow.py``) uses a binding it can see first,
and falls back to these patterns only for values it cannot trace (parameters, attributes).
"""

from __future__ import annotations

import re

# Top-level packages that memlint's rules care about (kept with the pre-filter, which a cached run
# loads without this module).
from memlint.prefilter import TRACKED_LIBRARIES  # noqa: F401 (re-exported)

# ---------------------------------------------------------------------------------- grad guards
GUARD_OFF = frozenset(
    {
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
        "torch.autograd.inference_mode",
    }
)
GUARD_SET = frozenset(
    {"torch.set_grad_enabled", "torch.autograd.set_grad_enabled", "torch.autograd.grad_mode.set_grad_enabled"}
)
GUARD_ON = frozenset({"torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"})
# A decorator or ``with`` whose name says it turns grad off (``smart_inference_mode`` imported from
# yolov5's utils, ``no_grad_if(...)``), when its definition cannot be seen.
GUARD_LIKE_NAME = re.compile(r"no_grad|inference_mode", re.IGNORECASE)

# ---------------------------------------------------------------------------------- autograd
BACKWARD_METHODS = frozenset({"backward", "manual_backward"})
AUTOGRAD_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward", "torch.autograd.functional.jacobian"})
# Calls that need autograd on: evaluation code that makes them is not under no_grad by mistake.
NEEDS_GRAD_METHODS = frozenset({"backward", "requires_grad_", "zero_grad", "retain_grad", "register_hook"})
NEEDS_GRAD_PREFIXES = ("torch.autograd.grad", "torch.autograd.functional", "torch.func.")
# ``accelerator.backward(loss)``, ``fabric.backward(loss)``: the tensor is the first argument.
BACKWARD_BACKENDS = frozenset(
    {"accelerator", "fabric", "engine", "trainer", "strategy", "autograd", "amp", "deepspeed", "self", "precision", "model"}
)

# ---------------------------------------------------------------------------------- tensor methods
# Reduce a tensor to a number or a tensor without history.
DETACHING_METHODS = frozenset({"item", "detach", "tolist", "numpy", "detach_", "size", "dim", "numel", "nelement"})
NO_GRAD_METHODS = frozenset(
    {
        "argmax", "argmin", "argsort", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf",
        "isfinite", "nonzero", "long", "int", "bool", "byte", "short", "char", "element_size",
        "data_ptr", "stride", "is_contiguous", "equal", "all", "any", "count_nonzero",
    }
)
# Keep a tensor's history (and its tensor-ness).
TENSOR_METHODS = frozenset(
    {
        "cpu", "cuda", "to", "float", "double", "half", "bfloat16", "mean", "sum", "view", "reshape",
        "squeeze", "unsqueeze", "clone", "contiguous", "abs", "pow", "sqrt", "exp", "log",
        "flatten", "permute", "transpose", "t", "softmax", "log_softmax", "sigmoid", "tanh", "relu",
        "norm", "prod", "std", "var", "expand", "expand_as", "repeat", "mul", "add", "sub", "div",
        "type_as", "view_as", "reshape_as", "masked_fill", "neg", "square", "clamp", "clip",
        "logsumexp", "cumsum", "type", "masked_fill_",
    }
)
NO_GRAD_ATTRIBUTES = frozenset(
    {"data", "shape", "grad", "device", "dtype", "requires_grad", "ndim", "is_cuda", "grad_fn", "is_leaf"}
)
CONTAINER_METHODS = frozenset({"values", "items", "get", "pop", "copy"})
NUMBER_BUILTINS = frozenset({"float", "int", "bool", "len", "str", "round", "repr", "format", "isinstance", "id", "hash"})
PROPAGATING_BUILTINS = frozenset({"sum", "reduce", "functools.reduce", "abs", "min", "max"})
# torch functions whose result never carries history.
TORCH_NO_GRAD_FUNCTIONS = frozenset(
    {
        "tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "linspace", "randn", "rand",
        "randint", "randperm", "argmax", "argmin", "argsort", "eq", "ne", "isnan", "isinf", "isfinite",
        "numel", "is_tensor", "from_numpy", "zeros_like", "ones_like", "empty_like", "full_like",
        "randn_like", "rand_like", "equal", "allclose", "count_nonzero", "bincount", "topk",
        "sort", "max", "min", "unique", "where", "nonzero", "load", "save", "manual_seed",
    }
)
CONCATENATE = frozenset({"torch.cat", "torch.stack", "torch.vstack", "torch.hstack", "torch.concat", "torch.concatenate"})
LOSS_FUNCTIONAL = re.compile(r"(loss|cross_entropy|kl_div|nll|binary_cross_entropy|mse|l1|hinge|margin)")

# Modules whose methods are not forward passes.
MODULE_NON_FORWARD_METHODS = frozenset(
    {
        "eval", "train", "to", "cuda", "cpu", "half", "float", "double", "bfloat16", "parameters",
        "named_parameters", "buffers", "named_buffers", "children", "named_children", "modules",
        "named_modules", "state_dict", "load_state_dict", "zero_grad", "requires_grad_", "apply",
        "register_buffer", "register_parameter", "register_forward_hook", "register_forward_pre_hook",
        "register_full_backward_hook", "add_module", "get_submodule", "share_memory", "type",
        "extra_repr", "save_pretrained", "push_to_hub", "compile", "fit", "summary", "save",
        "save_weights", "load_weights", "get_weights", "set_weights", "get_config", "count_params",
        "predict", "predict_on_batch", "evaluate", "test_on_batch", "train_on_batch",
    }
)

# Library calls that build a torch model.
TORCH_MODEL_FACTORIES = frozenset({"timm.create_model", "torch.hub.load", "open_clip.create_model"})
TORCH_MODEL_MODULE_PREFIXES = ("torchvision.models.", "segmentation_models_pytorch.", "torchaudio.models.")


def library_model(qualified: str) -> str | None:
    """The framework of the model a library call builds ("torch", "keras"), or None."""
    if qualified in TORCH_MODEL_FACTORIES:
        return "torch"
    if qualified.startswith(TORCH_MODEL_MODULE_PREFIXES):
        last = qualified.rsplit(".", 1)[-1]
        return "torch" if not last.startswith("_") and last not in ("get_weight", "list_models", "get_model_weights") else None
    if qualified.startswith("transformers.") and qualified.endswith(".from_pretrained"):
        owner = qualified.rsplit(".", 2)[-2]
        if owner.startswith("TF") or owner.startswith("Flax"):
            return None
        return "torch" if ("Model" in owner or "For" in owner) else None
    keras = keras_name(qualified)
    if is_keras_model_factory(keras) or keras in KERAS_SKLEARN_WRAPPERS:
        return "keras"
    return None


# ---------------------------------------------------------------------------------- name evidence
MODEL_NAME = re.compile(
    r"^(model|net|network|module|encoder|decoder|generator|discriminator|critic|actor|policy|"
    r"backbone|classifier|unet|vae|autoencoder|g|d|netg|netd|gen|disc|student|transformer|"
    r"model_engine|ddp_model|raw_model|wrapped_model)$"
    r"|_(model|net|network|encoder|decoder|generator|discriminator|classifier)$|^(model|net)_"
)
# Models that are not being trained (their outputs carry no history worth reporting).
NOT_TRAINED_NAME = re.compile(r"(ema|teacher|target|frozen|ref|reward|old)")
LOSS_NAME = re.compile(
    r"^(criterion|crit|loss|loss_?fn|loss_?func|loss_?function|lossfunc|compute_?loss(es)?|"
    r"calc_?loss|calculate_?loss|get_?loss(es)?)$|_loss(_fn|_func)?$|_criterion$|^criterion_|^loss_fn_"
)
# Parts of a tuple a loss function hands back (``loss, mse, ce = loss_fn(...)``).
LOSS_PART_NAME = re.compile(r"^(loss|mse|ce|bce|nll|kl|kld|l1|l2|cross_entropy|crossentropy)$|.+_loss$")
# Callees of a model in evaluation code (MEM001's "evaluation by name").
MODEL_LIKE_CALLEE = re.compile(r"model|net|encoder|decoder|generator|backbone|classifier", re.IGNORECASE)
NOT_MODEL_CALLEE = re.compile(r"loss|crit|metric|optim|sched|writer|logger|scaler|augment|transform(?!er)", re.IGNORECASE)
# A function named for what it does to a model (``accelerator.unwrap_model(unet)``,
# ``pipe.enable_model_cpu_offload()``, ``get_peft_model_state_dict(m)``) is no forward pass of it.
MODEL_VERB_CALLEE = re.compile(
    r"^_*(unwrap|wrap|enable|disable|get|set|save|load|build|create|make|prepare|init|freeze|unfreeze|print|count"
    r"|export|push|copy|compile|register|summari[sz]e|log|plot|show|draw|visuali[sz]e|update|apply|convert|cast"
    r"|replace|patch|add|remove|move|offload|sync|broadcast|clip|zero|reset|check|is|has)_",
    re.IGNORECASE,
)
OPTIMIZER_NAME = re.compile(r"optim|^opt$|^opt_|_opt$|^scaler$")

# ---------------------------------------------------------------------------------- loggers
# A function or method named like a logging call (``log``, ``write_log``, ``log_metrics``,
# ``record``, ``report``, ``add_scalar``, ``summary``): handing it a tensor is MEM010's question
# (does the logger keep it?); meters and trackers (``update``, ``add``, ``append``) are MEM002's.
LOGGING_CALLEE = re.compile(
    r"^(?!_*log_?(?:softmax|sigmoid|probs?|sumexp|1p|2|10|det|its?|space|likelihood|_?pdf)$).*"
    r"(?:log|record|report|summar|scalar|histor|track|write)",
    re.IGNORECASE,
)
# Library loggers that turn a tensor into a number (or detach it) when called, so they keep no
# graph: ``SummaryWriter.add_scalar`` (torch.utils.tensorboard's ``make_np`` detaches), wandb since
# 0.8.2 (wandb/wandb#354), Lightning's ``self.log`` (detaches), mlflow (``float(value)``).
# MEM010 looks only into project code; these are listed for its document and tests.
CONVERTING_LOGGERS = (
    "torch.utils.tensorboard.SummaryWriter.add_scalar",
    "tensorboardX.SummaryWriter.add_scalar",
    "wandb.log",
    "lightning.pytorch.LightningModule.log",
    "mlflow.log_metric",
)

# ---------------------------------------------------------------------------------- keras
KERAS_LIBRARIES = frozenset({"keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv"})
# Spellings of the Keras namespace; ``tensorflow.keras.X`` and ``tf_keras.X`` mean ``keras.X``.
KERAS_ROOTS = (
    "tensorflow.python.keras",
    "tensorflow.compat.v1.keras",
    "tensorflow.compat.v2.keras",
    "tensorflow.keras",
    "tf_keras",
    "keras.src",
    "keras.api._v2.keras",
    "keras.api.keras",
)
KERAS_MODEL_FACTORIES = frozenset(
    {
        "keras.Sequential",
        "keras.Model",
        "keras.models.Sequential",
        "keras.models.Model",
        "keras.models.load_model",
        "keras.models.clone_model",
        "keras.models.model_from_json",
        "keras.models.model_from_yaml",
        "keras.models.model_from_config",
        "keras.saving.load_model",
        "mlflow.keras.load_model",
        "keras.engine.training.Model",
        "keras.engine.sequential.Sequential",
        "keras.engine.functional.Functional",
        "keras.engine.Model",
    }
)
KERAS_MODEL_BASES = frozenset(
    {"keras.Model", "keras.models.Model", "keras.Sequential", "keras.models.Sequential", "keras.engine.training.Model"}
)
KERAS_CALLBACK_BASES = frozenset({"keras.callbacks.Callback"})
# Libraries whose objects also have ``.predict`` / ``.fit``: with one of these imported, a receiver
# that is merely named ``model`` may not be a Keras model.
FOREIGN_PREDICTORS = frozenset(
    {
        "sklearn", "xgboost", "lightgbm", "catboost", "statsmodels", "joblib", "pickle", "dill",
        "cloudpickle", "skorch", "sktime", "prophet", "fbprophet", "pmdarima", "hmmlearn", "surprise",
        "pycaret", "autosklearn", "tpot", "imblearn", "ultralytics", "transformers", "onnxruntime",
        "mlflow", "gluonts", "darts", "neuralprophet", "pytorch_tabnet", "flair", "spacy", "deepchem",
    }
)
KERAS_MODEL_WORDS = frozenset(
    {
        "model", "models", "net", "network", "generator", "discriminator", "encoder", "decoder",
        "autoencoder", "critic", "actor", "cnn", "rnn", "lstm", "gru", "gan", "vae", "unet", "mlp",
        "convnet", "resnet", "keras", "policy", "qnet", "dqn",
    }
)
_WORD_SPLIT = re.compile(r"[_\d]+|(?<=[a-z])(?=[A-Z])")


def keras_name(qualified: str | None) -> str | None:
    """``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``; other names unchanged."""
    if qualified is None:
        return None
    for root in KERAS_ROOTS:
        if qualified == root:
            return "keras"
        if qualified.startswith(root + "."):
            return "keras." + qualified[len(root) + 1 :]
    return qualified


def is_keras_model_factory(name: str | None) -> bool:
    if name is None:
        return False
    if name in KERAS_MODEL_FACTORIES:
        return True
    owner, _, method = name.rpartition(".")
    if method == "from_config" and owner in KERAS_MODEL_FACTORIES:
        return True  # Model.from_config(json.load(f))
    if method == "from_preset" and owner.startswith(KERAS_HUB_MODELS):
        # keras_hub.models.Backbone.from_preset(...); tokenizers and preprocessors are not models
        return not any(word in owner.rsplit(".", 1)[-1] for word in KERAS_HUB_NOT_MODELS)
    # keras.applications.ResNet50(...), keras.applications.resnet50.ResNet50(...)
    return name.startswith("keras.applications.") and name.rsplit(".", 1)[1][:1].isupper()


# Model hubs whose ``from_preset`` builds a Keras model.
KERAS_HUB_MODELS = ("keras_hub.models.", "keras_nlp.models.", "keras_cv.models.")
KERAS_HUB_NOT_MODELS = ("Tokenizer", "Preprocessor", "Converter", "Packer", "Sampler")


def looks_like_keras_model_name(name: str) -> bool:
    """``model``, ``self.generator``, ``base_model``, ``myModel``, ``net2`` ..."""
    name = name.rsplit(".", 1)[-1]
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    return bool(words) and any(w in KERAS_MODEL_WORDS or w.endswith("model") for w in words)


# What ends a Keras session's global state (graph, layer-name counters, backend tracking).
KERAS_CLEAR_SESSION = frozenset(
    {
        "keras.backend.clear_session",
        "keras.utils.clear_session",
        "tensorflow.compat.v1.reset_default_graph",
        "tensorflow.reset_default_graph",
    }
)
# Keyword arguments only Keras's ``compile`` / ``fit`` take: a receiver called with them is a Keras model.
KERAS_COMPILE_KEYWORDS = frozenset({"optimizer", "loss", "metrics", "loss_weights", "run_eagerly", "jit_compile"})
KERAS_FIT_KEYWORDS = frozenset(
    {
        "epochs", "batch_size", "validation_data", "validation_split", "callbacks", "steps_per_epoch",
        "initial_epoch", "validation_steps", "validation_freq",
    }
)
KERAS_TRAINING_METHODS = frozenset({"fit_generator", "train_on_batch", "predict_on_batch", "predict_generator"})
# scikit-learn wrappers that build a new Keras model (calling ``build_fn`` / ``model``) on every ``fit``.
KERAS_SKLEARN_WRAPPERS = frozenset(
    {
        "keras.wrappers.scikit_learn.KerasClassifier",
        "keras.wrappers.scikit_learn.KerasRegressor",
        "scikeras.wrappers.KerasClassifier",
        "scikeras.wrappers.KerasRegressor",
    }
)
# scikit-learn functions and searches that fit an estimator once per fold or candidate.
SKLEARN_REPEATED_FITS = frozenset(
    {
        "sklearn.model_selection.GridSearchCV",
        "sklearn.model_selection.RandomizedSearchCV",
        "sklearn.model_selection.HalvingGridSearchCV",
        "sklearn.model_selection.HalvingRandomSearchCV",
        "sklearn.model_selection.cross_val_score",
        "sklearn.model_selection.cross_validate",
        "sklearn.model_selection.cross_val_predict",
        "sklearn.model_selection.learning_curve",
        "sklearn.model_selection.validation_curve",
        "sklearn.model_selection.permutation_test_score",
        "sklearn.feature_selection.RFECV",
        "sklearn.ensemble.BaggingClassifier",
        "sklearn.ensemble.BaggingRegressor",
    }
)
# Libraries that call a user's objective once per trial: (qualified callable or ``*.method`` on an
# object of that library, index of the objective among positional arguments, its keyword).
# KerasTuner is not here: it calls ``keras.backend.clear_session()`` itself before building each
# trial's model (keras_tuner/engine/tuner.py, ``Tuner._try_build``).
REPEATED_OBJECTIVE_CALLS = (
    ("optuna.*.optimize", 0, "func"),
    ("hyperopt.fmin", 0, "fn"),
    ("hyperas.optim.minimize", 0, "model"),
    ("skopt.gp_minimize", 0, "func"),
    ("skopt.forest_minimize", 0, "func"),
    ("skopt.gbrt_minimize", 0, "func"),
    ("skopt.dummy_minimize", 0, "func"),
    ("bayes_opt.BayesianOptimization", 0, "f"),
    ("GPyOpt.methods.BayesianOptimization", 0, "f"),
    ("ray.tune.run", 0, "run_or_experiment"),
    ("ray.tune.Tuner", 0, "trainable"),
    ("scipy.optimize.minimize", 0, "fun"),
)
# Libraries whose calls make predictors (``.predict``) that are not Keras models.
FOREIGN_PREDICTOR_CALLS = re.compile(
    r"^(sklearn\.(?!model_selection|metrics|preprocessing|pipeline|utils|datasets|feature_extraction|"
    r"decomposition|compose|impute)|xgboost\.|lightgbm\.|catboost\.|statsmodels\.|joblib\.load$|"
    r"pickle\.loads?$|dill\.loads?$|cloudpickle\.loads?$|prophet\.|fbprophet\.|pmdarima\.|"
    r"ultralytics\.|transformers\.|onnxruntime\.|mlflow\.(?!keras\.).*load_model$|darts\.|pytorch_tabnet\.)"
)

# ---------------------------------------------------------------------------------- tensorflow
TF_FUNCTION = frozenset({"tensorflow.function", "tensorflow.compat.v2.function", "tensorflow.compat.v1.function"})
# tf.data pipelines: where the elements come from decides how large a cache of them can be.
# "files": read from disk (TFRecords, images, TFDS splits): as large as the data set on disk,
# usually larger once decoded. "memory": slices of arrays already in memory ("paths" when the
# slices are file names; mapped through a reader they become "files"). "generated": a Python
# generator or ``range``. "small": literal data, small TFDS data sets. "take:N": bounded by ``take``.
TF_DATA_SOURCES = {
    "tensorflow.data.TFRecordDataset": "files",
    "tensorflow.data.TextLineDataset": "files",
    "tensorflow.data.FixedLengthRecordDataset": "files",
    "tensorflow.data.Dataset.list_files": "files",
    "tensorflow.data.Dataset.load": "files",
    "tensorflow.data.experimental.make_csv_dataset": "files",
    "tensorflow.data.experimental.CsvDataset": "files",
    "tensorflow.data.experimental.load": "files",
    "tensorflow_datasets.load": "files",
    "tensorflow_datasets.builder": "files",
    "keras.utils.image_dataset_from_directory": "files",
    "keras.utils.text_dataset_from_directory": "files",
    "keras.utils.audio_dataset_from_directory": "files",
    "keras.preprocessing.image_dataset_from_directory": "files",
    "keras.preprocessing.text_dataset_from_directory": "files",
    "tensorflow.data.Dataset.from_tensor_slices": "memory",
    "tensorflow.data.Dataset.from_tensors": "memory",
    "keras.utils.timeseries_dataset_from_array": "memory",
    "keras.preprocessing.timeseries_dataset_from_array": "memory",
    "tensorflow.data.Dataset.from_generator": "generated",
    "tensorflow.data.Dataset.range": "generated",
    "tensorflow.data.Dataset.random": "generated",
}
# Dataset methods that hand back a dataset over the same elements (or elements made from them).
TF_DATA_METHODS = frozenset(
    {
        "map", "batch", "padded_batch", "unbatch", "shuffle", "repeat", "prefetch", "filter", "interleave",
        "flat_map", "parallel_interleave", "apply", "with_options", "cache", "skip", "concatenate",
        "zip", "ragged_batch", "rebatch", "map_with_legacy_function", "enumerate", "window",
        "bucket_by_sequence_length", "group_by_window", "shard", "prefetch_to_device", "ignore_errors",
        "snapshot", "rejection_resample", "unique", "sample_from_datasets", "choose_from_datasets",
        "as_dataset",
    }
)
# Names and calls that hold file names (slices of them, mapped through a reader, are files).
PATHS_NAME = re.compile(
    r"(?:^|_)(?:paths?|files?|filenames?|fnames?|filepaths?|urls?|uris?)$|[a-z](?:Paths?|Files?|Filenames?|Urls?)$"
    r"|^(?:paths?|files?|filenames?)_"
)
FILE_LISTING_CALLS = frozenset(
    {"glob.glob", "glob.iglob", "os.listdir", "tensorflow.io.gfile.glob", "tensorflow.io.gfile.listdir", "tensorflow.io.matching_files"}
)
# Datasets of TensorFlow Datasets that fit in a few GB of RAM once decoded (tutorial sizes).
TFDS_SMALL_DATASETS = frozenset(
    {
        "mnist", "fashion_mnist", "kmnist", "emnist", "cifar10", "cifar100", "svhn_cropped", "iris",
        "titanic", "wine_quality", "boston_housing", "imdb_reviews", "ag_news_subset", "tf_flowers",
        "horses_or_humans", "rock_paper_scissors", "beans", "cmaterdb", "binarized_mnist", "mnist_corrupted",
        "glue", "squad", "yelp_polarity_reviews", "rotten_tomatoes", "ted_hrlr_translate", "cassava",
        "citrus_leaves", "deep_weeds", "stl10", "oxford_flowers102", "omniglot", "malaria", "cycle_gan",
        "penguins",
    }
)
# Dataset classes named for a small benchmark (torchvision's own copies load their processed
# tensors whole): MNIST's training set is 60,000 x 28 x 28 uint8 (47 MB), CIFAR-10's 50,000 x
# 32 x 32 x 3 (153 MB); loading them whole is the reference implementation.
SMALL_BENCHMARK_CLASSES = frozenset({"mnist", "fashionmnist", "kmnist", "qmnist", "emnist", "cifar10", "cifar100", "svhn"})
# tensorflow_datasets.load(..., split=...) slices such as "train[:10%]" keep the split small
# only when the data set itself is; the rule does not guess from them.

# ---------------------------------------------------------------------------------- numpy arrays
# Libraries whose calls make arrays or tf.data pipelines (checked before anything else is asked).
DATA_LIBRARIES = frozenset({"numpy", "keras", "tensorflow", "tf_keras", "tensorflow_datasets"})
# NumPy / Keras calls and what their result is: "load" reads a file whole (unless memory-mapped),
# "shape" allocates the shape its arguments spell, "keep" holds (a copy of) its first argument's data.
ARRAY_CALLS = {
    "numpy.load": "load",
    "numpy.zeros": "shape",
    "numpy.ones": "shape",
    "numpy.empty": "shape",
    "numpy.full": "shape",
    "numpy.random.rand": "shape",
    "numpy.random.randn": "shape",
    "numpy.random.random": "shape",
    "numpy.random.uniform": "shape",
    "numpy.random.normal": "shape",
    "numpy.random.randint": "shape",
}
ARRAY_KEEPING_FUNCTIONS = frozenset(
    {
        "numpy.array", "numpy.asarray", "numpy.stack", "numpy.vstack", "numpy.hstack", "numpy.dstack",
        "numpy.concatenate", "numpy.expand_dims", "numpy.squeeze", "numpy.ascontiguousarray",
        "numpy.reshape", "numpy.float32", "numpy.float64", "numpy.asfarray", "numpy.copy",
        "keras.preprocessing.sequence.pad_sequences", "keras.utils.pad_sequences", "keras.utils.to_categorical",
        "keras.utils.np_utils.to_categorical",
    }
)
# Calls that read one file (or one stored item): a list appended per call holds a data set.
FILE_READ_NAMES = frozenset(
    {
        "imread", "load_img", "read_file", "open", "load", "loadtxt", "genfromtxt", "read_csv", "read_image",
        "decode_image", "wavread", "read", "imread_collection", "fromfile",
    }
)
# Array methods whose result still holds the whole array (or a copy of it).
ARRAY_KEEPING_METHODS = frozenset(
    {"astype", "reshape", "copy", "squeeze", "transpose", "swapaxes", "clip", "flatten", "ravel", "view"}
)
DTYPE_BYTES = {
    "float64": 8, "float32": 4, "float16": 2, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1,
    "bool": 1, "bool_": 1, "float": 8, "int": 8, "complex64": 8, "complex128": 16,
}


def array_call(name: str) -> str | None:
    """What a NumPy / Keras call makes of its data ("load", "shape", "keep"), or None."""
    if name in ARRAY_CALLS:
        return ARRAY_CALLS[name]
    if name in ARRAY_KEEPING_FUNCTIONS:
        return "keep"
    return None


# ---------------------------------------------------------------------------------- library hooks
# Methods that a library calls itself, under its own grad guard. A method overriding one of these
# in a subclass of the named base is guarded even when no caller in the project is.
# (base class prefix, method-name pattern, source)
GUARDED_LIBRARY_HOOKS = (
    (
        ("lightning", "pytorch_lightning"),
        re.compile(r"^(?:on_)?(?:validation|val|test|predict)_(?:step|step_end|epoch_start|epoch_end|batch_start|batch_end|start|end)$"),
        "Lightning runs validation/test/predict hooks under torch.inference_mode "
        "(lightning/pytorch/loops/evaluation_loop.py, `_evaluation_context`)",
    ),
    (
        ("torch_geometric.contrib.nn.models.rbcd_attack", "torch_geometric.contrib.nn"),
        re.compile(r"^_forward$"),
        "PyG's PRBCDAttack calls `_forward` from methods decorated with @torch.no_grad() "
        "(torch_geometric/contrib/nn/models/rbcd_attack.py)",
    ),
)


# ---------------------------------------------------------------------------------- data loading
# torch's DataLoader, and the positions of its arguments (torch/utils/data/dataloader.py; 2.x
# makes ``prefetch_factor`` and ``persistent_workers`` keyword-only).
DATA_LOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
DATA_LOADER_POSITIONS = {"dataset": 0, "batch_size": 1, "num_workers": 5, "pin_memory": 7}
DATASET_ROOTS = ("torch.utils.data",)
# Where a function handed to a data pipeline runs on one element or one batch at a time:
# ``ds.map(f)`` (tf.data, Hugging Face datasets, pandas, a pool), ``ds.filter(f)``,
# ``ds.with_transform(f)`` / ``ds.set_transform(f)`` (Hugging Face datasets, applied per batch on
# access), the builtins ``map(f, xs)`` / ``filter(f, xs)``, and the per-item / per-batch keywords of
# torch and torchvision (``DataLoader(collate_fn=f)``, ``ImageFolder(transform=f)``).
PER_ITEM_METHODS = frozenset({"map", "filter", "with_transform", "set_transform", "map_batches"})
PER_ITEM_BUILTINS = frozenset({"map", "filter"})
PER_ITEM_KEYWORDS = frozenset({"collate_fn", "transform", "target_transform", "transforms"})
# PyTorch's own prefetch_factor when workers are used.
DEFAULT_PREFETCH_FACTOR = 2
# Names of objects that hold a run's configuration (``args.num_workers``, ``self.cfg.workers``):
# a setting read from one is "configured", not a literal and not a caller's argument.
CONFIG_NAME = re.compile(
    r"^_*(args?|opts?|options?|cfg|cfgs|conf|config|configs|settings?|hparams?|hp|hps|params|flags|"
    r"parsed_args|training_args|train_args|data_args|model_args|loader_args|dataloader_args)$"
    r"|_(args|cfg|config|conf|settings|params|opts|options|hparams)$",
    re.IGNORECASE,
)
# Configuration fields that the loader rules read from dataclasses, argparse and class attributes.
LOADER_SETTING_NAME = re.compile(r"prefetch|worker|pin_memory|batch_size", re.IGNORECASE)
PIN_MEMORY_NAME = re.compile(r"pin_memory|pin_mem$", re.IGNORECASE)
PREFETCH_FACTOR_NAME = re.compile(r"prefetch_factor$", re.IGNORECASE)
# Calls whose result is made of Python objects, one or more per item (file listings, parsed
# annotation files, pickles): kept in a Dataset they are copied into each worker as it reads them.
PYTHON_OBJECT_SOURCES = frozenset(
    {
        "glob.glob", "glob.iglob", "os.listdir", "os.scandir", "json.load", "json.loads", "pickle.load",
        "pickle.loads", "yaml.load", "yaml.safe_load", "yaml.full_load", "yaml.unsafe_load", "mmcv.load",
        "mmengine.load", "mmengine.fileio.load", "ujson.load", "orjson.loads", "csv.reader", "csv.DictReader",
        "joblib.load", "dill.load", "ast.literal_eval", "natsort.natsorted",
    }
)
FILE_LISTINGS = frozenset({"glob.glob", "glob.iglob", "os.listdir", "os.scandir", "natsort.natsorted"})
PYTHON_OBJECT_METHODS = frozenset({"readlines", "splitlines", "tolist", "to_dict", "to_list", "glob", "rglob", "iterdir"})
PYTHON_CONTAINER_BUILTINS = frozenset({"list", "sorted", "dict", "tuple", "set", "reversed", "zip", "enumerate", "filter", "map"})
# Calls whose result keeps no per-item Python objects (one buffer: arrays, tensors, frames of
# numbers, memory maps, databases, shared proxies).
FLAT_DATA_PREFIXES = (
    "numpy.", "torch.", "pandas.read_parquet", "pyarrow.", "h5py.", "lmdb.", "zarr.", "datasets.",
    "multiprocessing.Manager", "scipy.sparse.",
)
# ``df[col].apply(f)`` with one of these makes an object column (a Python object per row).
OBJECT_COLUMN_FUNCTIONS = frozenset(
    {"json.loads", "numpy.array", "numpy.asarray", "list", "tuple", "dict", "eval", "ast.literal_eval", "literal_eval"}
)
# ---------------------------------------------------------------------------------- data sets
# A data set's name: a split word with a data word (``x_test``, ``test_images``, ``val_x``,
# ``X_valid``, ``x_all``). Names are evidence: a whole evaluation split passed to one forward call.
_SPLIT_WORD = r"(?:test|val|valid|validation|eval|dev|holdout|all|full|whole)"
_DATA_WORD = r"(?:x|inputs?|features?|feats|data|images?|imgs|samples|seqs?|sequences|tokens|windows)"
WHOLE_SET_NAME = re.compile(rf"(?i)^(?:{_DATA_WORD}_?{_SPLIT_WORD}|{_SPLIT_WORD}_?{_DATA_WORD})$")
# Names that hold data (a loaded array, a data set's tensors), as against weights or metadata.
DATA_NAME = re.compile(
    r"(?i)(^|_)(x|data|dataset|train|training|val|valid|validation|test|corpus|tokens|inputs|features|feats"
    r"|images|imgs|samples|examples|frames|records|labels)(_|$)"
)
# Paths and names of checkpoints and weights: loading those whole is what they are for.
CHECKPOINT_HINT = re.compile(r"(?i)ckpt|checkpoint|state_dict|weights?|model|params|\.pth\b|\.bin\b|\.safetensors\b")
# Names of data loaders (iterating one yields batches).
LOADER_NAME = re.compile(r"(?i)(^|_)(loader|dataloader)$")
# Calls that read one sample (an image, a video, a frame) from a file into memory.
SAMPLE_READERS = frozenset(
    {
        "PIL.Image.open", "cv2.imread", "cv2.imdecode", "imageio.imread", "imageio.v2.imread", "imageio.v3.imread",
        "imageio.mimread", "skimage.io.imread", "matplotlib.pyplot.imread", "matplotlib.image.imread",
        "torchvision.io.read_image", "torchvision.io.decode_image", "torchvision.io.read_video", "scipy.misc.imread",
        "tifffile.imread", "nibabel.load", "SimpleITK.ReadImage", "librosa.load", "soundfile.read",
        "torchaudio.load", "keras.preprocessing.image.load_img", "keras.utils.load_img",
    }
)
# Objects iterated frame by frame (each iteration decodes one frame into memory).
FRAME_SOURCES = frozenset({"decord.VideoReader", "cv2.VideoCapture", "imageio.get_reader", "av.open", "torchvision.io.VideoReader"})

# ---------------------------------------------------------------------------------- device memory
# Calls that hand cached, unused device blocks back to the driver.
EMPTY_CACHE = frozenset(
    {
        "torch.cuda.empty_cache", "torch.cuda.memory.empty_cache", "torch.xpu.empty_cache", "torch.mps.empty_cache",
        "torch.npu.empty_cache", "torch.accelerator.empty_cache", "torch.musa.empty_cache",
    }
)
# Library helpers that run gc.collect() and empty_cache() (a cleanup between phases).
CLEANUP_HELPERS = frozenset(
    {
        "diffusers.training_utils.free_memory",
        "accelerate.utils.release_memory",
        "accelerate.utils.memory.release_memory",
        "accelerate.utils.clear_device_cache",
        "accelerate.utils.memory.clear_device_cache",
    }
)
# Functions whose result is the value they were given, with its memory: a name passed to one of
# these is still referenced through the result.
KEEPS_ARGUMENTS = frozenset({"list", "tuple", "dict", "zip", "enumerate", "sorted", "reversed"})
