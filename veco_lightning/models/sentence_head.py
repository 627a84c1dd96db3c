"""A sentence-transformers model's own sentence embedding, over the token states the package computes.

A sentence-transformers model is a Hugging Face encoder (its ``Transformer`` module) followed by modules that make
the sentence vector from the token states: ``Pooling`` (CLS, mean, max, ...), often ``Dense`` projections (LaBSE:
CLS, then a 768 x 768 ``tanh`` layer; distiluse: mean, then 768 -> 512) and ``Normalize``. The package encodes
with the ``Transformer`` module only; :class:`SentenceHead` applies the other modules, read from the model's folder,
so that ``model.evaluation.pooling: sentence_transformers`` scores the model's own embedding, the one
``SentenceTransformer(folder).encode`` gives.

Written here rather than by loading ``sentence_transformers`` itself: the package does not depend on it, and its
``Dense`` loader imports the activation named by a configuration file; here only ``torch.nn`` activation classes are
accepted, and weights are read with ``safetensors`` or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch
from torch import nn

from veco_lightning.paths import looks_local, resolve_path, sentence_transformers_modules

log = logging.getLogger(__name__)

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# the configuration keys of sentence-transformers before 5.x, one flag per mode, in the order it concatenated them
_LEGACY_MODE_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_FILES = ["modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "*/config.json",
          "*/model.safetensors", "*/pytorch_model.bin"]  # what a Hub model's head needs (not its encoder weights)


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor, modes: tuple[str, ...],
                prompt_length: int = 0) -> torch.Tensor:
    """``(B, L, D)`` -> ``(B, D * len(modes))``: the token states pooled by each of sentence-transformers' modes
    (over the tokens of ``attention_mask``, padding left or right), concatenated in the order given.

    ``prompt_length``: leave out the first that many real tokens (a model whose ``Pooling`` has ``include_prompt:
    false`` pools without its prompt's tokens; as sentence-transformers does, ``cls`` then reads the first token
    after them, and ``weightedmean``'s weights still count from the first real token)."""
    first = attention_mask.to(torch.int).argmax(dim=1)  # (B,): the first real token (0 with right padding)
    if prompt_length:
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device).unsqueeze(0)
        attention_mask = attention_mask.masked_fill(positions < (first + prompt_length).unsqueeze(1), 0)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    length = hidden.shape[1]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[rows, attention_mask.to(torch.int).argmax(dim=1)])
        elif mode == "max":
            out.append(hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values)
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            count = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1)
            out.append((hidden * mask).sum(dim=1) / (count if mode == "mean" else count.sqrt()))
        elif mode == "weightedmean":  # weights 1, 2, 3, ... from the first real token
            weights = torch.arange(1, length + 1, device=hidden.device, dtype=hidden.dtype).view(1, -1, 1)
            weighted = mask * (weights - first.view(-1, 1, 1).to(hidden.dtype))
            out.append((hidden * weighted).sum(dim=1) / weighted.sum(dim=1).clamp(min=1e-9))
        elif mode == "lasttoken":
            last = length - 1 - attention_mask.flip(1).to(torch.int).argmax(dim=1)  # (B,)
            out.append((hidden * mask)[rows, last])
        else:
            raise ValueError(f"unknown sentence-transformers pooling mode {mode!r}: one of {POOLING_MODES}")
    return torch.cat(out, dim=-1)


