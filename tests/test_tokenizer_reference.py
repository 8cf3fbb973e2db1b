"""The reference tokenizer (gpt2_conformance.reference.bpe) against OpenAI's: the shipped vocabulary is OpenAI's
byte for byte, and the reference reproduces every golden tokenization the official src/encoder.py made.

Given the inputs (CI has neither),

    GPT2_TIKTOKEN=PATH/gpt2.tiktoken GPT2_OFFICIAL_SRC=CLONE/src pytest tests/test_tokenizer_reference.py

also rebuilds the vocabulary from whisper's gpt2.tiktoken and remakes the golden data with the official code,
and checks that both come out as committed.
"""
import gzip
import hashlib
import os
import unicodedata
from pathlib import Path

import pytest

from gpt2_conformance.cases import golden_text, gpt2_vocab
from gpt2_conformance.reference import bpe, vocab
from gpt2_conformance.reference.vocab import InvalidVocab, Vocab

GOLDEN = golden_text.load()


def encode_or_error(text, v):
    """{"ids": the ids of a text} or {"error": the exception encoding it raises}, as the golden data records them."""
    try:
        return {"ids": bpe.encode(text, v)}
    except UnicodeEncodeError as e:
        return {"error": type(e).__name__}


def test_the_shipped_vocabulary_is_openais():
    for name, digest in vocab.SHA256.items():
        assert hashlib.sha256(gzip.decompress((vocab.VOCAB_DIR / f"{name}.gz").read_bytes())).hexdigest() == digest
    v = vocab.load()
    assert sorted(v.encoder.values()) == list(range(50257)) and v.encoder[vocab.END_OF_TEXT] == 50256
    assert len(v.merges) == 50000 and v.merges[0] == ("Ġ", "t")
    assert [v.encoder[a + b] for a, b in v.merges] == list(range(256, 50256))  # ids: bytes, then merges by rank


def test_a_changed_vocabulary_file_is_refused_by_name(tmp_path, monkeypatch):
    text = gzip.decompress((vocab.VOCAB_DIR / "vocab.bpe.gz").read_bytes()).replace(b"\nt h\n", b"\nh t\n")
    (tmp_path / "vocab.bpe.gz").write_bytes(gzip.compress(text))
    monkeypatch.setattr(vocab, "VOCAB_DIR", tmp_path)
    with pytest.raises(InvalidVocab, match=r"vocab\.bpe\.gz: the SHA-256 of vocab\.bpe is [0-9a-f]{64}, not 1ce16647"):
        vocab.read_official("vocab.bpe")


def test_the_reference_encodes_every_golden_text_as_the_official_code():
    v = vocab.load()
    wrong = [r for r in GOLDEN["encode"]
             if encode_or_error(r["text"], v) != {k: r[k] for k in ("ids", "error") if k in r}]
    assert not wrong, f"{len(wrong)} of {len(GOLDEN['encode'])} differ, e.g. {wrong[:3]}"


def test_the_reference_decodes_every_golden_sequence_as_the_official_code():
    v = vocab.load()
    wrong = [r for r in GOLDEN["decode"] if bpe.decode(r["ids"], v) != r["text"]]
    assert not wrong, f"{len(wrong)} of {len(GOLDEN['decode'])} differ, e.g. {wrong[:3]}"


def test_the_golden_texts_cover_what_they_are_meant_to():
    texts = [r["text"] for r in GOLDEN["encode"]]
    assert len(texts) >= 2000 and len(GOLDEN["decode"]) >= 300
    categories = {unicodedata.category(c) for text in texts for c in text}
    assert len(categories) == 30, "every Unicode general category"
    assert {"'S", "'LL", "'lL", "'Ve", "'d", "we'll", "\u00a0", "\u2028", "\u3000", "\U0001f44b\U0001f3fd",
            vocab.END_OF_TEXT, "<|endoftext", "toString"} <= set(texts)
    assert max(len(t) for t in texts) >= 10_000
    assert sum(len(r.get("ids", ())) > 1024 for r in GOLDEN["encode"]) >= 10
    assert sum("error" in r for r in GOLDEN["encode"]) > 0, "lone surrogates: the official code cannot encode them"
    assert any(b"\xef\xbf\xbd" in r["text"].encode() for r in GOLDEN["decode"]), "cut multi-byte characters"


@pytest.mark.parametrize(("text", "ids"), [
    ("Hello,", [15496, 11]), ("  a", [220, 257]), ("a\n\nb", [64, 198, 198, 65]), (" café", [40304]),
    ("'Sam", [6, 16305]), ("we'll", [732, 1183]), (" gracefully", [11542, 2759]), ("toString", [1462, 10100]),
    (vocab.END_OF_TEXT, [27, 91, 437, 1659, 5239, 91, 29]),
])
def test_anchors_ids_computed_with_the_official_code(text, ids):
    assert bpe.encode(text, vocab.load()) == ids


def small_vocab(merges):
    """A byte-level vocabulary of the 256 bytes and the given merges, ids as GPT-2 numbers them."""
    encoder = {c: i for i, c in enumerate(bpe.bytes_to_unicode().values())}
    encoder |= {a + b: 256 + rank for rank, (a, b) in enumerate(merges)}
    return Vocab(encoder, merges)


def test_a_small_vocabulary_merges_by_rank_not_from_the_left():
    v = small_vocab([("b", "c"), ("a", "b"), ("a", "bc")])
    assert bpe.bpe("abc", v.ranks) == ("abc",)  # b c first (rank 0), then a bc; a b never applies
    assert bpe.bpe("abab", v.ranks) == ("ab", "ab")
    assert bpe.encode("abc abc", v) == [258, 220, 258]  # " abc" is one piece, but no merge has Ġ
    assert bpe.decode(bpe.encode("ab\u00e9 \U0001f44b", v), v) == "ab\u00e9 \U0001f44b"


def test_a_run_merges_left_to_right_without_overlap():
    v = small_vocab([("a", "a")])
    assert bpe.bpe("aaaaa", v.ranks) == ("aa", "aa", "a")
    assert bpe.merge(("a", "a", "a"), ("a", "a")) == ("aa", "a")


@pytest.mark.skipif(not os.environ.get("GPT2_TIKTOKEN"), reason="set GPT2_TIKTOKEN to whisper's gpt2.tiktoken")
def test_the_vocabulary_rebuilds_as_shipped(tmp_path):
    assert gpt2_vocab.main([os.environ["GPT2_TIKTOKEN"], "--out", str(tmp_path)]) == 0
    for name in vocab.SHA256:
        rebuilt, shipped = (Path(d, f"{name}.gz").read_bytes() for d in (tmp_path, vocab.VOCAB_DIR))
        assert gzip.decompress(rebuilt) == gzip.decompress(shipped), name
        assert rebuilt == shipped, f"{name}.gz: the same text gzipped differently (another zlib?)"


@pytest.mark.skipif(not os.environ.get("GPT2_OFFICIAL_SRC"), reason="set GPT2_OFFICIAL_SRC to a clone's src/ folder")
def test_the_official_code_remakes_the_golden_tokenizations():
    remade = golden_text.generate(Path(os.environ["GPT2_OFFICIAL_SRC"]))
    assert remade["encode"] == GOLDEN["encode"] and remade["decode"] == GOLDEN["decode"]
