"""One-off sweep on a CUDA device: BlockwiseCrossEntropy's forward + backward at the large MLM step's shape (2,458
masked rows of 250,002 bf16 logits) with a given number of rows per block, both schedules, against autocast's
F.cross_entropy of the fp32 upcast. CUDA events, median of 20 after 5; the peak memory above the logits."""

import statistics

import torch
import torch.nn.functional as F

from veco_lightning.losses import masked_lm

rows, vocab = 2458, 250_002
g = torch.Generator("cuda").manual_seed(0)
base = (torch.randn(rows, vocab, generator=g, device="cuda") * 4).bfloat16()
targets = torch.randint(0, vocab, (rows,), generator=g, device="cuda")
print("multiprocessors", torch.cuda.get_device_properties(0).multi_processor_count, "| default rows per block",
      masked_lm._block_rows(base))


def timed(compute) -> tuple[float, float]:
    times = []
    for i in range(25):
        logits = base.clone().requires_grad_()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        compute(logits).backward()
        end.record()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(start.elapsed_time(end))
    return statistics.median(times), (torch.cuda.max_memory_allocated() - before) / 2**30


original = masked_lm._block_rows
for block in (67, 134, 268, 528, 1056, 2458):
    masked_lm._block_rows = lambda logits, block=block: block
    for schedule in ("log_softmax", "softmax"):
        ms, gib = timed(lambda x: masked_lm.BlockwiseCrossEntropy.apply(x, targets, schedule))  # noqa: B023 (called at once)
        print(f"{schedule:12s} {block:5d} rows a block: {ms:7.3f} ms, peak {gib:.2f} GiB above the logits")
masked_lm._block_rows = original
ms, gib = timed(lambda x: F.cross_entropy(x.float(), targets))
print(f"F.cross_entropy(fp32 upcast): {ms:7.3f} ms, peak {gib:.2f} GiB above the logits")
