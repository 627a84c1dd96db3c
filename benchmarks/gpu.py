"""The masked-LM step (and the full VECO step) on a GPU (issue point 8): `base` and `large` in bf16-mixed, against the
GPU's measured bf16 matmul peak; tokens/s, model FLOPs utilisation (MFU) and peak memory; one device trained plainly,
under DDP and under FSDP.

1. **Peak**: ``torch.matmul`` of two square ``--matmul-size`` bf16 matrices (default 8192 on a GPU), timed with CUDA
   events, median of ``--repeats`` products after three warm-up ones; measured before and after the steps, the higher
   counts. On a CPU (``--accelerator cpu``, the code path only) the default size is 1024, or 256 without bf16
   kernels, where one 8192^3 bf16 product would take hours.
2. **MLM step**: ``VecoPretrainModule`` under ``lightning.Trainer`` (sparse LM head, fused AdamW, gradient clipping
   at 1.0) on random token blocks of ``--batch-size`` x ``--seq-len`` over an XLM-R-sized vocabulary (``--vocab``,
   default 250,002; random tokens are fine for speed: the work depends on the shapes only), masked 15% with the
   package's ``Masker`` (80/10/10). Model FLOPs are counted from the shapes (:mod:`veco_lightning.flops`: the
   encoder's matrix products with attention, the sparse head on the masked positions, 3 forward passes per step).
   The clock waits for the GPU where it starts (after ``--warmup`` untimed steps) and at the end of the last step,
   not in between, as a training run does not (``--sync-every-step``: at both ends of every step); each batch's
   counts are taken on the host before it moves to the device, for the same reason.
3. **VECO step** (``--veco``): the full objective (MMLM + TLM + sequence and token contrast) at every preset on
   one device, on the MLM blocks plus ``--pairs`` synthetic translation pairs per step (:class:`VecoSteps`: the
   package's ``SynonymCollator``, the NTREX (d) recipe's TLM fraction and rate), model FLOPs counted as
   ``EncoderThroughput`` counts them (``veco_lightning.flops.batch_flops``: every view's non-pad tokens, the LM
   head on the masked positions, the contrastive heads), tokens/s over the non-pad tokens of every view.
4. **Strategies** (``--strategies``): ``single`` (Lightning's single-device strategy), ``ddp`` (``DDPStrategy`` as
   ``configs/trainer/ddp.yaml`` sets it) and ``fsdp`` (``FSDPStrategy`` as ``configs/trainer/fsdp.yaml`` sets it:
   each ``XLMRobertaLayer`` a shard unit, ``FULL_SHARD``), each on one device: on one device DDP and FSDP shard and
   reduce nothing, so their figures show what the wrappers cost. ``ddp`` and ``fsdp`` run at the largest preset only.

5. **Profile** (``--profile STEPS``, off by default; ``gpu_check.sh`` asks for 5): that many steps of the last preset
   on one device under ``torch.profiler``, after the warm-up: the kernels' time on the GPU by kind (matrix products,
   attention, optimizer, soft-max, layer norm, dropout, copies, the other element-wise kernels), the time no kernel
   ran, the top kernels, the kernels' time by the operator that launched them (with its input shapes), the model's
   FLOP rate over the matrix-product and attention kernels alone, i.e. where the MFU the steps miss goes, and every
   call that made the host wait for the GPU, by line.

Rounds alternate the order; medians are reported. Peak memory is ``torch.cuda.max_memory_allocated`` (on the CPU,
the process's peak resident memory above its start, ``harness.PeakMemory``).

    python benchmarks/gpu.py                                  # base and large; single, then ddp and fsdp at large
    python benchmarks/gpu.py --presets large --strategies single --compile   # + model.compile (each layer;
                                                      # --compile-scope trunk: the trunk as one graph)
    python benchmarks/gpu.py --presets large --strategies single --profile 5   # + where the step's time goes
    python benchmarks/gpu.py --strategies single --veco   # + the full VECO step at base and large
    python benchmarks/gpu.py --accelerator cpu --presets tiny --strategies single ddp --runs 1 --steps 2 \\
        --warmup 1 --batch-size 2 --seq-len 32 --vocab 1000 --matmul-size 256   # the code path, on a CPU

``benchmarks/gpu_check.sh`` runs it on a lent GPU machine with the GPU tests. Results are printed and written to
``benchmarks/results/gpu.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import statistics
import time
import warnings

import harness

XLMR_VOCAB = 250_002
SPECIAL_IDS = [0, 1, 2, 3]  # <s>, <pad>, </s>, <unk>: XLM-R's ids; <mask> is the last entry


def matmul_peak(device: str, size: int, repeats: int) -> float:
    """Median bf16 FLOP/s of ``torch.matmul`` on two ``size x size`` matrices (CUDA events on a GPU)."""
    import torch

    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=generator, device=device).bfloat16()
    b = torch.randn(size, size, generator=generator, device=device).bfloat16()
    for _ in range(3):
        torch.matmul(a, b)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.matmul(a, b)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            began = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - began)
    return 2 * size**3 / statistics.median(times)


class RandomBlocks:
    """``count`` blocks of ``length`` random non-special token ids (``<s> ... </s>``), the same for every run."""

    def __init__(self, count: int, length: int, vocab: int) -> None:
        import torch

        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(len(SPECIAL_IDS), vocab - 1, (count, length), generator=generator)
        self.ids[:, 0], self.ids[:, -1] = 0, 2

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        return self.ids[index]


class MaskBlocks:
    """Collates blocks into the module's ``mmlm`` input, masked 15% (80/10/10) by the package's ``Masker``."""

    def __init__(self, vocab: int) -> None:
        from veco_lightning.data.masking import Masker

        self.masker = Masker(vocab, SPECIAL_IDS, mask_token_id=vocab - 1, probability=0.15, seed=0)

    def __call__(self, blocks):
        import torch

        input_ids = torch.stack(blocks)
        masked, labels = self.masker(input_ids)
        return {"mmlm": {"input_ids": masked, "attention_mask": torch.ones_like(input_ids), "labels": labels}}


class VecoSteps:
    """One full VECO step's inputs per item (``mmlm``, ``tlm``, ``pairs``), the same for every run: ``batch_size``
    random blocks masked as :class:`MaskBlocks` masks them, and ``pairs`` synthetic translation pairs through the
    package's ``SynonymCollator`` (the TLM view of the first quarter of them masked 25%, as the NTREX (d) recipe sets
    ``tlm_fraction`` and ``tlm_probability``; the clean views with word units and synonym pairs for the sequence and
    token contrast). A pair's sides hold random tokens, up to ``pair_len`` with ``<s>`` and ``</s>``: the source
    between half and all of it, the target within 8 tokens of the source, cut into words of 1 to 3 tokens, a quarter
    of the smaller side's words paired as synonyms. The work depends on the shapes only, as for the MLM blocks."""

    def __init__(self, steps: int, batch_size: int, seq_len: int, pairs: int, pair_len: int, vocab: int) -> None:
        import random
        import types

        from veco_lightning.data.collators import SynonymCollator
        from veco_lightning.data.masking import Masker

        self.blocks = RandomBlocks(steps * batch_size, seq_len, vocab)
        self.batch_size, self.pairs = batch_size, pairs
        self.mask_blocks = MaskBlocks(vocab)
        tokens = types.SimpleNamespace(bos_token_id=SPECIAL_IDS[0], pad_token_id=SPECIAL_IDS[1],
                                       eos_token_id=SPECIAL_IDS[2])
        tlm_masker = Masker(vocab, SPECIAL_IDS, mask_token_id=vocab - 1, probability=0.25, seed=0)
        self.collate = SynonymCollator(tokens, tlm_masker, tlm_fraction=0.25)
        draw = random.Random(0)
        self.examples = [self.pair(draw, pair_len - 2, vocab) for _ in range(steps * pairs)]

    @staticmethod
    def side(draw, length: int, vocab: int) -> tuple[list[int], list[int], int]:
        ids = [draw.randrange(len(SPECIAL_IDS), vocab - 1) for _ in range(length)]
        words: list[int] = []
        while len(words) < length:
            words += [words[-1] + 1 if words else 0] * min(draw.randint(1, 3), length - len(words))
        return ids, words, words[-1] + 1

    @classmethod
    def pair(cls, draw, content: int, vocab: int) -> dict:
        src_len = draw.randint(max(1, content // 2), content)
        tgt_len = max(1, min(content, src_len + draw.randint(-8, 8)))
        src, src_words, src_units = cls.side(draw, src_len, vocab)
        tgt, tgt_words, tgt_units = cls.side(draw, tgt_len, vocab)
        count = max(1, min(src_units, tgt_units) // 4)
        synonyms = [unit for pair in zip(draw.sample(range(src_units), count), draw.sample(range(tgt_units), count))
                    for unit in pair]
        return {"src": src, "tgt": tgt, "src_words": src_words, "tgt_words": tgt_words, "synonyms": synonyms}

    def __len__(self) -> int:
        return len(self.blocks) // self.batch_size

    def __getitem__(self, step: int) -> dict:
        blocks = [self.blocks[k] for k in range(step * self.batch_size, (step + 1) * self.batch_size)]
        return {**self.mask_blocks(blocks), **self.collate(self.examples[step * self.pairs:(step + 1) * self.pairs])}


def strategy_of(name: str):
    """The Lightning strategy ``name`` stands for, set as ``configs/trainer/{ddp,fsdp}.yaml`` set it."""
    if name == "single":
        return "auto"
    if name == "ddp":
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(find_unused_parameters=False, gradient_as_bucket_view=True)
    if name == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy
        from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLayer

        return FSDPStrategy(auto_wrap_policy={XLMRobertaLayer}, sharding_strategy="FULL_SHARD")
    raise ValueError(f"unknown strategy {name!r}: single, ddp or fsdp")


def train_step(preset: str, strategy: str, args, peak: float, kind: str = "mlm", steps: int | None = None,
               callbacks=()) -> dict:
    """Train a fresh model for ``warmup + steps`` steps (``args.steps`` unless given) of the MLM step (``kind``
    ``mlm``: :class:`MaskBlocks` batches) or the full VECO step (``veco``: :class:`VecoSteps`); the timed steps'
    tokens/s, MFU and peak memory. ``callbacks`` are added to the trainer's."""
    from lightning import Trainer, seed_everything
    from torch.utils.data import DataLoader

    from veco_lightning import EncoderSpec, VecoPretrainModule
    from veco_lightning.callbacks import encoder_tokens
    from veco_lightning.flops import batch_flops

    seed_everything(0, verbose=False)
    steps = args.warmup + (args.steps if steps is None else steps)
    on_gpu = args.accelerator == "cuda"
    common = {"num_workers": args.num_workers, "pin_memory": on_gpu, "persistent_workers": False}
    if kind == "veco":
        loader = DataLoader(VecoSteps(steps, args.batch_size, args.seq_len, args.pairs, args.pair_len, args.vocab),
                            batch_size=None, shuffle=False, **common)
    else:
        loader = DataLoader(RandomBlocks(steps * args.batch_size, args.seq_len, args.vocab), batch_size=args.batch_size,
                            shuffle=False, collate_fn=MaskBlocks(args.vocab), **common)
    model = VecoPretrainModule(encoder=EncoderSpec(preset=preset, max_length=args.seq_len), vocab_size=args.vocab,
                               pad_token_id=1, compile=args.compile, compile_scope=args.compile_scope)
    parameters = sum(p.numel() for p in model.parameters())  # before a strategy shards them
    config, heads = model.encoder.config, (model.seq_head, model.tok_head)
    # Each batch's counts (non-pad tokens of every view and model FLOPs from the shapes, as EncoderThroughput counts
    # them) are taken on the host before it moves to the device: read from device tensors, they would make the host
    # wait for the device every step, which a training run does not.
    counted: collections.deque[dict] = collections.deque()
    hook = model.on_before_batch_transfer

    def count_then_hook(batch, dataloader_idx):
        counted.append({"tokens": encoder_tokens(batch), "masked_tokens": int((batch["mmlm"]["labels"] != -100).sum()),
                        "model_flops": batch_flops(config, batch, *heads)})
        return hook(batch, dataloader_idx)

    model.on_before_batch_transfer = count_then_hook
    timer = harness.StepTimer(args.warmup)
    trainer = Trainer(
        accelerator="gpu" if on_gpu else "cpu", devices=1, strategy=strategy_of(strategy), precision=args.precision,
        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, gradient_clip_val=1.0,
        use_distributed_sampler=False, callbacks=[timer.lightning_callback(
            lambda batch: counted.popleft(), every_step=args.sync_every_step), *callbacks],
        default_root_dir=os.path.join(harness.CACHE, "gpu_out"),
    )
    with harness.PeakDeviceMemory(on_gpu) as memory:
        trainer.fit(model, train_dataloaders=loader)
    out = timer.result()
    out["peak_memory_gib"] = memory.gib
    flops = out["model_flops"]
    out["model_flops_per_s"] = flops / out["seconds"]
    out["mfu"] = out["model_flops_per_s"] / peak
    out["parameters"] = parameters
    out["final_loss"] = float(trainer.callback_metrics.get("train/loss", float("nan")))
    out["objectives"] = sorted(key[len("train/"):-len("_loss")] for key in trainer.callback_metrics
                               if key.startswith("train/") and key.endswith("_loss") and key != "train/loss")
    out["model_flops_per_step"] = flops / out["timed_steps"]
    del trainer, model, loader
    return out


# What a profiled step's time is spent on: the first kind whose pattern a kernel's name (on a GPU) or an operator's
# (on the CPU) matches. Kernel names come from cuBLAS / cuBLASLt (gemm, xmma, nvjet), CUTLASS, PyTorch's flash and
# memory-efficient attention (flash, fmha) and ATen's own kernels (vectorized_elementwise_kernel<...>, named by their
# functor), so a few matches are heuristic; the top kernels are listed with the table to check them.
KINDS = (
    ("attention", r"flash|fmha|attention|sdpa"),
    ("matrix products", r"gemm|xmma|nvjet|cutlass|cublas|wgmma|\baten::(mm|addmm|bmm|matmul|linear)\b"),
    ("optimizer and clipping", r"adam|multi_tensor|foreach|lpnorm"),
    ("soft-max and cross-entropy", r"softmax|logsumexp|nll_loss|cross_entropy"),
    ("layer norm", r"layer_?norm|gammabeta"),
    ("dropout", r"dropout|bernoulli|philox|masked_?scale"),
    ("embedding, gather, index", r"embedding|index|gather|scatter"),
    ("copies and casts", r"memcpy|memset|copy|fill|\bcast"),
    ("other element-wise and reductions", r""),
)


def kind_of(name: str) -> str:
    import re

    return next(kind for kind, pattern in KINDS if re.search(pattern, name.lower()))


class ProfiledSteps:
    """``torch.profiler`` over steps ``[start, start + count)`` of a Lightning run (its :meth:`callback`), and where
    their time went (:meth:`summary`).

    On a GPU the kernels' own time on the device is summed by kind (:data:`KINDS`), and the time no kernel ran (the
    union of the kernels' intervals against the window's wall clock, which waits for the device at both ends) is what
    the host's launches, synchronisations and data hand-over cost. The steps also run under
    ``torch.cuda.set_sync_debug_mode("warn")``: every call that makes the host wait for the GPU (``.item()``, a
    boolean-mask gather, a copy to the host) is counted with the line that made it (:func:`sync_points`; the
    benchmark's own step timer syncs too, from ``harness.py`` and ``gpu.py``). On the CPU the operators' self time is
    summed instead, and the rest of the wall clock is Python and framework time outside the operators."""

    def __init__(self, start: int, count: int, on_gpu: bool) -> None:
        self.start, self.count, self.on_gpu = start, count, on_gpu
        self.profiler = None
        self.wall = 0.0
        self.catcher = None
        self.caught: list[warnings.WarningMessage] = []
        self.sync_mode = 0

    def callback(self):
        import torch
        from lightning import Callback

        from veco_lightning.callbacks import wait_for_device

        outer = self

        class ProfileCallback(Callback):
            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                if batch_idx == outer.start:
                    wait_for_device(trainer.strategy.root_device)
                    activities = [torch.profiler.ProfilerActivity.CPU]
                    if outer.on_gpu:
                        activities.append(torch.profiler.ProfilerActivity.CUDA)
                    outer.profiler = torch.profiler.profile(activities=activities, record_shapes=outer.on_gpu)
                    if outer.on_gpu:
                        outer.catcher = warnings.catch_warnings(record=True)
                        outer.caught = outer.catcher.__enter__()
                        warnings.simplefilter("always")
                        outer.sync_mode = torch.cuda.get_sync_debug_mode()
                        torch.cuda.set_sync_debug_mode("warn")
                    outer.profiler.start()
                    outer.began = time.perf_counter()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if batch_idx == outer.start + outer.count - 1 and outer.profiler is not None:
                    outer.stop_sync_debug()
                    wait_for_device(trainer.strategy.root_device)
                    outer.wall = time.perf_counter() - outer.began
                    outer.profiler.stop()

        return ProfileCallback()

    def stop_sync_debug(self) -> None:
        """Back to the sync debug mode and warning filters of before (also when the profiled steps failed)."""
        if self.catcher is not None:
            import torch

            torch.cuda.set_sync_debug_mode(self.sync_mode)
            self.catcher.__exit__(None, None, None)
            self.catcher = None

    def summary(self, top: int = 12) -> dict:
        """Seconds per step by kind, the device's idle share (GPU) or the time outside operators (CPU), and the
        ``top`` kernels or operators by time."""
        from torch.autograd import DeviceType

        if self.profiler is None or not self.wall:
            raise RuntimeError(f"the profiled steps {self.start}..{self.start + self.count - 1} did not run")
        times: dict[str, float] = {}
        if self.on_gpu:
            # Kernels, memory copies and sets; not the ranges that user annotations (record_function, e.g. the
            # optimizer's "Optimizer.step#AdamW.step") also leave on the device's timeline: they span other kernels.
            events = [e for e in self.profiler.events()
                      if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)]
            spans = sorted((e.time_range.start, e.time_range.end) for e in events)
            busy, reach = 0.0, float("-inf")
            for begin, end in spans:  # the union of the kernels' intervals (us)
                busy += max(0.0, end - max(begin, reach))
                reach = max(reach, end)
            for e in events:
                times[e.name] = times.get(e.name, 0.0) + (e.time_range.end - e.time_range.start) / 1e6
            rest, rest_name = self.wall - busy / 1e6, "device idle (no kernel running)"
        else:
            for e in self.profiler.key_averages():
                times[e.key] = times.get(e.key, 0.0) + e.self_cpu_time_total / 1e6
            rest, rest_name = self.wall - sum(times.values()), "outside operators (Python, framework)"
        kinds: dict[str, float] = {}
        for name, seconds in times.items():
            kind = kind_of(name)
            kinds[kind] = kinds.get(kind, 0.0) + seconds / self.count
        return {
            "steps": self.count, "step_s": self.wall / self.count,
            "kinds_s_per_step": dict(sorted(kinds.items(), key=lambda item: -item[1])),
            rest_name: max(0.0, rest) / self.count,
            "top": [[name, kind_of(name), seconds / self.count]
                    for name, seconds in sorted(times.items(), key=lambda item: -item[1])[:top]],
            **({"sync_points_per_step": sync_points(self.caught, self.count),
                "top_operators": self.operators(top)} if self.on_gpu else {}),
        }

    def operators(self, top: int) -> list[list]:
        """``[[operator, input shapes, device seconds per step], ...]``, most first: the kernels' time by the
        operator that launched them (its self device time) and its input shapes, which tell, say, the LM head's
        casts over ``(masked, V)`` logits from the encoder's over ``(B, L, D)`` activations."""
        from torch.autograd import DeviceType

        rows = []
        for e in self.profiler.key_averages(group_by_input_shape=True):
            if e.device_type != DeviceType.CPU or getattr(e, "is_user_annotation", False):
                continue  # the kernels themselves (listed above), and annotations' ranges, which span other operators
            seconds = getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) / 1e6
            if seconds > 0:
                rows.append([e.key, str(e.input_shapes)[:120], seconds / self.count])
        return sorted(rows, key=lambda row: -row[2])[:top]


def sync_points(caught: list[warnings.WarningMessage], steps: int) -> list[list]:
    """``[[file:line, calls per step], ...]``, most first: the synchronising CUDA calls among the ``caught`` warnings
    of ``torch.cuda.set_sync_debug_mode("warn")``, each at the Python line that made it (the path from the package
    or library folder on)."""
    counts: dict[str, int] = {}
    for message in caught:
        if "synchroniz" not in str(message.message):
            continue
        path = message.filename.replace(os.sep, "/")
        for marker in ("/site-packages/", "/veco_lightning/", "/benchmarks/"):
            if marker in path:  # site-packages/transformers/... -> transformers/...; .../veco_lightning/... kept
                path = path[path.index(marker) + (len(marker) if marker == "/site-packages/" else 1):]
                break
        else:  # elsewhere: from the working directory when under it
            relative = os.path.relpath(message.filename)
            path = path if relative.startswith("..") else relative.replace(os.sep, "/")
        where = f"{path}:{message.lineno}"
        counts[where] = counts.get(where, 0) + 1
    return [[where, count / steps] for where, count in sorted(counts.items(), key=lambda item: -item[1])]


def profile_step(preset: str, args, peak: float) -> dict:
    """``args.profile`` steps of the single-device MLM step at ``preset`` under :class:`ProfiledSteps`, after
    ``args.warmup`` untimed ones; the summary, with the model FLOP/s of the matrix-product and attention kernels
    alone (on a GPU: how fast the products run, apart from everything between them)."""
    profiled = ProfiledSteps(args.warmup, args.profile, args.accelerator == "cuda")
    try:
        figures = train_step(preset, "single", args, peak, steps=args.profile, callbacks=[profiled.callback()])
    finally:
        profiled.stop_sync_debug()
    out = profiled.summary()
    out["preset"], out["tokens_per_s"] = preset, figures["tokens_per_s"]
    out["model_flops_per_s"] = figures["model_flops_per_s"]
    products = sum(out["kinds_s_per_step"].get(kind, 0.0) for kind in ("matrix products", "attention"))
    if products:
        out["model_flops_per_s_in_products"] = figures["model_flops_per_step"] / products
    return out


def hf_step(preset: str, args) -> dict:
    """The same blocks through Hugging Face ``transformers.Trainer`` (``mlm_throughput.run_hf``:
    ``XLMRobertaForMaskedLM`` with its dense LM head, ``DataCollatorForLanguageModeling``, fused AdamW, clipping at
    1.0): tokens/s and peak memory. The collator takes its special ids from the demo tokenizer the package ships
    (XLM-R's 0-3; its random replacements are drawn from its 2,537 entries) and masks on the main process, as
    ``mlm_throughput.py`` runs it (its counts come from the collator). The vocabulary must hold the demo's."""
    import types

    import mlm_throughput

    from veco_lightning.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer("pkg://veco_lightning/resources/demo/tokenizer")
    if args.vocab < len(tokenizer):
        raise ValueError(f"--hf needs --vocab of at least {len(tokenizer)} (the demo tokenizer's entries)")
    steps = args.warmup + args.steps
    blocks = [{"input_ids": ids} for ids in RandomBlocks(steps * args.batch_size, args.seq_len, args.vocab).ids]
    options = types.SimpleNamespace(
        preset=preset, precision=args.precision, seq_len=args.seq_len, batch_size=args.batch_size, steps=args.steps,
        warmup=args.warmup, seed=0, lr=5e-4, weight_decay=0.01, clip=1.0, adamw="fused", model_vocab=args.vocab,
        accelerator=args.accelerator)
    with harness.PeakDeviceMemory(args.accelerator == "cuda") as memory:
        out = mlm_throughput.run_hf(options, blocks, tokenizer)
    out["peak_memory_gib"] = memory.gib
    return out


def guarded(name: str, measure) -> dict:
    """The measurement's figures, or, when it raises, its error (traceback logged): on a short GPU lease one failing
    strategy must not lose the others' figures. A failed measurement is left out of the medians and reported."""
    import traceback

    try:
        return measure()
    except Exception as error:  # noqa: BLE001 - reported in the results and the table
        harness.log(f"{name} failed:\n{traceback.format_exc()}")
        return {"error": f"{type(error).__name__}: {error}"}

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--accelerator", choices=("cuda", "cpu"), default="cuda",
                   help="cpu runs the same code on the CPU (a check of the script, not a GPU figure)")
    p.add_argument("--presets", nargs="+", default=["base", "large"])
    p.add_argument("--strategies", nargs="+", choices=("single", "ddp", "fsdp"), default=["single", "ddp", "fsdp"],
                   help="single runs at every preset, ddp and fsdp at the last one")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--vocab", type=int, default=XLMR_VOCAB, help="entries of the embedding and tied LM head")
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--num-workers", type=int, default=2, help="DataLoader workers (masking)")
    p.add_argument("--compile", action="store_true", help="model.compile (torch.compile) for every step measured")
    p.add_argument("--compile-scope", choices=("layers", "trunk"), default="layers",
                   help="model.compile_scope: each transformer layer compiled on its own, or the whole trunk")
    p.add_argument("--sync-every-step", action="store_true",
                   help="wait for the device at both ends of every timed step (each step's median is then its device "
                        "time; the default waits only where the clock starts and stops, as training runs)")
    p.add_argument("--veco", action="store_true",
                   help="also the full VECO step (MMLM + TLM + sequence and token contrast) at every preset, one "
                        "device: the MLM blocks plus --pairs synthetic translation pairs (VecoSteps)")
    p.add_argument("--pairs", type=int, default=64, help="translation pairs per VECO step (TLM on a quarter of them)")
    p.add_argument("--pair-len", type=int, default=128, help="longest side of a pair, in tokens with <s> and </s>")
    p.add_argument("--hf", action="store_true",
                   help="also Hugging Face transformers.Trainer (dense LM head) at every preset, side by side")
    p.add_argument("--matmul-size", type=int, default=None,
                   help="the peak's matrix size (default: 8192 on a GPU; on a CPU, where the figures only check the "
                        "code path, 1024, or 256 without bf16 kernels, where one 8192^3 product would take hours)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--profile", type=int, default=0, metavar="STEPS",
                   help="then profile this many steps of the last preset on one device (torch.profiler): where the "
                        "step's time goes, by kind of kernel, and how long the device waits (0: no profile)")
    harness.add_output(p, "gpu")
    args = p.parse_args(argv)
    if args.veco and 2 * args.pair_len > args.seq_len:  # the encoder's positions are --seq-len's
        p.error(f"--veco: a TLM row (both sides of a pair, up to 2 x --pair-len = {2 * args.pair_len} tokens) must fit "
                f"in --seq-len ({args.seq_len})")
    import torch

    if args.accelerator == "cuda" and not torch.cuda.is_available():
        return harness.skip("no CUDA device here (--accelerator cpu runs the code path on the CPU)")
    if args.hf and importlib.util.find_spec("accelerate") is None:
        p.error("--hf runs transformers' Trainer, which needs accelerate: pip install accelerate (or -e '.[bench]')")
    import lightning  # noqa: F401  (imported before its loggers are quietened: its import sets their level)

    harness.quiet_libraries("veco_lightning")
    machine = harness.describe_machine()
    if args.accelerator == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
        machine["cuda"] = torch.version.cuda
    log = harness.log
    if args.matmul_size is None:
        args.matmul_size = 8192 if args.accelerator == "cuda" else 1024 if machine["cpu_bf16_kernels"] else 256
    peaks = [matmul_peak(args.accelerator, args.matmul_size, args.repeats)]
    log(f"bf16 matmul peak (before the steps): {peaks[0] / 1e12:.1f} TFLOP/s at {args.matmul_size}^3")
    wanted = [(preset, "single") for preset in args.presets if "single" in args.strategies]
    wanted += [(args.presets[-1], s) for s in args.strategies if s != "single"]
    if args.accelerator == "cpu" and (args.presets[-1], "fsdp") in wanted:
        log("fsdp skipped: Lightning runs FSDP on GPUs only")
        wanted.remove((args.presets[-1], "fsdp"))
    steps = {f"MLM {preset} {args.precision} {strategy}": (
        lambda preset=preset, strategy=strategy: train_step(preset, strategy, args, peaks[0]))
        for preset, strategy in wanted}
    if args.veco:
        steps.update({f"VECO {preset} {args.precision} single": (
            lambda preset=preset: train_step(preset, "single", args, peaks[0], kind="veco"))
            for preset in args.presets})
    if args.hf:
        steps.update({f"HF Trainer {preset} {args.precision}": (lambda preset=preset: hf_step(preset, args))
                      for preset in args.presets})
    measurements = {name: (lambda name=name, step=step: guarded(name, step)) for name, step in steps.items()}

    def describe(run: int, name: str, r: dict) -> str:
        if "error" in r:
            return f"run {run} {name}: failed ({r['error']})"
        between = r.get("between_steps_share")  # the loader's wait and hooks: a step waiting for data shows here
        return (f"run {run} {name}: {r['tokens_per_s']:,.0f} tokens/s, MFU {100 * r.get('mfu', 0):.1f}%, peak memory "
                f"{r['peak_memory_gib']:.1f} GiB, median step {1000 * r['median_step_s']:.0f} ms"
                + ("" if between is None else f", between steps {100 * between:.1f}% of the clock"))

    rounds = harness.interleave(measurements, args.runs, idle_wait=0, retries=0, describe=describe)
    profile = guarded("profile", lambda: profile_step(args.presets[-1], args, peaks[0])) if args.profile else None
    peaks.append(matmul_peak(args.accelerator, args.matmul_size, args.repeats))
    peak = max(peaks)
    log(f"bf16 matmul peak: {peak / 1e12:.1f} TFLOP/s, the higher of {peaks[0] / 1e12:.1f} (before) and "
        f"{peaks[1] / 1e12:.1f} (after)")
    done = {name: [r[name] for r in rounds if "error" not in r[name]] for name in measurements}
    failed = {name: sorted({r[name]["error"] for r in rounds if "error" in r[name]}) for name in measurements}
    for results in done.values():
        for result in results:
            if "model_flops_per_s" in result:  # ours; the HF Trainer's step has no FLOP count here
                result["mfu"] = result["model_flops_per_s"] / peak

    def median(key: str) -> dict[str, float]:
        return {name: statistics.median(r[key] for r in results) for name, results in done.items()
                if results and key in results[0]}

    tokens, memory, flops, mfu = (median(key) for key in ("tokens_per_s", "peak_memory_gib", "model_flops_per_s",
                                                          "mfu"))
    rows = []
    for name in measurements:
        if name not in tokens:
            rows.append([name, "failed: " + "; ".join(failed[name])[:200], "", "", "", ""])
            continue
        preset = name.split()[-2] if name.startswith("HF") else name.split()[1]
        single = f"MLM {preset} {args.precision} single"
        # The same work as the MLM step (the VECO step's is more: its tokens/s do not compare).
        same_work = single in tokens and single != name and not name.startswith("VECO")
        ratio = f"{tokens[name] / tokens[single]:.2f}x" if same_work else ""
        rows.append([name, f"{tokens[name]:,.0f}", ratio, f"{flops[name] / 1e12:.1f}" if name in flops else "",
                     f"{100 * mfu[name]:.1f}%" if name in mfu else "", f"{memory[name]:.1f}"])
    log("\n" + harness.markdown_table(["step", "tokens/s", "vs the single-device step", "model TFLOP/s", "MFU",
                                       "peak memory, GiB"], rows))
    if profile is not None:
        log(describe_profile(profile, peak))
    harness.write_result(args.output, "gpu", {
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "peak_flops_per_s": peak, "peaks_measured": peaks, "rounds": rounds, "median_tokens_per_s": tokens,
        "median_model_flops_per_s": flops, "median_mfu": mfu, "median_peak_memory_gib": memory,
        "failed": {name: errors for name, errors in failed.items() if errors}, "profile": profile,
    }, environment={**machine, **harness.summarize_contention(rounds)}, argv=argv)
    return 1 if any(failed.values()) or (profile is not None and "error" in profile) else 0


