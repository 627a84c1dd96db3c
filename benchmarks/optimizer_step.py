"""The AdamW step alone over an encoder preset's parameters: torch's implementations side by side.

On the CPU ``torch.optim.AdamW`` steps tensor by tensor unless told otherwise (its ``foreach`` default is for CUDA);
``fused=True`` runs one kernel over all of them, which is what the package's default optimizer and its shipped
configs use. Each round times one step of every implementation in turn (same parameters, same gradients), after
``--warmup`` rounds; the figures are medians over ``--rounds``, and the ratios are per round, so that a slow spell of
the machine touches both sides of a ratio.

Usage (from the repository root; a few seconds)::

    python benchmarks/optimizer_step.py [--preset small] [--vocab-size 16000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small", help="encoder preset (model.encoder.preset)")
    parser.add_argument("--vocab-size", type=int, default=16000, help="vocabulary (the NTREX recipes' 16k)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    harness.add_output(parser, "optimizer_step")
    args = parser.parse_args(argv)

    import torch

    from veco_lightning.models.encoder import EncoderSpec, build_encoder

    model = build_encoder(EncoderSpec(preset=args.preset), vocab_size=args.vocab_size)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    variants = {"tensor by tensor (CPU default)": {"foreach": False}, "foreach": {"foreach": True},
                "fused": {"fused": True}}
    optimizers = {name: torch.optim.AdamW(params, lr=1e-4, **options) for name, options in variants.items()}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.warmup + args.rounds):
        for name, optimizer in optimizers.items():
            begin = time.perf_counter()
            optimizer.step()
            if round_ >= args.warmup:
                seconds[name].append(time.perf_counter() - begin)
    base = "tensor by tensor (CPU default)"
    ratios = {name: statistics.median(b / s for b, s in zip(seconds[base], seconds[name])) for name in variants}
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    count = sum(p.numel() for p in params)
    print(f"\n## AdamW step, `{args.preset}` preset at a {args.vocab_size:,} vocabulary ({len(params)} tensors, "
          f"{count / 1e6:.1f}M parameters), medians of {args.rounds} rounds\n")
    print(harness.markdown_table(["implementation", "ms per step", "speed-up (median of per-round ratios)"],
                                 [[name, f"{1e3 * medians[name]:.2f}", f"{ratios[name]:.2f}×"] for name in variants],
                                 "lrr"))
    harness.write_result(args.output, "optimizer_step",
                         {"settings": {"preset": args.preset, "vocab_size": args.vocab_size, "rounds": args.rounds,
                                       "parameters": count, "tensors": len(params)},
                          "ms_per_step": {name: 1e3 * value for name, value in medians.items()},
                          "speedup": ratios},
                         environment=harness.describe_machine(), argv=argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
