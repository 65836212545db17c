"""MEM004 tensor-kept-alive: ``empty_cache()`` every step, or while what it should free is still bound.

``torch.cuda.empty_cache()`` only hands back cached blocks that no tensor uses. Called every
training step it frees nothing that is referenced and slows each step (huggingface/transformers
#31372, fixed in PR #31530 by making it periodic and opt-in; huggingface/peft's MetaMathQA runner).
Called at a phase boundary while a large intermediate is still bound to a name, it cannot free that
tensor either: the name keeps it alive into the next phase (PyTorch FAQ, "Don't hold onto
tensors"); ``del`` it first. The same holds for a project's cleanup helper (``free_memory()``) and
for objects that still hold what was just deleted (a pipeline built from deleted text encoders,
huggingface/diffusers' DreamBooth Flux script). Lightning's ``trainer.predict`` keeps every batch's
prediction to return them, even when the caller drops the result (kaiko-ai/eva).

Trigger: an ``empty_cache()`` call (any torch device module, or one reached by ``getattr``), a
cleanup helper (a library's, or a function of the project whose body empties the cache),
``trainer.predict(...)`` used as a statement, a loop that trains and then evaluates (a whole
pass's device outputs kept into the next iteration's training: ``lifetimes.pass_outputs_kept``),
and, for TensorFlow, Keras' ``clear_session()`` in a loop of trials while the trial's model (and the
``History`` that keeps it) is still bound.

Query: in a loop that runs training or evaluation steps, unconditionally, with no frozen pass to
separate from the trainable one; or at a phase boundary, names bound before it and never used
again (``memlint/analysis/lifetimes.py``) that hold a tensor the source does not show to be small
(``memlint/analysis/sizes.py``: literal shapes, copies of a schedule or of statistics, inputs
converted from NumPy), an object
built from deleted names (a constructor, factory, ``partial`` or list over them, or over such an
object), or the helper's own arguments. The message names every live holder, including the items of
a deleted list still bound by name (``lifetimes.holders``, ``lifetimes.still_bound_contents``), and
stays silent when the next phase uses them all. Silent after an offload to the CPU (``unet.to("cpu")``: the call frees those
weights; a name moved to the CPU earlier), between a frozen pass and the trainable step, in
``except`` handlers, in memory reporting code.

Fix: ``return_predictions=False`` for a discarded ``trainer.predict`` (safe: nothing reads the
result). The rest is report only: removing a call or inserting ``del`` is left to the user.
"""

from __future__ import annotations

import ast
import re

from memlint.analysis import facts, keras, lifetimes
from memlint.analysis.sizes import binding_before, expression_elements, from_host_data, from_stored_state
from memlint.analysis.syntax import (
    FunctionNode,
    LoopNode,
    ScopeNode,
    ancestors,
    dotted,
    iter_scope,
    last_name,
    parent,
    target_names,
)
from memlint.analysis.values import MODEL
from memlint.fixes import add_keyword
from memlint.rule import Fix, Invalid, Rule, Valid

# Framework hooks that run once per batch.
_STEP_HOOKS = frozenset(
    {
        "training_step", "train_step", "validation_step", "val_step", "eval_step", "evaluation_step", "test_step",
        "predict_step", "prediction_step",
    }
)
_LOADER_ITER = re.compile(r"(?i)(loader|data)_?iter(ator)?$")
_OPTIMIZER = re.compile(r"(?i)(optim|optimizer|opt)$")
_REPORTING_FUNCTION = re.compile(r"(?i)mem|profil|bench|report|measure|track")
_REPORTING_CALLS = frozenset(
    {
        "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved", "memory_summary",
        "memory_stats", "reset_peak_memory_stats", "mem_get_info",
    }
)
_MODEL_CALLEE = re.compile(r"(?i)(model|net|encoder|decoder|backbone)$")
_TENSOR_METHODS = frozenset(
    {"to", "cuda", "clone", "detach", "matmul", "mm", "bmm", "float", "half", "contiguous", "expand", "repeat"}
)
_NOT_TENSOR_MODULES = (
    "torch.cuda", "torch.backends", "torch.utils", "torch.optim", "torch.nn", "torch.distributed", "torch.device",
    "torch.manual_seed", "torch.compile", "torch.jit", "torch.set_", "torch.get_", "torch.is_", "torch.no_grad",
    "torch.inference_mode", "torch.autocast", "torch.amp", "torch.profiler", "torch.Generator",
)
_LIGHTNING_TRAINERS = frozenset({"lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer"})
# A tensor this small (elements, as the source spells them: a noise schedule, time ids) is not
# worth a `del`.
SMALL_ELEMENTS = 1_000_000
# A cleanup helper is short: its body is the cleanup (gc.collect, empty_cache, a loop of del).
_CLEANUP_HELPER_STATEMENTS = 8
RETURN_PREDICTIONS = "Pass `return_predictions=False` (the result is not used)"