class _Dense(nn.Module):
    """sentence-transformers' ``Dense``: ``activation(linear(x))``, plus ``x`` (or its projection) with a residual."""

    def __init__(self, in_features: int, out_features: int, bias: bool, activation: nn.Module,
                 residual: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = activation
        self.use_residual = residual
        if residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.activation(self.linear(x))
        if self.use_residual:
            out = out + (self.residual(x) if hasattr(self, "residual") else x)
        return out


class SentenceHead(nn.Module):
    """Pooling, then ``Dense`` layers, then (optionally) L2 normalisation, as a sentence-transformers model makes its
    sentence embedding from its ``Transformer`` module's token states. Computed in float32."""

    def __init__(self, modes: tuple[str, ...], dense: list[_Dense], normalize: bool, layer: int | None = None,
                 max_seq_length: int | None = None, include_prompt: bool = True,
                 prompts: dict[str, str] | None = None, default_prompt_name: str | None = None) -> None:
        super().__init__()
        self.modes = modes
        self.dense = nn.ModuleList(dense)
        self.normalize = normalize
        self.layer = layer  # the hidden layer its Transformer module gives (None: the last)
        self.max_seq_length = max_seq_length  # the tokens its Transformer module reads (None: not set)
        self.include_prompt = include_prompt  # its Pooling pools the prompt's tokens too
        self.prompts = dict(prompts or {})  # config_sentence_transformers.json: name -> text
        self.default_prompt_name = default_prompt_name  # the prompt its encode() puts before every input
        self.prompt_length = 0  # tokens of the prompt the inputs start with (set with the prompt; see pool_tokens)

    @property
    def default_prompt(self) -> str | None:
        """The text its ``encode`` puts before every input when no prompt is named (``None``: none)."""
        return self.prompts.get(self.default_prompt_name) if self.default_prompt_name else None

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):  # float32 under bf16-mixed too
            vectors = pool_tokens(hidden.float(), attention_mask, self.modes,
                                  0 if self.include_prompt else self.prompt_length)
            for layer in self.dense:
                vectors = layer(vectors)
            return nn.functional.normalize(vectors, p=2, dim=-1) if self.normalize else vectors

    def extra_repr(self) -> str:
        return f"modes={self.modes}, normalize={self.normalize}, layer={self.layer}"


def load_sentence_head(path: str) -> SentenceHead:
    """The sentence head (the modules after ``Transformer``) of the sentence-transformers model in the folder
    ``path``, or of the Hub model ``path`` (its small files only; with ``HF_HUB_OFFLINE=1``, from the local cache).

    Raises a ``ValueError`` naming the module when the model is not a sentence-transformers model, or its embedding
    goes through a module other than ``Pooling``, ``Dense`` and ``Normalize`` (or applies one to token states)."""
    folder = _local_folder(resolve_path(path))
    modules = sentence_transformers_modules(folder)
    if not modules:
        raise ValueError(
            f"model.evaluation.pooling is sentence_transformers but {path!r} is no sentence-transformers model (no "
            "modules.json): give such a model as model.encoder.path, or pool with 'mean' or 'cls'")
    kinds = [str(m.get("type", "")).rpartition(".")[2] for m in modules]
    if kinds[0] != "Transformer" or "Pooling" not in kinds:
        raise ValueError(f"{path!r}: its sentence-transformers modules are {kinds}; model.evaluation.pooling: "
                         "sentence_transformers reads models of a Transformer, then Pooling, Dense and Normalize")
    modes: tuple[str, ...] | None = None
    include_prompt = True
    dense: list[_Dense] = []
    normalize = False
    for module, kind in zip(modules[1:], kinds[1:]):
        where = os.path.join(folder, str(module.get("path", "")))
        if kind == "Pooling" and modes is None:
            modes, include_prompt = _pooling_modes(where)
        elif kind == "Dense" and modes is not None and not normalize:
            dense.append(_dense(where))
        elif kind == "Normalize" and modes is not None:
            normalize = True
        else:
            raise ValueError(
                f"{path!r}: its embedding goes through {' -> '.join(kinds)}; model.evaluation.pooling: "
                f"sentence_transformers computes Transformer -> Pooling -> Dense ... -> Normalize only (not {kind} "
                "there): score the Transformer's states with pooling 'mean' or 'cls' instead")
    transformer = _read_json(os.path.join(folder, str(modules[0].get("path", "")), "sentence_bert_config.json"))
    _warn_about_inputs(path, transformer)
    settings = _read_json(os.path.join(folder, "config_sentence_transformers.json"))
    prompts = settings.get("prompts") if isinstance(settings.get("prompts"), dict) else {}
    default_prompt_name = settings.get("default_prompt_name") or None
    if default_prompt_name is not None and default_prompt_name not in prompts:
        raise ValueError(f"{folder}/config_sentence_transformers.json: default_prompt_name {default_prompt_name!r} "
                         f"is not one of its prompts {sorted(prompts)}")
    # a Transformer module loaded with fewer layers (config_args / config_kwargs: {num_hidden_layers: n}, as this
    # package's exports of a middle layer are) gives hidden state n of the full encoder
    overrides = transformer.get("config_kwargs") or transformer.get("config_args") or {}
    layer = overrides.get("num_hidden_layers") if isinstance(overrides, dict) else None
    # the tokens its Transformer module reads: sentence_bert_config.json's max_seq_length, else the tokenizer's
    # model_max_length (where sentence-transformers 6 keeps it)
    length = transformer.get("max_seq_length")
    if not isinstance(length, int):
        tokenizer = _read_json(os.path.join(folder, str(modules[0].get("path", "")), "tokenizer_config.json"))
        length = tokenizer.get("model_max_length")
        length = length if isinstance(length, int) and length < 1_000_000 else None  # "no limit" is 1e30
    head = SentenceHead(modes or ("mean",), dense, normalize, int(layer) if layer is not None else None,
                        int(length) if isinstance(length, int) else None, include_prompt,
                        {str(k): str(v) for k, v in prompts.items()}, default_prompt_name)
    log.info("sentence embedding of %s: %s pooling%s%s", path, "+".join(head.modes),
             "".join(f", Dense {d.linear.in_features}->{d.linear.out_features} {type(d.activation).__name__}"
                     for d in dense), ", normalised" if normalize else "")
    return head.eval().requires_grad_(False)


