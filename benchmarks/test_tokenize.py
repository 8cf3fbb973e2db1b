"""Encoding speed on 1 MB of text: the readable reference BPE (reference/bpe.py, pure Python) against the
bundled tokenizers that are installed (tiktoken's Rust core, Hugging Face tokenizers). Reported, not a gate:
the reference is the authority, not a tokenizer anyone runs for speed."""
import pytest

from gpt2_conformance.backends import Subject, available_bundled, resolve
from gpt2_conformance.backends.tokenizer import guarded_load_tokenizer
from gpt2_conformance.cases import golden_text, text
from gpt2_conformance.reference.vocab import END_OF_TEXT

MEGABYTE = 1_000_000


@pytest.fixture(scope="module")
def megabyte():
    """1 MB (UTF-8) of the golden texts, every script and category among them, joined by newlines and repeated."""
    texts = [r["text"] for r in golden_text.load()["encode"] if "ids" in r and END_OF_TEXT not in r["text"]]
    corpus, size = [], 0
    while size < MEGABYTE:
        for t in texts:
            corpus.append(t)
            size += len(t.encode("utf-8")) + 1
            if size >= MEGABYTE:
                break
    return "\n".join(corpus)


@pytest.mark.parametrize("spec", [s for s in available_bundled(Subject.TOKENIZER) if s != "transformers-gpt2"])
def test_encode_a_megabyte(benchmark, megabyte, spec):
    tokenizer = guarded_load_tokenizer(resolve(spec, Subject.TOKENIZER), text.gpt2())
    benchmark.group = "encode 1 MB"
    benchmark.extra_info.update(kind="tokenize", tokenizer=spec, megabytes=len(megabyte.encode("utf-8")) / MEGABYTE)
    ids = benchmark.pedantic(tokenizer.encode, args=(megabyte,), rounds=1 if spec == "reference" else 3)
    benchmark.extra_info["ids"] = len(ids)