class TensorKeptAlive(Rule):
    code = "MEM004"
    name = "tensor-kept-alive"
    summary = "`empty_cache()` every step, or while the tensor it should free is still referenced"
    fix_availability = "sometimes"
    fix_kinds = {RETURN_PREDICTIONS: "safe"}
    libraries = frozenset({"torch", "lightning", "pytorch_lightning", "keras", "tensorflow", "tf_keras"})

    VALID = [
        Valid(
            """
            import gc
            import torch


            def search(configs, train_one):
                results = []
                for cfg in configs:
                    model = build(cfg).cuda()
                    results.append(train_one(model, cfg))
                    del model
                    gc.collect()
                    torch.cuda.empty_cache()
                return results
            """,
            why="between trials, after del",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer):
                for x, y in loader:
                    try:
                        loss = model(x.cuda()).loss
                        loss.backward()
                    except torch.cuda.OutOfMemoryError:
                        optimizer.zero_grad(set_to_none=True)
                        torch.cuda.empty_cache()
                        continue
                    optimizer.step()
            """,
            why="OOM retry",
        ),
        Valid(
            """
            import torch


            def report_memory(model, loader):
                for x in loader:
                    model(x.cuda())
                    torch.cuda.empty_cache()
                    print(torch.cuda.max_memory_allocated())
            """,
            why="memory-reporting code",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer, epochs):
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).loss.backward()
                        optimizer.step()
                    torch.cuda.empty_cache()
            """,
            why="once per epoch, between phases",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer, every):
                for step, (x, y) in enumerate(loader):
                    model(x).loss.backward()
                    optimizer.step()
                    if step % every == 0:
                        torch.cuda.empty_cache()
            """,
            why="periodic, not every step",
        ),
        Valid(
            """
            import gc
            import torch


            def two_phases(model, images, head):
                feats = model(images)
                pooled = feats.mean(0)
                del feats
                gc.collect()
                torch.cuda.empty_cache()
                return head(pooled)
            """,
            why="the intermediate is deleted first",
        ),
        Valid(
            """
            import torch


            def encode_then_decode(encoder, decoder, x):
                memory = encoder(x)
                torch.cuda.empty_cache()
                return decoder(memory)
            """,
            why="still needed after the call: nothing to free",
        ),
        Valid(
            """
            import numpy as np
            import torch


            def cluster(paths):
                feats = np.concatenate([np.load(p) for p in paths])
                n = feats.shape[0]
                torch.cuda.empty_cache()
                print(n)
            """,
            why="not a tensor (numpy array)",
        ),
        Valid(
            """
            import torch


            def evaluate(model, loader):
                model.eval()
                for x in loader:
                    out = model(x)
                torch.cuda.empty_cache()
                return out
            """,
            why="after the loop, and the result is used",
        ),
        Valid(
            """
            import torch


            def compare(builders, batch):
                scores = {}
                for name, build in builders.items():
                    model = build().cuda()
                    scores[name] = model(batch).mean().item()
                    del model
                    torch.cuda.empty_cache()
                return scores
            """,
            why="one model per iteration, deleted before the cleanup: a loop over trials",
        ),
        Valid(
            """
            import gc
            import torch


            def sweep(loaders, model_fn):
                for loader in loaders:
                    model = model_fn()
                    for x, y in loader:
                        model(x).loss.backward()
                    gc.collect()
                    torch.cuda.empty_cache()
            """,
            why="after the step loop, with gc.collect()",
        ),
        Valid(
            """
            import torch


            class TwoNetPipeline:
                def __init__(self, denoiser, guide, decoder, scheduler):
                    self.denoiser, self.guide, self.decoder, self.scheduler = denoiser, guide, decoder, scheduler
                    self.offload_hook = None

                @torch.no_grad()
                def __call__(self, cond, steps=30, device="cuda"):
                    first_step = self.scheduler.timesteps[:1].repeat(1)
                    latents = torch.randn(1, 4, 64, 64, device=device)
                    empty_cond = torch.zeros_like(cond)
                    for t in self.scheduler.timesteps[:steps]:
                        hint = self.guide(latents, t, cond)
                        latents = self.scheduler.step(self.denoiser(latents, t, empty_cond, hint), t, latents)
                    print("first step", first_step)
                    if self.offload_hook is not None:
                        self.denoiser.to("cpu")
                        self.guide.to("cpu")
                        torch.cuda.empty_cache()
                    return self.decoder(latents / 0.18215)
            """,
            why="offload idiom: the models just moved to the CPU are what the call frees",
        ),
        Valid(
            """
            import torch


            def train(student, loader, optimizer):
                alphas = torch.linspace(0.9999, 0.98, 1000)
                sigmas = torch.sqrt(1 - alphas)
                for batch in loader:
                    t = torch.randint(0, 1000, (batch.shape[0],))
                    noisy = alphas[t].sqrt()[:, None] * batch + sigmas[t][:, None] * torch.randn_like(batch)
                    loss = (student(noisy) - batch).pow(2).mean()
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                torch.save(student.state_dict(), "student.pt")
                del student
                torch.cuda.empty_cache()
                print(evaluate_checkpoint("student.pt"))
            """,
            why="the names still bound are noise schedules of 1,000 floats: nothing worth a del",
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, TensorDataset


            @torch.no_grad()
            def ensemble_depth(net, image, copies=10, batch=2):
                normed = image * 2.0 - 1.0
                repeated = torch.stack([normed] * copies)
                loader = DataLoader(TensorDataset(repeated), batch_size=batch)
                preds = [net(chunk) for (chunk,) in loader]
                stacked = torch.cat(preds, dim=0)
                torch.cuda.empty_cache()
                return stacked.median(dim=0).values
            """,
            why="the stacked input is also held by the TensorDataset: a del of the name would free nothing",
        ),
        Valid(
            """
            import torch


            def train(encoder, model, loader, optimizer, device="cuda"):
                encoder.requires_grad_(False)
                for batch in loader:
                    with torch.no_grad():
                        latents = encoder(batch["video"].to(device))
                    torch.cuda.empty_cache()
                    loss = model(latents.float(), batch["caption"]).mean()
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            why="placed between a frozen encoder pass and the trainable step, to hand back the encoder's blocks",
        ),
        Valid(
            {
                "cleanup.py": """
                    import gc

                    import torch


                    def release_memory():
                        gc.collect()
                        torch.cuda.empty_cache()
                """,
                "train.py": """
                    import torch

                    from cleanup import release_memory


                    def main(load_encoders, embed, train_loop):
                        first, second = load_encoders()
                        with torch.no_grad():
                            embeddings = embed([first, second])
                        del first, second
                        release_memory()
                        train_loop(embeddings)
                """,
            },
            why="the encoders are deleted by name before the project's cleanup helper runs",
        ),
        Valid(
            """
            import lightning.pytorch as pl


            def predict_to_disk(model, datamodule, writer):
                trainer = pl.Trainer(callbacks=[writer], logger=False)
                trainer.predict(model=model, datamodule=datamodule, return_predictions=False)
                outputs = trainer.predict(model=model, datamodule=datamodule)
                return outputs
            """,
            why="predictions not kept, or kept because the caller uses them",
        ),
        Valid(
            """
            import torch
            from transformers import Trainer


            def score(model, args, dataset):
                trainer = Trainer(model=model, args=args)
                trainer.predict(dataset)
            """,
            why="not Lightning's Trainer: there is no return_predictions to set",
        ),
        Valid(
            """
            import gc

            import torch


            def precompute(raw_dataset, text_model, tokenizer, train):
                encode = lambda rows: {"emb": text_model(tokenizer(rows["text"]))}
                cached = raw_dataset.map(encode, batched=True)
                table = cached.with_format("torch")
                del encode, text_model, tokenizer
                gc.collect()
                torch.cuda.empty_cache()
                train(table)
            """,
            why="a dataset's map() returns new rows; it keeps no reference to the encoder it was given",
        ),
        Valid(
            """
            import gc

            import torch


            def finetune(load_pipeline, run_epochs, save, prompts, offload):
                helper = load_pipeline().to("cuda")
                embeddings = helper.encode(prompts)
                if offload:
                    helper = helper.to("cpu")
                run_epochs(embeddings)
                save()
                gc.collect()
                torch.cuda.empty_cache()
                run_epochs(embeddings)
            """,
            why="the helper pipeline was moved to host memory earlier: the device cache holds none of it",
        ),
        Valid(
            """
            import torch


            def train(vae, scheduler, unet, loader, optimizer, device="cuda"):
                shift = vae.norm.running_mean.view(1, -1, 1, 1).to(device)
                spread = torch.sqrt(vae.norm.running_var.view(1, -1, 1, 1) + vae.config.eps).to(device)
                noise_levels = torch.sqrt(1 - scheduler.alphas_cumprod).to(device)
                for batch in loader:
                    latents = (vae.encode(batch) - shift) / spread
                    t = torch.randint(0, 1000, (latents.shape[0],), device=device)
                    loss = unet(latents + noise_levels[t][:, None, None, None], t).mean()
                    loss.backward()
                    optimizer.step()
                del unet
                torch.cuda.empty_cache()
                print(run_final_check(vae))
            """,
            why="copies of a normalisation layer's statistics and of a noise schedule: a buffer's size, not worth a del",
        ),
        Valid(
            """
            import torch


            class StepSolver:
                def __init__(self, sigmas):
                    self.sigmas = sigmas

                def to(self, device):
                    self.sigmas = self.sigmas.to(device)
                    return self


            def distill(student, teacher, sigmas, loop, device="cuda"):
                solver = StepSolver(sigmas).to(device)
                loop(student, teacher, solver)
                del teacher
                torch.cuda.empty_cache()
                loop(student, None, None)
            """,
            why="a small solver object of the project moved to the device, not a tensor worth a del",
        ),
        Valid(
            """
            import torch


            def train(vae, transformer, loader, optimizer, device="cuda"):
                vae.requires_grad_(False)
                for batch in loader:
                    latents = vae.encode(batch["pixels"].to(device)).latent_dist.mean
                    torch.cuda.empty_cache()
                    loss = transformer(latents, batch["text"]).mean()
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            why="between a frozen encoder's pass (requires_grad_(False)) and the trainable step",
        ),
        Valid(
            """
            import torch


            def fit(model, train_loader, val_loader, optimizer, epochs):
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        torch.nn.functional.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    scores, kept = [], []
                    with torch.no_grad():
                        for x, _ in val_loader:
                            scores.append(model(x).softmax(-1).cpu())
                            kept.append(model(x))
                    print(epoch, torch.cat(scores).mean().item(), len(kept))
                    del kept
            """,
            why="host copies only, and the device outputs are deleted before the next epoch trains",
        ),
        Valid(
            """
            import torch


            def fit(model, train_loader, val_loader, optimizer, epochs):
                for epoch in range(epochs):
                    outputs = []
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        torch.nn.functional.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    with torch.no_grad():
                        for x, _ in val_loader:
                            outputs.append(model(x))
                    print(epoch, torch.cat(outputs).mean().item())
            """,
            why="the list is emptied at the top of each epoch, before its training: the old outputs are freed then",
        ),
        Valid(
            """
            import numpy as np
            import torch


            @torch.no_grad()
            def estimate_depth(net, picture, device="cuda", repeats=4):
                pixels = np.asarray(picture.convert("RGB")).transpose(2, 0, 1) / 127.5 - 1.0
                pixels = torch.from_numpy(pixels).float().to(device)
                preds = torch.cat([net(pixels[None]) for _ in range(repeats)])
                torch.cuda.empty_cache()
                return preds.median(dim=0).values
            """,
            why="the input picture converted from NumPy: the caller's data, not an intermediate worth a del",
        ),
        Valid(
            """
            import gc

            import tensorflow as tf


            def search(configs, x, y):
                scores = []
                for cfg in configs:
                    tf.keras.backend.clear_session()
                    model = tf.keras.Sequential([tf.keras.layers.Dense(cfg["units"]), tf.keras.layers.Dense(1)])
                    model.compile(optimizer="adam", loss="mse")
                    scores.append(model.fit(x, y, verbose=0).history["loss"][-1])
                    del model
                    tf.keras.backend.clear_session()
                    gc.collect()
                return scores
            """,
            why="TensorFlow: cleared at the top of each trial, and the model deleted before the cleanup at the end",
        ),
        Valid(
            """
            from tensorflow import keras

            base = keras.Sequential([keras.layers.Dense(8), keras.layers.Dense(1)])
            base.compile(loss="mse")
            base.fit(x_train, y_train, epochs=3)

            keras.backend.clear_session()
            tuned = keras.Sequential([keras.layers.Dense(16), keras.layers.Dense(1)])
            tuned.compile(loss="mse")
            tuned.fit(x_train, y_train, epochs=3)
            """,
            why="a notebook's next experiment: the earlier model is kept on purpose to compare, outside any loop",
        ),
        Valid(
            """
            import functools

            import torch


            def prepare(load_models, rows, embed, fit):
                big_enc, small_enc = load_models()
                pair = [big_enc, small_enc]
                encode = functools.partial(embed, models=pair)
                features = rows.map(encode, batched=True)
                del pair
                torch.cuda.empty_cache()
                fit(features, big_enc, small_enc)
            """,
            why="the partial holds a deleted list whose encoders the next phase still uses: deleting it frees nothing",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import gc

            import tensorflow as tf


            def search(configs, x, y):
                scores = []
                for cfg in configs:
                    model = tf.keras.Sequential([tf.keras.layers.Dense(cfg["units"], activation="relu"), tf.keras.layers.Dense(1)])
                    model.compile(optimizer="adam", loss="mse")
                    history = model.fit(x, y, epochs=cfg["epochs"], verbose=0)
                    scores.append(history.history["loss"][-1])
                    tf.keras.backend.clear_session()
                    gc.collect()
                return scores
            """,
            line=13,
            why="TensorFlow: clear_session() at the end of a trial while the trial's model (and the History that "
            "keeps it) stay bound until the next one is built",
        ),
        Invalid(
            """
            import torch


            def fit(model, train_loader, val_loader, optimizer, epochs, device="cuda"):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
                        loss.backward()
                        optimizer.step()
                    model.eval()
                    val_outputs = []
                    with torch.no_grad():
                        for x, _ in val_loader:
                            val_outputs.append(model(x.to(device)))
                    logits = torch.cat(val_outputs)
                    print(epoch, logits.softmax(-1).max(-1).values.mean().item())
            """,
            line=13,
            why="a whole validation pass's outputs, and their concatenation, stay on the device while the next "
            "epoch trains: no empty_cache() in sight, the names alone keep them",
        ),
        Invalid(
            """
            import torch


            def train(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = model(x.cuda(), y.cuda())
                    loss.backward()
                    optimizer.step()
                    torch.cuda.empty_cache()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch


            @torch.no_grad()
            def evaluate(model, val_loader):
                total = 0.0
                for batch in tqdm(val_loader):
                    total += model(batch).sum().item()
                    torch.cuda.empty_cache()
                return total
            """,
            line=9,
        ),
        Invalid(
            """
            import torch as T


            def fit(net, data, opt, steps):
                it = iter(data)
                while steps:
                    x = next(it)
                    net(x).mean().backward()
                    opt.step()
                    T.cuda.empty_cache()
                    steps -= 1
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            import lightning as L


            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    loss = self.net(batch).mean()
                    torch.cuda.empty_cache()
                    return loss
            """,
            line=8,
            why="Lightning calls training_step once per batch",
        ),
        Invalid(
            """
            import gc
            import torch


            def extract_then_train(backbone, head, images, labels):
                features = backbone(images)
                pooled = features.mean(dim=(2, 3))
                gc.collect()
                torch.cuda.empty_cache()
                logits = head(pooled)
                return torch.nn.functional.cross_entropy(logits, labels)
            """,
            line=9,
            why="`features` is dead but still bound",
        ),
        Invalid(
            """
            import torch


            activations = torch.randn(4096, 4096, device="cuda")
            summary = activations.norm(dim=1)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            scores = torch.randn(4096, 4096, device="cuda") @ summary
            print(scores.sum().item())
            """,
            line=7,
        ),
        Invalid(
            """
            import torch


            def run(model, batch, classifier):
                with torch.no_grad():
                    hidden = model(batch)
                    cls = hidden[:, 0].clone()
                torch.cuda.empty_cache()
                return classifier(cls)
            """,
            line=8,
            why="`hidden` was bound inside the `with` block and is still alive after it",
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader


            def main(model, dataset, optimizer):
                for images, targets in DataLoader(dataset, batch_size=32):
                    with torch.autocast("cuda"):
                        loss = model(images, targets)
                    loss.backward()
                    optimizer.step()
                    torch.cuda.empty_cache()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch


            def featurize(encoder, clips, project):
                big = encoder(clips).cuda()
                small = big.amax(dim=1)
                torch.cuda.empty_cache()
                out = project(small)
                return out.cpu()
            """,
            line=7,
        ),
        Invalid(
            {
                "memory.py": """
                    import gc

                    import torch


                    def release_memory():
                        gc.collect()
                        if torch.cuda.is_available():
                            torch.cuda.empty_cache()
                """,
                "train_lora.py": """
                    from memory import release_memory


                    def train(args, load_encoders, make_pipeline, run_validation, train_epoch, transformer):
                        for epoch in range(args.epochs):
                            train_epoch(transformer)
                            if epoch % args.validation_every == 0:
                                enc_one, enc_two = load_encoders()
                                pipe = make_pipeline(transformer, enc_one, enc_two)
                                images = run_validation(pipe)
                                del enc_one, enc_two
                                release_memory()
                """,
            },
            path="train_lora.py",
            line=12,
            why="the deleted encoders live on in the pipeline, bound until the next validation",
        ),
        Invalid(
            {
                "memory_utils.py": """
                    import gc

                    import torch


                    def drop_and_empty(objects):
                        for obj in objects:
                            del obj
                        gc.collect()
                        torch.cuda.empty_cache()
                """,
                "train_control.py": """
                    import torch

                    from memory_utils import drop_and_empty


                    def main(load_text_encoders, embed_prompts, train_loop):
                        encoder_a, encoder_b = load_text_encoders()
                        encoders = [encoder_a, encoder_b]
                        with torch.no_grad():
                            embeddings = embed_prompts(encoders)
                        drop_and_empty(encoders)
                        train_loop(embeddings)
                """,
            },
            path="train_control.py",
            line=11,
            why="the helper deletes its own reference; the caller's names keep the encoders",
        ),
        Invalid(
            """
            import gc

            import torch


            def train(model, loader, optimizer, device_type):
                accel = getattr(torch, device_type, torch.cuda)
                for batch in loader:
                    model(**batch).loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                    accel.empty_cache()
                    gc.collect()
            """,
            line=12,
            why="the device module is picked at run time",
        ),
        Invalid(
            """
            import gc

            import torch


            def flush():
                gc.collect()
                torch.cuda.empty_cache()


            def fit(model, loader, optimizer, criterion):
                for inputs, targets in loader:
                    optimizer.zero_grad()
                    criterion(model(inputs), targets).backward()
                    optimizer.step()
                    flush()
            """,
            line=16,
            why="a cleanup helper of the file called every step",
        ),
        Invalid(
            """
            import lightning.pytorch as pl


            def predict_to_disk(model, datamodule, writer):
                trainer = pl.Trainer(callbacks=[writer], logger=False)
                trainer.predict(model=model, datamodule=datamodule)
            """,
            line=6,
            fixed="""
            import lightning.pytorch as pl


            def predict_to_disk(model, datamodule, writer):
                trainer = pl.Trainer(callbacks=[writer], logger=False)
                trainer.predict(model=model, datamodule=datamodule, return_predictions=False)
            """,
            applicability="safe",
            why="every prediction is kept to be returned, and the result is dropped",
        ),
        Invalid(
            """
            import torch
            from diffusers.training_utils import free_memory


            @torch.no_grad()
            def cache_features(backbone, images, store):
                features = backbone(images)
                store(features.mean(dim=(2, 3)).cpu())
                free_memory()
                return len(store)
            """,
            line=9,
            why="a library cleanup helper, with the features of the batch still bound",
        ),
        Invalid(
            """
            import torch


            def train(model, loader, optimizer):
                allocated = []
                for batch in loader:
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                    allocated.append(torch.cuda.memory_allocated())
                    torch.cuda.empty_cache()
                return allocated
            """,
            line=12,
            why="a training loop that logs memory on the side is still a training loop",
        ),
        Invalid(
            """
            import functools

            import torch


            def prepare(load_models, rows, embed, fit):
                big_enc, small_enc = load_models()
                pair = [big_enc, small_enc]
                encode = functools.partial(embed, models=pair)
                features = rows.map(encode, batched=True)
                del pair
                torch.cuda.empty_cache()
                fit(features)
            """,
            line=12,
            why="the partial keeps the deleted list, and both encoders are still bound by name: the message asks to "
            "`del encode, big_enc, small_enc`, all three",
        ),
        Invalid(
            """
            import functools

            import torch


            def prepare(first_model, second_model, rows, embed, fit):
                first_model.to("cuda")
                second_model.to("cuda")
                pair = [first_model, second_model]
                encode = functools.partial(embed, models=pair)
                features = rows.map(encode, batched=True)
                del first_model, second_model
                torch.cuda.empty_cache()
                fit(features)
            """,
            line=13,
            why="the list holds the deleted models and the partial holds the list: the message asks to `del pair, encode`, "
            "not the list alone",
        ),
    ]

    # ------------------------------------------------------------------ triggers
    def visit_For(self, node: ast.For) -> None:
        kept = lifetimes.pass_outputs_kept(self.file, node)
        if kept:
            names = [name for name, _ in kept]
            spelled = ", ".join(f"`{n}`" for n in names)
            self.report(
                kept[0][1],
                f"{spelled} {'keeps' if len(names) == 1 else 'keep'} a whole evaluation pass's outputs on the device "
                f"through the next iteration's training (rebound only after that training runs); "
                f"`del {', '.join(names)}` once used",
            )

    visit_While = visit_For  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "predict" and self.file.lightning:
            self._discarded_predictions(node)
            return
        what = self._cleanup(node)
        if what is None:
            loops = self.file.enclosing_loops(node)
            if loops and self.file.keras_qualname(func) in facts.KERAS_CLEAR_SESSION:
                # TensorFlow: clear_session() in a loop of trials resets Keras' state, but the trial's
                # model, still bound, keeps its weights while the next one is built
                self._dead_names(node, "`clear_session()`", loops[0], keras_models=True)
            return
        function = self.file.enclosing_function(node)
        if function is not None and self._is_reporting(function):
            return
        path = self._path(node)
        if any(isinstance(a, ast.ExceptHandler) for a in path):
            return  # the OOM-retry idiom
        loops = self.file.enclosing_loops(node)
        if loops and self._is_step_loop(loops[0]):
            self._every_step(node, loops[0], path, what)
        elif not loops and function is not None and function.name in _STEP_HOOKS:
            if not any(isinstance(a, (ast.If, ast.Try)) for a in path):
                self.report(
                    node,
                    f"{what} in `{function.name}` runs every step: it frees nothing still referenced and slows "
                    "training; call it between phases, or periodically",
                )
        else:
            self._dead_names(node, what, loops[0] if loops else None)

    def _cleanup(self, call: ast.Call) -> str | None:
        """How a call that empties the device cache reads in a message, or None."""
        func = call.func
        qualified = self.file.qualname(func)
        if qualified in facts.EMPTY_CACHE or (
            isinstance(func, ast.Attribute) and func.attr == "empty_cache" and not call.args and (qualified or "torch.").startswith("torch.")
        ):
            return "`empty_cache()`"  # also `accel.empty_cache()` with `accel = getattr(torch, kind)`
        if qualified in facts.CLEANUP_HELPERS or any(_empties_cache(owner, d) for owner, d in self.file.resolve_call(call)):
            return f"`{dotted(func) or last_name(func)}()`"
        return None

    def _path(self, node: ast.AST) -> list[ast.AST]:
        """Ancestors of ``node`` up to (not including) its scope."""
        found = []
        for outer in ancestors(node):
            if isinstance(outer, (*ScopeNode, ast.Module)):
                break
            found.append(outer)
        return found

    def _is_reporting(self, function: ast.AST) -> bool:
        if _REPORTING_FUNCTION.search(function.name):  # type: ignore[attr-defined]
            return True
        methods = {n.func.attr for n in iter_scope(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
        # a training function that logs memory on the side still trains (huggingface/peft's MetaMathQA run)
        return bool(methods & _REPORTING_CALLS) and not methods & facts.BACKWARD_METHODS

    # ------------------------------------------------------------------ every step
    def _every_step(self, call: ast.Call, loop: ast.AST, path: list[ast.AST], what: str) -> None:
        for outer in path:
            if outer is loop:
                break
            if isinstance(outer, (ast.If, ast.Try, ast.IfExp)):
                return  # periodic
        if self._between_phases(call, loop):
            return
        self.report(
            call,
            f"{what} every training/evaluation step frees nothing still referenced and slows each "
            "step; call it between phases (after `del`), or periodically",
        )

    def _between_phases(self, call: ast.Call, loop: ast.AST) -> bool:
        """A frozen pass before it (under a grad guard, or a model frozen with
        ``requires_grad_(False)``) and the trainable step after it, in the same iteration: the
        call hands back the frozen pass's blocks on purpose."""
        line = call.lineno
        nodes = list(lifetimes.loop_body_nodes(loop))
        before = [n for n in nodes if getattr(n, "lineno", line) < line]
        frozen_models = self._frozen_models(call)
        frozen = any(
            isinstance(n, ast.With) and any(self.file.grad_guard_kind(item.context_expr) == "off" for item in n.items)
            for n in before
        ) or any(isinstance(n, ast.Call) and (dotted(n.func) or "").split(".")[0] in frozen_models for n in before)
        trains = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in facts.BACKWARD_METHODS
            for n in nodes
            if getattr(n, "lineno", line) > line
        )
        return frozen and trains

    def _frozen_models(self, call: ast.Call) -> set[str]:
        """Names the function freezes: ``vae.requires_grad_(False)``."""
        scope = self.file.enclosing_function(call) or self.file.tree
        return {
            dotted(n.func.value) or ""
            for n in iter_scope(scope)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "requires_grad_"
            and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False
        } - {""}

    def _is_step_loop(self, loop: ast.AST) -> bool:
        nodes = list(lifetimes.loop_body_nodes(loop))
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        if isinstance(loop, (ast.For, ast.AsyncFor)) and self._iterates_loader(loop.iter):
            return True
        forward = False
        for inner in calls:
            callee = dotted(inner.func) or ""
            if _MODEL_CALLEE.search(callee.rsplit(".", 1)[-1]):
                forward = True
            if callee == "next" and inner.args and _LOADER_ITER.search(dotted(inner.args[0]) or ""):
                return True
            if not isinstance(inner.func, ast.Attribute):
                continue
            attr = inner.func.attr
            if attr == "backward":
                return True
            if attr == "next" and _LOADER_ITER.search(dotted(inner.func.value) or ""):
                return True  # `batch = loader_iter.next()`
            if attr in ("step", "zero_grad"):
                owner = dotted(inner.func.value)
                if owner is not None and _OPTIMIZER.search(owner.rsplit(".", 1)[-1]):
                    return True
        # A forward per iteration makes an evaluation loop, unless the body cleans up like a loop
        # over trials or phases does (`del model`, `gc.collect()`).
        if any(dotted(c.func) == "gc.collect" for c in calls):
            return False
        return forward and not any(isinstance(n, ast.Delete) for n in nodes)

    def _iterates_loader(self, expr: ast.AST) -> bool:
        for _ in range(4):
            if isinstance(expr, ast.Call):
                name = self.file.qualname(expr.func) or dotted(expr.func) or ""
                if name.rsplit(".", 1)[-1] == "DataLoader":
                    return True
                if name.rsplit(".", 1)[-1] in ("enumerate", "tqdm", "iter") and expr.args:
                    expr = expr.args[0]
                    continue
                return False
            name = dotted(expr)
            return name is not None and bool(facts.LOADER_NAME.search(name.rsplit(".", 1)[-1]) or name.lower().endswith("batches"))
        return False

    # ------------------------------------------------------------------ dead but bound
    def _dead_names(self, call: ast.Call, what: str, loop: ast.AST | None, keras_models: bool = False) -> None:
        """At a phase boundary: what is bound earlier, never deleted, never used again, and worth
        freeing (a tensor not shown to be small, an object built from deleted names, the helper's
        own arguments)."""
        here = lifetimes.around(self.file, call, loop)
        if any(lifetimes.offloads(stmt) for stmt in here.own_block):
            return  # `unet.to("cpu"); empty_cache()`: the offloaded weights are what it frees
        if loop is None and not any(isinstance(n, ast.Call) for stmt in here.later for n in ast.walk(stmt)):
            return  # no next phase: the names die when the function returns
        dead: list[str] = []
        holders: list[str] = []
        if keras_models:
            dead, holders = self._dead_keras_models(here)
        unused = {} if keras_models else here.unused()
        unused = {n: v for n, v in unused.items() if not lifetimes.moved_to_cpu(v)}  # host memory: not the device cache
        holding = lifetimes.holders(self.file, here, {n: v for n, v in unused.items() if not self._makes_tensor(v)})
        for name, value in unused.items():
            if name in holding:
                note = lifetimes.holder_note(self.file, here, name, holding, unused, dead)
                if note is not None:
                    holders.append(note)
            elif self._makes_tensor(value) and not self._small(value) and not lifetimes.kept_elsewhere(name, here.before):
                if name not in dead:
                    dead.append(name)
        if what not in ("`empty_cache()`", "`clear_session()`"):
            for name in lifetimes.argument_names(call):  # a helper cannot drop the caller's references
                for given in [name, *lifetimes.argument_names(here.bound.get(name))]:
                    if given not in here.deleted and given not in here.used_later and given not in dead:
                        dead.append(given)
        if not dead:
            return
        names = ", ".join(f"`{n}`" for n in dead)
        note = f" ({'; '.join(holders)})" if holders else ""
        self.report(
            call,
            f"{what} cannot free {names}: still referenced though never used again, so it stays "
            f"alive into the next phase{note}; `del {', '.join(dead)}` first",
        )

    def _dead_keras_models(self, here: lifetimes.Around) -> tuple[list[str], list[str]]:
        """Keras models still bound and never used again, and the ``History`` objects ``fit`` returned
        for them (a History keeps ``.model``)."""
        unused = here.unused()
        dead = [n for n, v in unused.items() if keras.keras_model_value(self.file, v) is not None and not lifetimes.kept_elsewhere(n, here.before)]
        holders: list[str] = []
        for name, value in unused.items():
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "fit" and dotted(value.func.value) in dead:
                holders.append(f"`{name}` (a History) holds `{dotted(value.func.value)}`")
                dead.append(name)
        return dead, holders

    def _makes_tensor(self, value: ast.AST) -> bool:
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.MatMult):
            return True
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        name = self.file.qualname(func)
        if name is not None:
            return name.startswith("torch.") and not name.startswith(_NOT_TENSOR_MODULES)
        if isinstance(func, ast.Attribute) and func.attr in _TENSOR_METHODS:
            return not self._built_object(func.value, value)
        if self.file.flow_of(value).value_of(func).kind == MODEL:
            return True
        callee = dotted(func)
        return callee is not None and bool(_MODEL_CALLEE.search(callee.rsplit(".", 1)[-1]))

    def _built_object(self, receiver: ast.AST, point: ast.AST) -> bool:
        """``solver.to(device)`` where ``solver = DDIMSolver(...)``: an object of some class moved, not a tensor."""
        if isinstance(receiver, ast.Name):
            receiver = binding_before(self.file.enclosing_function(point) or self.file.tree, receiver.id, point) or receiver
        if not isinstance(receiver, ast.Call):
            return False
        callee = last_name(receiver.func) or ""
        name = self.file.qualname(receiver.func) or ""
        return callee[:1].isupper() and not name.startswith("torch.") and self.file.flow_of(receiver).value_of(receiver).kind != MODEL

    def _small(self, value: ast.AST) -> bool:
        if from_stored_state(self.file, value):
            return True  # a schedule or a statistics buffer, copied
        if from_host_data(self.file, value):
            return True  # an input converted from NumPy: the caller's data, not a phase's intermediate
        elements = expression_elements(self.file, value)
        return elements is not None and elements <= SMALL_ELEMENTS

    # ------------------------------------------------------------------ trainer.predict
    def _discarded_predictions(self, call: ast.Call) -> None:
        holder = parent(call)
        if not isinstance(holder, ast.Expr) or any(k.arg == "return_predictions" for k in call.keywords):
            return
        receiver = call.func.value  # type: ignore[attr-defined]
        if isinstance(receiver, ast.Name):
            receiver = binding_before(self.file.enclosing_function(call) or self.file.tree, receiver.id, call) or receiver
        if not (isinstance(receiver, ast.Call) and self.file.qualname(receiver.func) in _LIGHTNING_TRAINERS):
            return
        self.report(
            call,
            "`trainer.predict(...)` keeps every batch's prediction in memory to return them, and the result is "
            "dropped; pass `return_predictions=False` (prediction writer callbacks still get each batch)",
            Fix("safe", RETURN_PREDICTIONS, (add_keyword(call, "return_predictions", "False"),)),
        )


_CLEANUP_WORDS = frozenset(name.rsplit(".", 1)[-1] for name in facts.EMPTY_CACHE | facts.CLEANUP_HELPERS)


def _empties_cache(owner, definition) -> bool:  # type: ignore[no-untyped-def]
    """A project function whose job is to empty the device cache (``free_memory()``): a short body
    that does so. A long function that empties the cache on the way (``prepare_latents``,
    ``log_validation``) is not a cleanup helper."""
    if not isinstance(definition, FunctionNode) or not any(word in owner.text for word in _CLEANUP_WORDS):
        return False  # the file never spells a cleanup call: nothing to walk
    if sum(1 for n in ast.walk(definition) if isinstance(n, ast.stmt)) > _CLEANUP_HELPER_STATEMENTS:
        return False
    for node in iter_scope(definition):
        if isinstance(node, ast.Call):
            qualified = owner.qualname(node.func)
            if qualified in facts.EMPTY_CACHE or qualified in facts.CLEANUP_HELPERS:
                return True
    return False
