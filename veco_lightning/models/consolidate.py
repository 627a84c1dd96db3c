"""One checkpoint file from the directory a sharded run writes: what ``veco-export`` reads.

Under ``fsdp-sharded.yaml`` and DeepSpeed (``deepspeed.yaml``, ``deepspeed-3.yaml``) Lightning saves each checkpoint
as a directory of per-rank shards named like the file it replaces (``checkpoints/last.ckpt/``):

- **FSDP, sharded state dict**: ``torch.distributed.checkpoint`` files (``.metadata`` and ``__<rank>_0.distcp``) that
  hold ``model.<module key>`` and ``optimizer_0.*``, and Lightning's ``meta.pt`` with everything else (hyper-parameters,
  loops, step). Read here without DeepSpeed or a process group: the weights only, never the optimizer.
- **DeepSpeed ZeRO-2/3**: ``latest`` (the tag, ``checkpoint`` under Lightning) and ``<tag>/`` with
  ``[zero_pp_rank_R_]mp_rank_00_model_states.pt`` (the client state: hyper-parameters...) and
  ``[bf16_]zero_pp_rank_R_mp_rank_00_optim_states.pt`` (the fp32 master weights, partitioned). Merged by DeepSpeed's
  ``zero_to_fp32`` through Lightning's ``convert_zero_checkpoint_to_fp32_state_dict``, which needs
  ``pip install deepspeed``.

Both give the state dict of :class:`~veco_lightning.module.VecoPretrainModule` with its own keys
(``model.roberta...``, no ``_forward_module.`` or ``_fsdp_wrapped_module.`` prefix) next to the run's
hyper-parameters, in fp32 (DeepSpeed's master weights; FSDP's shards are fp32 under ``bf16-mixed``): a file that
``VecoPretrainModule.load_from_checkpoint(weights_only=True)`` reads like any ``veco-fit`` checkpoint. To merge
once and export elsewhere (on a machine with DeepSpeed, say)::

    python -m veco_lightning.models.consolidate --checkpoint run/checkpoints/last.ckpt --output last-full.ckpt

No code runs on load: the DCP ``.metadata`` (a plain pickle) is read by an unpickler that builds only
``torch.distributed.checkpoint``'s metadata classes, and every DeepSpeed file must load with ``weights_only=True``
(DeepSpeed's four data classes stood in by inert placeholders) before DeepSpeed, which unpickles in full, reads it.
"""

from __future__ import annotations

import dataclasses
import enum
import glob
import importlib.util
import logging
import os
import pathlib
import pickle
import re
import sys
import warnings
from typing import Any

import torch

from veco_lightning.checkpointing import load_checkpoint, load_failure

log = logging.getLogger(__name__)

_LIGHTNING_META = "meta.pt"  # lightning.fabric.utilities.load._METADATA_FILENAME
_DCP_METADATA = ".metadata"
_MODEL_KEY = "model."  # Lightning's FSDPStrategy saves {"model": state_dict, "optimizer_0": ...}
# What DeepSpeed pickles into its checkpoint files besides tensors and plain values (DeepSpeed 0.19, ZeRO-2/3,
# fp32 / bf16 / fp16): checked by name only, so that DeepSpeed need not be installed to refuse a file.
_DEEPSPEED_CLASSES = (
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.runtime.zero.config.ZeroStageEnum",
    "deepspeed.utils.tensor_fragment.fragment_address",
)


def checkpoint_format(path: str) -> str | None:
    """``"fsdp"`` or ``"deepspeed"`` for a sharded checkpoint directory, ``None`` for anything else."""
    if not os.path.isdir(path):
        return None
    if os.path.isfile(os.path.join(path, _DCP_METADATA)):
        return "fsdp"
    if os.path.isfile(os.path.join(path, "latest")) or glob.glob(os.path.join(path, "*", "*model_states.pt")):
        return "deepspeed"
    return None


