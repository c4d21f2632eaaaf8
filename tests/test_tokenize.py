"""The torch-free tokenizers give exactly open_clip's ids: CLIP BPE (ViT-B-32) and Hugging Face
tokenizers (tiny BERT), on all Flickr8k captions, at the default and truncating context
lengths, and on strings that exercise ftfy, HTML entities, scripts and truncation."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

from photofind.embed import tokenize
from photofind.embed.tokenize import base as tokenize_base
from photofind.embed.tokenize import clip_bpe

from conftest import FLICKR, REPO
from tinymodel import write_tiny_bert

CAPTIONS_CSV = FLICKR / "captions.csv"

TRICKY = [
    "", " ", "\n\t  \r\n", "a  dog\n\nrunning\t\tfast   ", "A DOG ON THE BEACH",
    "a dog 🐶 on the beach 😀", "👨‍👩‍👧 family", "🇫🇷 flag", "\ud83d\ude00 paired", "lone \ud800 x",
    "Café crème brûlée à Noël", "naïve façade", "Cafe\u0301 combining", "ÉCOLE ÅNGSTRÖM",
    "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&amp;amp;amp;", "fish &amp chips",
    "P&EACUTE;REZ", "&#39;quoted&#39; &#x1F600;", "<b>dog</b> &amp; cat", "this&not that",
    "cafÃ©", "âœ” done", "“dog’s” ‘ball’", "ﬁsh ﬂower", "ＬＯＵＤ　ＮＯＩＳＥＳ", "\u00a0nbsp\u00a0",
    "\x00\x1b[31mred\x1b[0m\x7f", "\x1c\x1d\x1e\x1f sep", "\u200bzero width\ufeff", "\u2028line",
    "一只狗在海滩上奔跑", "собака бежит по пляжу", "कुत्ता समुद्र तट पर दौड़ता है",
    "كلب يجري على الشاطئ", "개가 해변에서 뛰고 있다", "犬がビーチを走る", "σκύλος στην παραλία",
    "สุนัขวิ่งบนชายหาด", "כלב רץ על החוף", "١٢٣ ٤٥٦ digits",
    "1234567 photos from 2019", "3.14 IMG_2041.JPG", "#sunset @beach $5 100%", "!!!???...",
    "it's the dog's ball, they're here; I'll, we've, I'm, he'd", "IT'S THE DOG'S",
    "<start_of_text> dog <end_of_text>", "<START_OF_TEXT>", "a_b_c snake_case",
    "".join(map(chr, range(128))),
    "supercalifragilisticexpialidocious" * 12, "a" * 500,
    " ".join(["a brown dog runs along the sandy beach chasing a red ball"] * 12),
]


def _captions() -> list[str]:
    if not CAPTIONS_CSV.is_file():
        pytest.skip(f"shared data missing: {CAPTIONS_CSV} (../shared/data/flickr8k)")
    with open(CAPTIONS_CSV, encoding="utf-8") as handle:
        return [row["caption"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def captions() -> list[str]:
    return _captions()


@pytest.fixture(scope="module")
def caption_sample() -> list[str]:
    """Every 25th caption, or none without the shared data (the tricky strings still run)."""
    return _captions()[::25] if CAPTIONS_CSV.is_file() else []


def _twin(tok) -> tokenize.TextTokenizer:
    """open_clip tokenizer -> JSON -> torch-free twin, the way the app will store it."""
    desc = json.loads(json.dumps(tokenize.describe_open_clip_tokenizer(tok)))
    twin = tokenize.from_description(desc)
    assert twin.describe() == desc and twin.context_length == tok.context_length
    return twin


def _assert_same(tok, twin, texts, context_length=None):
    expected = tok(texts, context_length=context_length).numpy()
    got = twin(texts, context_length=context_length)
    assert got.dtype == np.int64 and got.shape == expected.shape
    bad = [t for t, a, b in zip(texts, expected, got) if not np.array_equal(a, b)]
    assert not bad, f"{len(bad)} texts differ at context {context_length}, e.g. {bad[:3]!r}"


# --- CLIP BPE -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vit_b_32():
    tok = open_clip.get_tokenizer("ViT-B-32")
    assert type(tok) is SimpleTokenizer
    return tok, _twin(tok)


@pytest.mark.parametrize("context_length", [None, 77 - 8, 12])
def test_clip_bpe_matches_open_clip_on_all_captions(vit_b_32, captions, context_length):
    tok, twin = vit_b_32
    assert len(captions) == 5000
    _assert_same(tok, twin, captions, context_length)


@pytest.mark.parametrize("context_length", [None, 69, 12, 2, 1])
def test_clip_bpe_matches_open_clip_on_tricky_strings(vit_b_32, context_length):
    tok, twin = vit_b_32
    _assert_same(tok, twin, TRICKY, context_length)
    _assert_same(tok, twin, TRICKY[5], context_length)  # a single string, not a list


def test_clip_bpe_truncation_keeps_eot_last(vit_b_32):
    _, twin = vit_b_32
    ids = twin(TRICKY[-1])
    assert ids.shape == (1, 77) and ids[0, 0] == 49406 and ids[0, -1] == 49407
    assert twin("a dog", context_length=5).tolist() == [[49406, 320, 1929, 49407, 0]]


@pytest.mark.parametrize("options", [{"clean": "whitespace"}, {"clean": "canonicalize"},
                                     {"additional_special_tokens": ["<mask>", "<person>"]},
                                     {"context_length": 32}])
def test_clip_bpe_options_match_open_clip(caption_sample, options):
    tok = SimpleTokenizer(**options)
    twin = _twin(tok)
    texts = TRICKY + caption_sample + ["a <mask> on the <person> beach", "<MASK><mask>"]
    _assert_same(tok, twin, texts)
    _assert_same(tok, twin, texts, 12)


def test_ascii_split_is_the_unicode_split_on_ascii():
    """The stdlib pattern used for ASCII text finds what open_clip's `regex` pattern finds."""
    import re

    import regex

    specials = "<start_of_text>|<end_of_text>"
    ours = re.compile(specials + clip_bpe.ASCII_SPLIT, re.IGNORECASE)
    theirs = regex.compile(specials + clip_bpe.SPLIT, regex.IGNORECASE)
    chars = [chr(c) for c in range(128)]
    texts = [a + b for a in chars for b in chars] + ["".join(chars), "I'LL 'S 'Re x'd <END_OF_TEXT>"]
    assert [ours.findall(t) for t in texts] == [theirs.findall(t) for t in texts]


