"""The benchmark scripts a user runs (``benchmarks/``): each one imports and parses its options, and the harness
that every figure goes through rotates the order of measurements and takes medians as it says."""

import glob
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
HELPERS = {"harness.py", "products.py"}  # modules the scripts import, not scripts
SCRIPTS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(BENCHMARKS, "*.py"))
                 if os.path.basename(path) not in HELPERS)


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)
    import harness

    return harness


def test_every_benchmark_has_a_script():
    assert len(SCRIPTS) >= 20 and "mfu.py" in SCRIPTS and "mining_speed.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_parses_its_options(script):
    result = subprocess.run([sys.executable, os.path.join("benchmarks", script), "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage:"), result.stdout[:500]


def test_interleave_rotates_the_order_and_medians_are_per_measurement(harness, monkeypatch):
    calls = []
    monkeypatch.setattr(harness, "measure", lambda fn, **_: {**fn(), "contended": False})

    def figure(name, values):
        it = iter(values)

        def run():
            calls.append(name)
            return {"seconds": next(it)}
        return run

    rounds = harness.interleave({"a": figure("a", [3.0, 1.0, 2.0]), "b": figure("b", [10.0, 30.0, 20.0]),
                                 "c": figure("c", [5.0, 5.0, 7.0])}, 3, idle_wait=0)
    assert [r["order"] for r in rounds] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert all(r["clean"] for r in rounds)
    assert harness.medians(rounds, "seconds") == {"a": 2.0, "b": 20.0, "c": 5.0}


@pytest.mark.parametrize("kernels", [True, False])
def test_machine_description_says_whether_bf16_has_kernels(harness, monkeypatch, capsys, kernels):
    """Every result records torch's CPU capability and whether bf16 has kernels here; without them a note says that
    bf16 figures will be slow (a bf16 run there took hours)."""
    from veco_lightning import hardware

    monkeypatch.setattr(hardware, "cpu_bf16_kernels", lambda: kernels)
    monkeypatch.setattr(harness, "probe_others", lambda: {"other_processes_cores": 0.0})
    machine = harness.describe_machine()
    assert machine["cpu_bf16_kernels"] is kernels and machine["cpu_capability"]
    assert ("no bf16 kernels" in capsys.readouterr().out) is not kernels


@pytest.mark.parametrize("every_step", [True, False])
def test_step_timer_waits_for_the_device_where_asked(harness, monkeypatch, every_step):
    """The Lightning timer waits for the device at both ends of every step, or (``every_step=False``, as training
    runs) only where its clock starts (step ``warmup``) and at the end of the trainer's last step; the timed steps'
    counts add up either way."""
    import types

    import veco_lightning.callbacks

    waits = []
    monkeypatch.setattr(veco_lightning.callbacks, "wait_for_device", lambda device: waits.append(device))
    timer = harness.StepTimer(warmup=1)
    callback = timer.lightning_callback(lambda batch: {"tokens": batch}, every_step=every_step)
    trainer = types.SimpleNamespace(strategy=types.SimpleNamespace(root_device="cuda:0"), max_steps=4, global_step=0)
    for step in range(4):
        callback.on_train_batch_start(trainer, None, 10, step)
        trainer.global_step += 1
        callback.on_train_batch_end(trainer, None, None, 10, step)
    assert len(waits) == (8 if every_step else 2)
    result = timer.result()
    assert result["timed_steps"] == 3 and result["tokens"] == 30
    assert 0 <= result["between_steps_share"] < 1


def test_markdown_table_aligns_numbers_right(harness):
    table = harness.markdown_table(["step", "tokens/s"], [["MLM", "3,240"], ["", "1"]])
    assert table.splitlines() == ["| step | tokens/s |", "|---|---:|", "| MLM | 3,240 |", "| | 1 |"]


def test_command_line_reproduces_the_arguments(harness):
    assert (harness.command_line("mfu", ["--runs", "5", "--output", "a b.json"])
            == "python benchmarks/mfu.py --runs 5 --output 'a b.json'")


def test_ntrex_recipe_missing_names_what_is_absent(harness, monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "SHARED_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(harness, "REPO", str(tmp_path / "repo"))
    assert "no NTREX-128" in harness.ntrex_recipe_missing()
    (tmp_path / "data" / "ntrex128").mkdir(parents=True)
    assert "veco-train-tokenizer" in harness.ntrex_recipe_missing()
    (tmp_path / "repo" / "runs" / "ntrex" / "tokenizer").mkdir(parents=True)
    assert harness.ntrex_recipe_missing() is None


def test_products_recorded_for_the_chosen_steps_and_replayed(harness, tmp_path):
    """``mfu.py --products``: the recorder keeps every matrix product of the chosen steps (forward and backward, other
    steps not), writes them as plain JSON, and the replay runs each one on inputs of its shape and strides (a
    transposed weight, a broadcast bias) and counts 2 m n k FLOPs per product."""
    import products
    import torch

    recorder = products.ProductsRecorder(first_step=1, last_step=2, output=str(tmp_path / "products.json"))
    linear = torch.nn.Linear(8, 4)
    x = torch.randn(5, 8, requires_grad=True)
    for step in range(4):
        recorder.on_train_batch_start(None, None, None, step)
        linear(x).sum().backward()  # addmm forward; two mm backward (input and weight gradients)
        torch.bmm(torch.randn(2, 3, 4), torch.randn(2, 4, 6))
        recorder.on_train_batch_end(None, None, None, None, step)
    recorder.on_train_end(None, None)
    steps = products.load(str(tmp_path / "products.json"))
    assert len(steps) == 2 and steps == json.loads(json.dumps(recorder.steps))
    assert sorted(name for name, _, _ in steps[0]) == ["addmm.default", "bmm.default", "mm.default", "mm.default"]
    result = products.replay(steps, repeats=2)
    assert result["products"] == 8 and result["steps"] == 2 and result["seconds"] > 0
    assert result["flops"] == 2 * (3 * 2 * 5 * 8 * 4 + 2 * 2 * 3 * 4 * 6)


def test_distinct_pairs_reads_ntrex_xnli_and_tatoeba_once_each(harness, tmp_path):
    """The real-text corpus of ``mining_speed.py --corpora distinct``: every distinct pair once, in file order, without
    pairs that have an empty side or a control character; absent files are left out."""
    (tmp_path / "ntrex128").mkdir()
    (tmp_path / "ntrex128" / "newstest2019-ref.deu.txt").write_text("Haus\nBaum\nHaus\n", encoding="utf-8")
    (tmp_path / "ntrex128" / "newstest2019-src.eng.txt").write_text("house\ntree\nhouse\n", encoding="utf-8")
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "test-de.tsv").write_text("Ein Satz.\tBaum\nEin Satz.\tZwei\x08\n", encoding="utf-8")
    (tmp_path / "xnli" / "test-en.tsv").write_text("A sentence.\ttree\nA sentence.\tTwo\n", encoding="utf-8")
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.deu").write_text("Hallo\n\n", encoding="utf-8")
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.eng").write_text("Hello\nEmpty\n", encoding="utf-8")
    src, tgt = harness.distinct_pairs(str(tmp_path), "de")
    assert list(zip(src, tgt)) == [("Haus", "house"), ("Baum", "tree"), ("Ein Satz.", "A sentence."),
                                   ("Hallo", "Hello")]
    assert harness.distinct_pairs(str(tmp_path), "fr") == ([], [])


def test_read_lines_ends_lines_at_lf_only(harness, tmp_path):
    """As the package's readers: a line holding U+2028, U+0085 or a form feed stays one line; CRLF ends are removed."""
    path = tmp_path / "lines.txt"
    path.write_bytes("a\u2028b\r\nc\x85d\x0ce\n\nf".encode("utf-8"))
    assert harness.read_lines(str(path)) == ["a\u2028b", "c\x85d\x0ce", "", "f"]
    path.write_bytes(b"")
    assert harness.read_lines(str(path)) == []


def test_gpu_benchmark_runs_its_code_path_on_the_cpu(tmp_path, monkeypatch):
    """``benchmarks/gpu.py`` (the GPU checks' MLM step) with ``--accelerator cpu`` at a tiny shape: the step trains
    under the single-device strategy and DDP on one device, and beside transformers' Trainer (``--hf``, where
    ``accelerate`` is installed), and the figures it reports are consistent. Without
    ``--accelerator cpu`` on a machine without CUDA it says so and exits 0."""
    out = tmp_path / "gpu.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    args = ["--accelerator", "cpu", "--presets", "tiny", "--strategies", "single", "ddp", "--runs", "1", "--steps",
            "2", "--warmup", "1", "--batch-size", "2", "--seq-len", "32", "--vocab", "2600", "--matmul-size", "128",
            "--num-workers", "0", "--profile", "2", "--veco", "--pairs", "8", "--pair-len", "16", "--output", str(out)]
    hf = importlib.util.find_spec("accelerate") is not None  # transformers' Trainer needs it (the bench extra)
    args += ["--hf"] if hf else []
    result = subprocess.run([sys.executable, "benchmarks/gpu.py", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    names = ["MLM tiny bf16-mixed single", "MLM tiny bf16-mixed ddp"]
    veco = "VECO tiny bf16-mixed single"
    assert sorted(record["median_tokens_per_s"]) == sorted([*names, veco, *["HF Trainer tiny bf16-mixed"] * hf])
    figures = record["rounds"][0][veco]  # all four objectives; more tokens and FLOPs per step than the MLM step's
    assert figures["objectives"] == ["mmlm", "seq", "tlm", "tok"] and figures["timed_steps"] == 2
    assert figures["tokens"] > 2 * 2 * 32 and figures["model_flops"] > record["rounds"][0][names[0]]["model_flops"]
    assert figures["mfu"] == pytest.approx(figures["model_flops_per_s"] / record["peak_flops_per_s"])
    if hf:
        assert record["rounds"][0]["HF Trainer tiny bf16-mixed"]["tokens"] == 2 * 2 * 32
    for name in names:
        figures = record["rounds"][0][name]
        assert figures["timed_steps"] == 2 and figures["tokens"] == 2 * 2 * 32  # full blocks, warm-up left out
        assert 0 < figures["masked_tokens"] < figures["tokens"]
        assert figures["mfu"] == pytest.approx(figures["model_flops_per_s"] / record["peak_flops_per_s"])
        assert figures["final_loss"] > 0
    # The profile: two steps after the warm-up, their time by kind of operator (on a GPU: of kernel), and the rest.
    profile = record["profile"]
    assert profile["steps"] == 2 and profile["preset"] == "tiny"
    kinds = profile["kinds_s_per_step"]
    monkeypatch.syspath_prepend(BENCHMARKS)
    import gpu

    assert kinds["matrix products"] > 0 and set(kinds) <= {kind for kind, _ in gpu.KINDS}
    outside = profile["outside operators (Python, framework)"]
    assert sum(kinds.values()) + outside == pytest.approx(profile["step_s"], rel=0.05)
    assert "Where the tiny step's" in result.stdout + result.stderr
    if not __import__("torch").cuda.is_available():
        skipped = subprocess.run([sys.executable, "benchmarks/gpu.py", "--output", str(tmp_path / "none.json")],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert skipped.returncode == 0 and "no CUDA device" in skipped.stdout + skipped.stderr
        assert not (tmp_path / "none.json").exists()


def test_gpu_benchmark_veco_steps_are_collated_by_the_package(monkeypatch):
    """The VECO step's synthetic inputs: the MLM blocks, the TLM view of a quarter of the pairs, both clean sides
    within --pair-len, word units on every content token and synonym pairs between existing units."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    import gpu

    steps = gpu.VecoSteps(steps=2, batch_size=3, seq_len=32, pairs=8, pair_len=16, vocab=300)
    assert len(steps) == 2
    batch = steps[1]
    assert batch["mmlm"]["input_ids"].shape == (3, 32)
    assert batch["tlm"]["input_ids"].shape[0] == 2 and batch["tlm"]["input_ids"].shape[1] <= 32
    pairs = batch["pairs"]
    for side in ("src", "tgt"):
        ids, words = pairs[side]["input_ids"], pairs[side]["word_index"]
        assert ids.shape[0] == 8 and ids.shape[1] <= 16 and words.shape == ids.shape
        content = pairs[side]["attention_mask"].bool() & (ids != 0) & (ids != 2)  # not <s>, </s> or padding
        assert bool((words[content] >= 0).all()) and bool((words[~content] == -1).all())
    synonyms = pairs["synonyms"]
    for row in range(8):
        found = synonyms[row][synonyms[row, :, 0] >= 0]
        assert len(found) >= 1
        assert int(found[:, 0].max()) <= int(pairs["src"]["word_index"][row].max())
        assert int(found[:, 1].max()) <= int(pairs["tgt"]["word_index"][row].max())


@pytest.mark.parametrize(("name", "kind"), [
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_"
     "cublas", "matrix products"),
    ("nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTT", "matrix products"),
    ("void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<64, 128, 128, 8>>",
     "attention"),
    ("fmha_cutlassB_bf16_aligned_64x64_k64_sm80(PyTorchMemEffAttention::AttentionBackwardKernel<cutlass::arch::Sm80>)",
     "attention"),
    ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::"
     "TensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<float, 4>>",
     "optimizer and clipping"),
    ("void at::native::lpnorm_cleanup<float, (at::native::NormType)1, float, float>(float const*)",
     "optimizer and clipping"),
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>", "layer norm"),
    ("void at::native::(anonymous namespace)::GammaBetaBackwardCUDAKernel<float, float>", "layer norm"),
    ("void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float>",
     "soft-max and cross-entropy"),
    ("void at::native::(anonymous namespace)::fused_dropout_kernel_vec<c10::BFloat16, float, unsigned int, 1, 4, bool>",
     "dropout"),
    ("void at::native::indexSelectLargeIndex<float, long, unsigned int, 2, 2, -2, true>", "embedding, gather, index"),
    ("Memcpy HtoD (Pageable -> Device)", "copies and casts"),
    ("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)>",
     "copies and casts"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl(at::TensorIteratorBase&, "
     "at::native::GeluType)>", "other element-wise and reductions"),
])
def test_gpu_profile_sorts_kernels_by_kind(name, kind, monkeypatch):
    """The profile's kinds, on kernel names as CUDA's libraries and ATen name them."""
    monkeypatch.syspath_prepend(BENCHMARKS)
    import gpu

    assert gpu.kind_of(name) == kind


def test_gpu_profile_counts_sync_points_by_line(monkeypatch):
    """The profile's list of synchronising calls: only the sync debug mode's warnings, by file and line (from the
    library or package folder on), per step, most first."""
    import warnings

    monkeypatch.syspath_prepend(BENCHMARKS)
    import gpu

    def caught(message, filename, lineno):
        return warnings.WarningMessage(UserWarning(message), UserWarning, filename, lineno)

    sync = "called a synchronizing CUDA operation"
    records = [caught(sync, "/opt/venv/lib/python3.12/site-packages/transformers/masking_utils.py", 120)] * 4
    records += [caught(sync, "/work/repo/veco_lightning/losses/masked_lm.py", 70)] * 8
    records += [caught("some other warning", "/work/repo/veco_lightning/module.py", 5)]
    assert gpu.sync_points(records, steps=4) == [["veco_lightning/losses/masked_lm.py:70", 2.0],
                                                  ["transformers/masking_utils.py:120", 1.0]]


def test_gpu_profile_summary_on_device_events(monkeypatch):
    """The GPU side of the profile, on recorded kernel intervals (no GPU here): kernel time summed by kind, the time
    no kernel ran from the union of overlapping intervals against the window's wall clock, and the sync debug mode
    set for the profiled steps only, its warnings counted by line."""
    import types
    import warnings

    import torch
    from torch.autograd import DeviceType

    monkeypatch.syspath_prepend(BENCHMARKS)
    import gpu

    def kernel(name, start, end, annotation=False):
        return types.SimpleNamespace(name=name, device_type=DeviceType.CUDA, is_user_annotation=annotation,
                                     time_range=types.SimpleNamespace(start=start, end=end))

    events = [kernel("sm90_xmma_gemm_bf16bf16", 0, 4000), kernel("nvjet_tst_128x256", 3000, 6000),  # overlap 1 ms
              kernel("void at::native::vectorized_layer_norm_kernel<float>", 8000, 9000),
              # a user annotation's range on the device's timeline spans kernels: not kernel time
              kernel("Optimizer.step#AdamW.step", 0, 10000, annotation=True),
              types.SimpleNamespace(name="aten::mm", device_type=DeviceType.CPU,
                                    time_range=types.SimpleNamespace(start=0, end=9000))]
    def operator(key, shapes, device_us, device_type=DeviceType.CPU, annotation=False):
        return types.SimpleNamespace(key=key, input_shapes=shapes, self_device_time_total=device_us,
                                     device_type=device_type, is_user_annotation=annotation)

    operators = [operator("aten::mm", [[4, 8], [8, 2]], 6000), operator("aten::native_layer_norm", [[4, 8]], 1000),
                 operator("aten::view", [[4, 8]], 0),
                 operator("sm90_xmma_gemm_bf16bf16", [], 6000, DeviceType.CUDA),  # a kernel: in the table above
                 operator("Optimizer.step#AdamW.step", [], 9000, annotation=True)]  # spans other operators

    class Profile:  # torch.profiler.profile's interface as ProfiledSteps uses it
        def __init__(self, activities, record_shapes):
            self.activities = activities

        def key_averages(self, group_by_input_shape):
            return operators

        def start(self):
            pass

        def stop(self):
            pass

        def events(self):
            return events

    modes = []
    monkeypatch.setattr(torch.profiler, "profile", Profile)
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    clock = iter([100.0, 100.010])  # the window: 10 ms of wall clock for one step
    monkeypatch.setattr(gpu.time, "perf_counter", lambda: next(clock))
    profiled = gpu.ProfiledSteps(start=0, count=1, on_gpu=True)
    callback = profiled.callback()
    trainer = types.SimpleNamespace(strategy=types.SimpleNamespace(root_device=torch.device("cpu")))
    callback.on_train_batch_start(trainer, None, None, 0)
    warnings.warn("called a synchronizing CUDA operation", stacklevel=1)
    callback.on_train_batch_end(trainer, None, None, None, 0)
    assert modes == ["warn", 0] and profiled.catcher is None
    summary = profiled.summary()
    assert summary["step_s"] == pytest.approx(0.010)
    assert summary["kinds_s_per_step"] == pytest.approx({"matrix products": 0.007, "layer norm": 0.001})
    assert summary["device idle (no kernel running)"] == pytest.approx(0.003)  # 10 ms - (6 ms + 1 ms) busy
    assert summary["top_operators"] == [["aten::mm", "[[4, 8], [8, 2]]", pytest.approx(0.006)],
                                        ["aten::native_layer_norm", "[[4, 8]]", pytest.approx(0.001)]]
    (where, count), = summary["sync_points_per_step"]
    assert where.rsplit(":", 1)[0].endswith("tests/test_benchmarks.py") and count == 1


def test_gpu_check_script_reports_the_machine_and_skips_without_cuda(tmp_path):
    """``benchmarks/gpu_check.sh``, the one script a GPU machine runs: here, without CUDA, it writes what the machine
    has, the GPU tests skip and the benchmark says there is no CUDA device; it exits 0."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script would run the real checks")
    empty = tmp_path / "wheels"
    empty.mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "WHEELS": str(empty)}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    machine = (tmp_path / "out" / "machine.txt").read_text()
    assert "torch" in machine and "veco_lightning 0.1.0" in machine
    assert "skipped" in (tmp_path / "out" / "gpu_tests.log").read_text()
    assert "no CUDA device" in (tmp_path / "out" / "gpu.log").read_text()


def test_gpu_benchmark_keeps_the_figures_of_measurements_that_did_not_fail(tmp_path):
    """A measurement that raises is reported (its error in the results, a row that says so, exit status 1), and the
    others' figures are kept: on a short GPU lease one failing strategy must not lose them."""
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--accelerator", "cpu", "--presets", "tiny", "no-such-preset",
         "--strategies", "single", "--runs", "1", "--steps", "2", "--warmup", "1", "--batch-size", "2", "--seq-len",
         "32", "--vocab", "300", "--matmul-size", "128", "--num-workers", "0", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert result.returncode == 1, result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert list(record["median_tokens_per_s"]) == ["MLM tiny bf16-mixed single"]
    assert "Unknown encoder preset" in record["failed"]["MLM no-such-preset bf16-mixed single"][0]
    assert "| MLM no-such-preset bf16-mixed single | failed: ValueError" in result.stdout + result.stderr


def test_activation_checkpointing_benchmark_measures_both_steps_with_the_same_losses(tmp_path):
    out = tmp_path / "ac.json"
    result = subprocess.run([sys.executable, os.path.join("benchmarks", "activation_checkpointing.py"), "--preset",
                             "tiny", "--batch-size", "2", "--seq-len", "32", "--steps", "1", "--runs", "1",
                             "--idle-wait", "0", "--retries", "0", "--output", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    (one,) = figures["rounds"]
    assert one["without"]["losses"] == one["activation_checkpointing"]["losses"]  # same weights, batches, masks
    assert len(one["without"]["losses"]) == 2 and figures["median_tokens_per_s"]["activation_checkpointing"] > 0
    assert "| activation_checkpointing |" in result.stdout