def consolidate_checkpoint(checkpoint: str, output: str) -> str:
    """Write the sharded checkpoint directory ``checkpoint`` as one full-state checkpoint file ``output``.

    The whole model is gathered in CPU memory and written without optimizer state: ``output`` needs the space of
    one fp32 copy of the weights.

    Args:
        checkpoint: a checkpoint directory written under FSDP with ``state_dict_type: sharded`` or under DeepSpeed.
        output: the ``.ckpt`` file to write.

    Returns:
        ``output``.
    """
    import veco_lightning.module  # noqa: F401  allows the hyper-parameters' option classes in weights_only loads

    kind = checkpoint_format(checkpoint)
    if kind is None:
        raise ValueError(f"{checkpoint} is not a sharded checkpoint directory: expected an FSDP one (.metadata, "
                         "*.distcp and meta.pt) or a DeepSpeed one (latest and <tag>/*model_states.pt)")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    if kind == "fsdp":
        torch.save(_read_fsdp_sharded(checkpoint), output)
    else:
        _convert_deepspeed(checkpoint, output)
    log.info("Consolidated the %s checkpoint %s into %s", kind, checkpoint, output)
    return output


class _MetadataUnpickler(pickle.Unpickler):
    """Builds only what a ``torch.distributed.checkpoint`` ``.metadata`` holds: its dataclasses and enums, paths,
    ``torch.Size``, dtypes and layouts. Anything else (a callable that would run code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        found = getattr(sys.modules.get(module), name, None)  # imports nothing the file names
        allowed = (
            (module.startswith("torch.distributed.checkpoint.") and isinstance(found, type)
             and (dataclasses.is_dataclass(found) or issubclass(found, enum.Enum)))
            or (module == "torch" and (found is torch.Size or isinstance(found, (torch.dtype, torch.layout))))
            or (module == "torch.serialization" and name == "_get_layout")
            or (module.partition(".")[0] == "pathlib"  # pathlib._local from Python 3.13
                and any(found is cls for cls in (pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath,
                                                 pathlib.PurePosixPath, pathlib.PureWindowsPath)))
            or (module == "collections" and name == "OrderedDict")
        )
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint's metadata")
        return found


def _dcp_reader(directory: str):
    """A ``FileSystemReader`` whose metadata comes from :class:`_MetadataUnpickler` (the stock one calls
    ``pickle.load``); the tensors it reads with ``torch.load(weights_only=True)``."""
    from torch.distributed.checkpoint import FileSystemReader

    class SafeReader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any):
            path = os.path.join(directory, _DCP_METADATA)
            try:
                with open(path, "rb") as handle:
                    metadata = _MetadataUnpickler(handle).load()
            except pickle.UnpicklingError as err:
                raise ValueError(f"{path}: refused to load ({err}). A checkpoint written by veco-fit loads; a "
                                 "file from elsewhere may carry code") from err
            if getattr(metadata, "storage_meta", None) is not None:
                metadata.storage_meta.load_id = getattr(self, "load_id", None)
            return metadata

    return SafeReader(directory)


def _read_fsdp_sharded(directory: str) -> dict[str, Any]:
    """The full checkpoint of a Lightning FSDP ``state_dict_type: sharded`` directory: ``meta.pt`` plus the model
    weights gathered from every rank's shards (the optimizer's entries are never read)."""
    from torch.distributed.checkpoint import load
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    meta = os.path.join(directory, _LIGHTNING_META)
    if not os.path.isfile(meta):
        raise ValueError(f"{directory} has torch.distributed.checkpoint shards but no {_LIGHTNING_META}: it was not "
                         "written by Lightning's FSDPStrategy, so its hyper-parameters are unknown")
    checkpoint = load_checkpoint(meta)
    reader = _dcp_reader(directory)
    entries = reader.read_metadata().state_dict_metadata
    state: dict[str, torch.Tensor] = {}
    for key, entry in entries.items():
        if not key.startswith(_MODEL_KEY):
            continue  # optimizer_0.*: the export needs none of it
        if not isinstance(entry, TensorStorageMetadata):
            raise ValueError(f"{directory}: model entry {key} is not a tensor; only tensors are read")
        state[key[len(_MODEL_KEY):]] = torch.empty(entry.size, dtype=entry.properties.dtype)
    if not state:
        raise ValueError(f"{directory} holds no model weights (no '{_MODEL_KEY}*' entry in {_DCP_METADATA})")
    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.simplefilter("ignore", UserWarning)
        load({"model": state}, storage_reader=reader)  # fills `state` in place; keys flatten to model.<key>
    checkpoint["state_dict"] = state
    return checkpoint


def _check_deepspeed_file(path: str) -> None:
    """Refuse a DeepSpeed file that does not load with ``weights_only=True`` when DeepSpeed's data classes are
    allowed (as inert stand-ins): the full unpickling DeepSpeed does next then builds nothing else."""

    class _Inert:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.args = args

        def __setstate__(self, state: Any) -> None:
            self.state = state

    with torch.serialization.safe_globals([(_Inert, name) for name in _DEEPSPEED_CLASSES]):
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # mmap: the tensors stay on disk
        except pickle.UnpicklingError as err:  # what weights_only raises for anything it does not allow
            found = re.search(r"GLOBAL ([\w.]+)", str(err))
            what = f"it names {found.group(1)}" if found else load_failure(str(err))  # never torch's advice
            raise ValueError(
                f"{path}: refused to load, it holds more than tensors, plain values and DeepSpeed's checkpoint "
                f"classes ({what}). If you trust the file, convert the directory with DeepSpeed's "
                "own zero_to_fp32.py, which it copies next to the shards") from err


def _convert_deepspeed(directory: str, output: str) -> None:
    """DeepSpeed's ZeRO-2/3 shards merged by Lightning's converter (DeepSpeed's ``zero_to_fp32``), which strips the
    ``_forward_module.`` prefix of Lightning < 2.1 and keeps the client state (hyper-parameters, step)."""
    if not os.path.isfile(os.path.join(directory, "latest")):
        raise ValueError(f"{directory} has no 'latest' file: write the name of the folder that holds the shards "
                         "('checkpoint' under Lightning) into it")
    with open(os.path.join(directory, "latest"), encoding="utf-8") as handle:
        tag = handle.read().strip()
    files = sorted(glob.glob(os.path.join(directory, tag, "*.pt")))
    if not files:
        raise ValueError(f"{directory}: 'latest' names {tag!r}, but {os.path.join(directory, tag)} holds no .pt files")
    for path in files:
        _check_deepspeed_file(path)
    if not _deepspeed_available():
        raise ImportError(
            f"{directory} is a DeepSpeed checkpoint: merging its shards needs DeepSpeed (pip install deepspeed, or "
            "pip install 'veco_lightning[deepspeed]'; DS_BUILD_OPS=0 builds nothing, CPU is enough). Or merge it on "
            f"a machine that has it: python -m veco_lightning.models.consolidate --checkpoint {directory} "
            "--output full.ckpt, and export full.ckpt")
    from lightning.pytorch.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

    # DeepSpeed's loader unpickles with weights_only=False; _check_deepspeed_file proved each file names nothing but
    # tensors, plain values, the package's option classes and DeepSpeed's four data classes.
    convert_zero_checkpoint_to_fp32_state_dict(directory, output)


def _deepspeed_available() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def main(args: list[str] | None = None) -> None:
    """``python -m veco_lightning.models.consolidate --checkpoint DIR --output FILE``."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="python -m veco_lightning.models.consolidate",
                            description="Merge a sharded (FSDP or DeepSpeed) veco-fit checkpoint into one file.")
    parser.add_function_arguments(consolidate_checkpoint, as_positional=False)
    print(f"Wrote {consolidate_checkpoint(**parser.parse_args(args).as_dict())}")


if __name__ == "__main__":
    main()