def test_plain_ascii_skips_nothing_ftfy_would_change():
    """Text the fast path keeps as is (printable ASCII, tab, newline, no "&") is text ftfy and
    html.unescape leave alone, as open_clip's basic_clean applies them."""
    import html

    import ftfy

    plain = [chr(c) for c in range(128) if tokenize_base.NOT_PLAIN.search(chr(c)) is None]
    assert "&" not in plain and "\r" not in plain and "\x1b" not in plain and len(plain) == 96
    texts = ["".join(plain)] + [f"x{a}{b}y" for a in plain for b in plain]
    assert all(html.unescape(html.unescape(ftfy.fix_text(t))) == t for t in texts)


@pytest.mark.parametrize("make", [lambda: SimpleTokenizer(reduction_mask="simple"),
                                  lambda: object(), lambda: type("Mine", (SimpleTokenizer,), {})()])
def test_unsupported_tokenizers_raise(make):
    with pytest.raises(NotImplementedError):
        tokenize.describe_open_clip_tokenizer(make())


# --- Hugging Face tokenizers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_folders(tmp_path_factory):
    """The tests' tiny BERT folder, and one whose tokenizer.json really holds its caption
    vocab (written with `tokenizers` from the tiny BERT's vocab.txt: transformers 5's
    BertTokenizer ignores ``vocab_file``, so the tiny one only knows its special tokens)."""
    from tokenizers import BertWordPieceTokenizer

    root = tmp_path_factory.mktemp("bert")
    tiny = root / "tiny-bert"
    write_tiny_bert(tiny, CAPTIONS_CSV if CAPTIONS_CSV.is_file() else None)
    full = root / "wordpiece"
    full.mkdir()
    BertWordPieceTokenizer(str(tiny / "vocab.txt"), lowercase=True).save(
        str(full / "tokenizer.json"))
    for name in ("tokenizer_config.json", "config.json", "vocab.txt"):
        shutil.copy(tiny / name, full / name)
    return tiny, full


