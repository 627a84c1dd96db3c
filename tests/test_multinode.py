"""Two "nodes" on one machine: ``torchrun --nnodes 2`` with a local rendezvous, one gloo process per node, through
``veco-fit`` on data prepared once by ``veco-prepare``. Both ranks must train on disjoint shards, and the sequence
contrast of each must compare its sentences with the other rank's."""

import json
import os
import socket
import subprocess
import sys
import time

from conftest import sentences

from veco_lightning.cli import prepare_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_train_disjoint_shards_with_shared_negatives(tokenizer_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "tests", "helpers"))  # the config names record.BatchRecorder
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.txt").write_text("\n".join(sentences("en") * 4) + "\n", encoding="utf-8")
    (corpus / "ru-en.tsv").write_text("\n".join(f"{a}\t{b}" for a, b in zip(sentences("ru"), sentences("en"))) + "\n",
                                      encoding="utf-8")
    cache = tmp_path / "shared-cache"  # one filesystem both "nodes" see: prepared once, by veco-prepare
    config = tmp_path / "run.yaml"
    config.write_text(f"""
trainer:
  accelerator: cpu
  devices: 1
  num_nodes: 2
  max_steps: 3
  logger: false
  enable_checkpointing: false
  enable_progress_bar: false
  limit_val_batches: 0
  default_root_dir: {tmp_path / 'run'}
  strategy: {{class_path: lightning.pytorch.strategies.DDPStrategy, init_args: {{process_group_backend: gloo}}}}
  callbacks: [{{class_path: record.BatchRecorder, init_args: {{output: {tmp_path / 'records'}}}}}]
model: {{encoder: {{preset: tiny, max_length: 128}}}}
export: {{enabled: false}}
data:
  tokenizer: {tokenizer_dir}
  prepare_data_per_node: false
  monolingual: {{files: {{en: {corpus / 'en.txt'}}}, max_length: 16, batch_size: 4, cache_dir: {cache}}}
  parallel: {{files: {{ru-en: {{path: {corpus / 'ru-en.tsv'}}}}}, max_length: 128, batch_size: 4, val_pairs: 4,
             cache_dir: {cache}, tlm: false}}
""")
    prepare_main(["--config", str(config)])
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "tests", "helpers"),
                                                       os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    begin = time.perf_counter()
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
             "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
             "-m", "veco_lightning", "fit", "--config", str(config), "--data.prepared", "true"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for node in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    wall = time.perf_counter() - begin
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-4000:]
    records = [json.loads((tmp_path / "records" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["node_rank"] for r in records] == [0, 1] and all(r["world_size"] == 2 for r in records)
    # disjoint shards: no sentence pair and no block was trained on by both ranks
    for kind in ("pairs", "blocks"):
        seen = [{tuple(row) for batch in record[kind] for row in batch} for record in records]
        assert [len(s) for s in seen] == [3 * 4, 3 * 4], (kind, [len(r[kind]) for r in records])  # 3 steps x 4
        assert not seen[0] & seen[1], kind
    # the sequence contrast gathered both ranks' sentences: 8 candidates per query, this rank's at its offset
    for record in records:
        assert record["gathers"] and all(g == {"local": 4, "gathered": 8, "own_rows_at_offset": True}
                                         for g in record["gathers"])
    print(f"two-node run: {wall:.1f} s wall")
