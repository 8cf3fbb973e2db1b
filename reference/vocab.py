"""GPT-2's vocabulary, encoder.json and vocab.bpe byte for byte as OpenAI published them, and the Vocab it loads as.

The two files ship gzipped in reference/vocab/ (gzip does not change them: their SHA-256 is checked after
decompressing, on every load, against the values tiktoken expects of OpenAI's downloads). They were rebuilt
from whisper's gpt2.tiktoken by gpt2_conformance.cases.gpt2_vocab, so nothing is downloaded at run time.

encoder.json maps each of the 50,257 symbols (a token's bytes in the alphabet of
gpt2_conformance.reference.bpe.bytes_to_unicode) to its id; vocab.bpe lists the 50,000 merges in rank order,
one pair of symbols a line after a "#version: 0.2" line. Ids are the 256 bytes, then the merges in rank order,
then "<|endoftext|>" (50256), which no merge makes and encoding never gives.
"""
import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

VOCAB_DIR = Path(__file__).parent / "vocab"
SHA256 = {  # of OpenAI's files, as tiktoken_ext/openai_public.py's gpt2() checks them
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}
END_OF_TEXT = "<|endoftext|>"


class InvalidVocab(ValueError):
    """A shipped vocabulary file that is not OpenAI's."""


@dataclass(frozen=True, eq=False)
class Vocab:
    """A byte-level BPE vocabulary: encoder {symbol: id} and merges, pairs of symbols in rank order (first = 0).

    eq=False: two vocabularies are the same only if they are one object, so a Vocab can key a cache.
    """

    encoder: dict[str, int]
    merges: list[tuple[str, str]]

    @cached_property
    def ranks(self) -> dict[tuple[str, str], int]:
        """{pair: rank}, what BPE looks a pair up in."""
        return {pair: rank for rank, pair in enumerate(self.merges)}

    @cached_property
    def decoder(self) -> dict[int, str]:
        """{id: symbol}, the inverse of encoder."""
        return {i: symbol for symbol, i in self.encoder.items()}


def read_official(name: str) -> str:
    """The text of reference/vocab/<name>.gz, checked to be OpenAI's file byte for byte."""
    data = gzip.decompress((VOCAB_DIR / f"{name}.gz").read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise InvalidVocab(f"{VOCAB_DIR / name}.gz: the SHA-256 of {name} is {digest}, not {SHA256[name]} as "
                           f"published for OpenAI's {name}; rebuild it with python -m "
                           "gpt2_conformance.cases.gpt2_vocab PATH/gpt2.tiktoken")
    return data.decode("utf-8")


def parse_merges(text: str) -> list[tuple[str, str]]:
    """The merges of a vocab.bpe text: every line between the version line and the final newline."""
    return [tuple(line.split()) for line in text.split("\n")[1:-1]]


@cache
def load() -> Vocab:
    """GPT-2's vocabulary (read and checked once per process)."""
    return Vocab(json.loads(read_official("encoder.json")), parse_merges(read_official("vocab.bpe")))