def _hf(folder: Path, **kwargs) -> HFTokenizer:
    """As open_clip.get_tokenizer makes it for a config with hf_tokenizer_name (photofind
    resolves that name to the absolute folder): HFTokenizer(path, context_length, mode)."""
    options = {"context_length": 32, "cache_dir": None, "tokenizer_mode": None, **kwargs}
    return HFTokenizer(str(folder), **options)


def test_hf_tokenizer_is_what_open_clip_makes_for_an_hf_config(bert_folders, tmp_path):
    from photofind.embed.model import register_custom_config

    tiny, _ = bert_folders
    shutil.copytree(tiny, tmp_path / "tiny-bert")
    config = tmp_path / "tiny-hf.json"
    config.write_text(json.dumps({"embed_dim": 32, "vision_cfg": {"image_size": 32},
                                  "text_cfg": {"hf_model_name": "tiny-bert",
                                               "hf_tokenizer_name": "tiny-bert",
                                               "context_length": 32}}))
    name, _, _ = register_custom_config(config)
    tok = open_clip.get_tokenizer(name)
    assert type(tok) is HFTokenizer and tok.context_length == 32
    desc = tokenize.describe_open_clip_tokenizer(tok)
    assert desc["tokenizer_file"] == str((tmp_path / "tiny-bert" / "tokenizer.json").resolve())
    _assert_same(tok, tokenize.from_description(desc), TRICKY)


@pytest.mark.parametrize(("which", "context_length"), [(0, None), (1, None), (1, 12)])
def test_hf_matches_open_clip_on_all_captions(bert_folders, captions, which, context_length):
    tok = _hf(bert_folders[which])
    twin = _twin(tok)
    _assert_same(tok, twin, captions, context_length)
    for length in (context_length, 12, 3):
        _assert_same(tok, twin, TRICKY, length)
    if which == 1:  # the real vocab: words are words, not [UNK]
        assert len(np.unique(twin(captions[:200]))) > 300


@pytest.mark.parametrize("options", [{"strip_sep_token": True}, {"clean": "lower"},
                                     {"clean": "canonicalize"}])
def test_hf_options_match_open_clip(bert_folders, caption_sample, options):
    tok = _hf(bert_folders[1], **options)
    twin = _twin(tok)
    _assert_same(tok, twin, caption_sample + TRICKY)
    _assert_same(tok, twin, caption_sample + TRICKY, 8)


def test_hf_clips_mode_is_not_supported(bert_folders):
    with pytest.raises(NotImplementedError):
        tokenize.describe_open_clip_tokenizer(_hf(bert_folders[1], tokenizer_mode="clips"))


# --- no torch -------------------------------------------------------------------------------

_COLD = """
import json, sys
import photofind.embed.tokenize as t
out = []
for desc in json.loads(sys.argv[1]):
    tok = t.from_description(desc)
    out.append(tok(["a dog", "Café &amp; crème 🐶"]).tolist())
heavy = [m for m in ("torch", "open_clip", "transformers") if m in sys.modules]
assert not heavy, heavy
print(json.dumps(out))
"""


def test_tokenizing_imports_neither_torch_nor_open_clip(vit_b_32, bert_folders):
    hf = _hf(bert_folders[1])
    descs = [tokenize.describe_open_clip_tokenizer(vit_b_32[0]),
             tokenize.describe_open_clip_tokenizer(hf)]
    done = subprocess.run([sys.executable, "-c", _COLD, json.dumps(descs)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    texts = ["a dog", "Café &amp; crème 🐶"]
    assert json.loads(done.stdout) == [vit_b_32[0](texts).tolist(), hf(texts).tolist()]
