"""One-off reading of the resident high-water mark (``ru_maxrss``) after each phase of the bf16 MLM step at `small`
(forward, backward, optimizer; 4 steps; ``_common.mlm_step``), with the cross-entropy of the tree before the change
(``old``, a copy as in ``ab_step.py``) or this tree's (``new``). A fresh process per arm:

    python benchmarks/results/blockwise_softmax_ab/mem_phase.py /tmp/old old 250002
    python benchmarks/results/blockwise_softmax_ab/mem_phase.py /tmp/old new 250002
"""
import resource
import sys

from _common import mlm_step, old_masked_lm, use_cross_entropy

old_tree, arm, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
if arm == "old":
    use_cross_entropy(old_masked_lm(old_tree).BlockwiseCrossEntropy)


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def high_water_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


step = mlm_step(vocab)
start = resident_mib()
for n in range(4):
    marks: dict[str, float] = {}
    step(lambda phase, marks=marks: marks.__setitem__(phase, high_water_mib() - start))
    print(f"{arm} step {n}: high-water above the start after the forward pass {marks['forward']:.0f} MiB, after the "
          f"backward pass {marks['backward']:.0f}, after the optimizer {marks['optimizer']:.0f}")
