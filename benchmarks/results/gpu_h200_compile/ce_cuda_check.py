"""One-off check on a CUDA device: BlockwiseCrossEntropy under both schedules against autocast's fp32
F.cross_entropy (loss, gradient, the gradient written over the logits' buffer), and the time of each schedule's
forward + backward at the large MLM step's shape (32 x 512 tokens, 15% masked, 250,002 entries), CUDA events,
median of 20 after 5."""

import statistics

import torch
import torch.nn.functional as F

from veco_lightning.losses.masked_lm import BlockwiseCrossEntropy

device = "cuda"
g = torch.Generator(device).manual_seed(0)
for rows, vocab in ((37, 50_000), (2458, 250_002)):
    base = (torch.randn(rows, vocab, generator=g, device=device) * 4).bfloat16()
    targets = torch.randint(0, vocab, (rows,), generator=g, device=device)
    upcast = base.float().requires_grad_()
    expected = F.cross_entropy(upcast, targets)
    expected.backward()
    for schedule in ("softmax", "log_softmax"):
        logits = base.clone().requires_grad_()
        pointer = logits.data_ptr()
        loss = BlockwiseCrossEntropy.apply(logits, targets, schedule)
        loss.backward()
        loss_error = abs(loss.item() - expected.item()) / expected.item()
        grad_error = (logits.grad.float() - upcast.grad).abs().max().item()
        scale = upcast.grad.abs().max().item()
        print(f"{rows} x {vocab} {schedule}: loss {loss.item():.6f} vs {expected.item():.6f} (rel {loss_error:.1e}); "
              f"max |grad error| {grad_error:.2e} of max |grad| {scale:.2e}; "
              f"gradient over the logits: {logits.grad.data_ptr() == pointer}")
        assert loss_error < 1e-5 and grad_error <= scale * 2**-7 and logits.grad.data_ptr() == pointer

rows, vocab = 2458, 250_002
base = (torch.randn(rows, vocab, generator=g, device=device) * 4).bfloat16()
targets = torch.randint(0, vocab, (rows,), generator=g, device=device)
for schedule in ("softmax", "log_softmax", "F.cross_entropy(float)", "softmax", "log_softmax"):
    times = []
    for i in range(25):
        logits = base.clone().requires_grad_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        if schedule.startswith("F."):
            loss = F.cross_entropy(logits.float(), targets)
        else:
            loss = BlockwiseCrossEntropy.apply(logits, targets, schedule)
        loss.backward()
        end.record()
        torch.cuda.synchronize()
        if i >= 5:
            times.append(start.elapsed_time(end))
    print(f"{schedule}: {statistics.median(times):.3f} ms forward + backward (median of 20), {rows} x {vocab} bf16")
