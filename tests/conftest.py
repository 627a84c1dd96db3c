"""Shared fixtures: a tiny three-language corpus (Latin, Cyrillic, Han) and a tokenizer trained on it."""

import itertools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

WORDS = {
    "en": (["the small dog", "a red car", "my old friend", "the young teacher"], ["sees", "likes", "finds", "helps"],
           ["the green house", "a big river", "the new school", "a quiet village"]),
    "ru": (["маленькая собака", "красная машина", "мой старый друг", "молодой учитель"],
           ["видит", "любит", "находит", "помогает"], ["зелёный дом", "большую реку", "новую школу", "тихую деревню"]),
    "zh": (["小狗", "红色的汽车", "我的老朋友", "年轻的老师"], ["看见", "喜欢", "找到", "帮助"],
           ["绿色的房子", "一条大河", "新学校", "安静的村庄"]),
}


def sentences(language: str) -> list[str]:
    subjects, verbs, objects = WORDS[language]
    sep = "" if language == "zh" else " "
    end = "。" if language == "zh" else "."
    return [sep.join(parts) + end for parts in itertools.product(subjects, verbs, objects)]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for language in WORDS:
        (root / f"{language}.txt").write_text("\n".join(sentences(language)) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer_dir(corpus_dir, tmp_path_factory):
    from veco_lightning.data.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("tokenizer")
    train_tokenizer({lang: [str(corpus_dir / f"{lang}.txt")] for lang in WORDS}, str(out), vocab_size=200)
    return out


@pytest.fixture(scope="session")
def bert_dir(corpus_dir, tmp_path_factory):
    """A random tiny BERT saved with a WordPiece tokenizer trained on the corpus: multilingual BERT's layout
    (``[CLS] A [SEP] B [SEP]``, token types, no ``bos``/``eos``), for the paths that take any encoder."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    out = tmp_path_factory.mktemp("bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.train([str(corpus_dir / f"{lang}.txt") for lang in WORDS],
                  trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer = BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]")
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(out)
    return out


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA device: skipped (with the reason) where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
