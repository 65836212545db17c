"""What memlint knows about libraries, as data: torch's grad guards and tensor methods, Keras's
spellings, and the name evidence used when nothing better is known.

Names are evidence, never proof: the value analysis (``flow.py``) uses a binding it can see first,
and falls back to these patterns only for values it cannot trace (parameters, attributes).
"""

from __future__ import annotations

import re

# Top-level packages that memlint's rules care about; a file importing none of them is skipped.
TRACKED_LIBRARIES = frozenset(
    {"torch", "numpy", "keras", "tensorflow", "lightning", "pytorch_lightning", "tf_keras"}
)

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
        "logsumexp", "cumsum", "type",
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
    if is_keras_model_factory(keras):
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
NOT_MODEL_CALLEE = re.compile(r"loss|crit|metric|optim|sched|writer|logger|scaler", re.IGNORECASE)
OPTIMIZER_NAME = re.compile(r"optim|^opt$|^opt_|_opt$|^scaler$")

# ---------------------------------------------------------------------------------- keras
KERAS_LIBRARIES = frozenset({"keras", "tensorflow", "tf_keras"})
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
    # keras.applications.ResNet50(...), keras.applications.resnet50.ResNet50(...)
    return name.startswith("keras.applications.") and name.rsplit(".", 1)[1][:1].isupper()


def looks_like_keras_model_name(name: str) -> bool:
    """``model``, ``self.generator``, ``base_model``, ``myModel``, ``net2`` ..."""
    name = name.rsplit(".", 1)[-1]
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    return bool(words) and any(w in KERAS_MODEL_WORDS or w.endswith("model") for w in words)


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