def describe_profile(profile: dict, peak: float) -> str:
    """The profile as a table: milliseconds per step and share of the step by kind, then the top kernels."""
    if "error" in profile:
        return f"profile failed: {profile['error']}"
    step = profile["step_s"]
    rest = next(key for key in profile if key.startswith(("device idle", "outside operators")))
    kinds = [*profile["kinds_s_per_step"].items(), (rest, profile[rest])]
    mfu = profile["model_flops_per_s"] / peak
    lines = [f"\nWhere the {profile['preset']} step's {1000 * step:.0f} ms go ({profile['steps']} profiled steps; "
             f"{profile['tokens_per_s']:,.0f} tokens/s, MFU {100 * mfu:.1f}% with the profiler on):",
             harness.markdown_table(["kind", "ms per step", "share of the step"],
                                    [[kind, f"{1000 * s:.1f}", f"{100 * s / step:.1f}%"] for kind, s in kinds])]
    if "model_flops_per_s_in_products" in profile:
        rate = profile["model_flops_per_s_in_products"]
        lines.append(f"The model's FLOPs over the matrix-product and attention time alone: {rate / 1e12:.1f} TFLOP/s "
                     f"({100 * rate / peak:.1f}% of the measured peak).")
    lines.append(harness.markdown_table(["top kernel or operator", "kind", "ms per step"],
                                        [[name[:90], kind, f"{1000 * s:.2f}"] for name, kind, s in profile["top"]]))
    if profile.get("top_operators"):
        lines.append("The kernels' time by the operator that launched them (self device time) and its input shapes:")
        lines.append(harness.markdown_table(["operator", "input shapes", "ms per step"],
                                            [[name, shapes, f"{1000 * s:.2f}"]
                                             for name, shapes, s in profile["top_operators"]]))
    if "sync_points_per_step" in profile:
        lines.append("Calls that made the host wait for the GPU (torch.cuda.set_sync_debug_mode), per step:")
        rows = [[where, f"{count:g}"] for where, count in profile["sync_points_per_step"]]
        lines.append(harness.markdown_table(["where", "per step"], rows or [["none", ""]]))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