def _local_folder(path: str) -> str:
    if os.path.isdir(path) or looks_local(path):
        return path
    from huggingface_hub import snapshot_download

    try:  # a Hub id: the head's small files only; offline (HF_HUB_OFFLINE=1) from the cache
        return snapshot_download(path, allow_patterns=_FILES)
    except Exception as err:  # noqa: BLE001 (the Hub raises several kinds; the message names the way out)
        raise FileNotFoundError(f"model.encoder.path {path!r}: its sentence-transformers modules could not be read "
                                f"from the Hugging Face Hub or its cache ({err}); download the model and give its "
                                "folder") from err


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise ValueError(f"{path} should hold a JSON object")
    return value


def _pooling_modes(folder: str) -> tuple[tuple[str, ...], bool]:
    """The modes of a ``Pooling`` module, and whether it pools the prompt's tokens (``include_prompt``)."""
    config = _read_json(os.path.join(folder, "config.json"))
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(name for key, name in _LEGACY_MODE_KEYS.items() if config.get(key))
        modes = modes or ("mean",)  # sentence-transformers' default
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise ValueError(f"{folder}/config.json: pooling mode(s) {unknown}, not one of {POOLING_MODES}")
    return modes, config.get("include_prompt", True) is not False


def _activation(name: Any, folder: str) -> nn.Module:
    """A ``torch.nn`` activation class named by its import path, created without arguments; nothing else is
    imported (a configuration file must not choose code to run)."""
    if name is None:
        return nn.Identity()
    parts = str(name).split(".")
    cls = getattr(nn, parts[-1], None)
    if parts[0] != "torch" or not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{folder}/config.json: activation_function {name!r} is not a torch.nn module; only those "
                         "(torch.nn.modules.activation.Tanh, torch.nn.modules.linear.Identity, ...) are read")
    return cls()


def _dense(folder: str) -> _Dense:
    config = _read_json(os.path.join(folder, "config.json"))
    if "in_features" not in config or "out_features" not in config:
        raise ValueError(f"{folder}/config.json: a Dense module's configuration needs in_features and out_features")
    source = config.get("module_input_name", "sentence_embedding")
    target = config.get("module_output_name") or source
    if source != "sentence_embedding" or target != "sentence_embedding":
        raise ValueError(f"{folder}: this Dense module maps {source!r} to {target!r}; only projections of the "
                         "sentence embedding are computed")
    layer = _Dense(int(config["in_features"]), int(config["out_features"]), bool(config.get("bias", True)),
                   _activation(config.get("activation_function", "torch.nn.modules.activation.Tanh"), folder),
                   bool(config.get("use_residual", False)))
    safetensors_file = os.path.join(folder, "model.safetensors")
    if os.path.isfile(safetensors_file):
        from safetensors.torch import load_file

        weights = load_file(safetensors_file)
    elif os.path.isfile(os.path.join(folder, "pytorch_model.bin")):
        weights = torch.load(os.path.join(folder, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"{folder}: a Dense module without weights (model.safetensors or pytorch_model.bin)")
    missing, unexpected = layer.load_state_dict({k: v for k, v in weights.items() if k != "activation"},
                                                strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}: Dense weights do not match its config.json (missing {missing}, unexpected "
                         f"{unexpected})")
    return layer


def _warn_about_inputs(path: str, transformer: dict[str, Any]) -> None:
    """What the model does to its input that the package's data pipeline does not: lower-casing. (Its prompt is
    data.evaluation.prompt's, checked where the data is known.)"""
    if transformer.get("do_lower_case"):
        log.warning("%s lower-cases its input (sentence_bert_config.json: do_lower_case); the package's tokenizer "
                    "gets the text as it is: lower-case the evaluation data to score the model's own embedding", path)
