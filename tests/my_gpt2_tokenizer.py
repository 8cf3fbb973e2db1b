"""A GPT-2 tokenizer written from the tokenizer protocol alone (gpt2_conformance.backends.tokenizer's docstring),
as a user would write one: it reads encoder.json and vocab.bpe from vocab.directory and shares no code with
the suite's reference. The tests certify it with every tokenizer property."""
import json
from functools import lru_cache

import regex

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities

SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def byte_alphabet():
    """{byte: the character vocab files write it as}: printable Latin-1 bytes as themselves, the others from 256 on."""
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


def joined(parts, pair):
    """parts with each occurrence of pair, from the left and not overlapping, made one part."""
    out, i = [], 0
    while i < len(parts):
        if tuple(parts[i:i + 2]) == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(parts[i])
            i += 1
    return out


class MyTokenizer:
    def __init__(self, directory):
        self.ids = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
        lines = (directory / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:-1]
        self.rank = {tuple(line.split(" ")): r for r, line in enumerate(lines)}
        self.symbols = {i: s for s, i in self.ids.items()}
        self.to_char = byte_alphabet()
        self.to_byte = {c: b for b, c in self.to_char.items()}
        self.merged = lru_cache(maxsize=None)(self._merged)

    def _merged(self, word):
        """BPE: join every occurrence of the adjacent pair of lowest rank until no adjacent pair has a rank."""
        parts = list(word)
        while len(parts) > 1:
            pair = min(zip(parts, parts[1:]), key=lambda p: self.rank.get(p, len(self.rank)))
            if pair not in self.rank:
                break
            parts = joined(parts, pair)
        return parts

    def encode(self, text):
        return [self.ids[symbol] for piece in SPLIT.findall(text)
                for symbol in self.merged("".join(self.to_char[b] for b in piece.encode("utf-8")))]

    def decode(self, ids):
        return bytes(self.to_byte[c] for i in ids for c in self.symbols[i]).decode("utf-8", errors="replace")


class MyTokenizerBackend:
    name = "my-gpt2-tokenizer"
    capabilities = TokenizerCapabilities()

    def load(self, vocab):
        return MyTokenizer(vocab.directory)


backend = MyTokenizerBackend()
