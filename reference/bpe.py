"""GPT-2's byte-level BPE tokenizer, after openai/gpt-2 src/encoder.py and karpathy/minbpe: text -> ids -> text.

Encoding goes in three steps. PATTERN splits the text into pieces (a word or a number with the space before
it, a run of other symbols, a run of whitespace, a contraction); each piece's UTF-8 bytes are written as one
printable character per byte (bytes_to_unicode); bpe() merges the piece's adjacent symbols, the pair of lowest
rank first, and each resulting symbol is looked up in the vocabulary. A piece never merges with its
neighbours. Decoding joins the symbols of the ids and maps their characters back to bytes.

What the official code does is the spec, quirks included: the contractions are lowercase only ("'S" is not
one), the text is not normalized, "<|endoftext|>" in a text is ordinary text (seven ids, never 50256), a
text that is not valid Unicode (a lone surrogate) raises UnicodeEncodeError, and decoding replaces bytes
that are not UTF-8 (a multi-byte character cut by the ids) with U+FFFD.

A vocabulary is any byte-level one, GPT-2's or a small drawn one (gpt2_conformance.reference.vocab.Vocab):
every symbol a piece can end as (each of its 256 bytes, and each merge of two symbols) must have an id.
"""
from functools import cache
from itertools import pairwise

import regex

from gpt2_conformance.reference.vocab import Vocab

# GPT-2's pre-tokenization, exactly. \p{L} and \p{N} need the `regex` package (Python's `re` has neither), the
# contractions are case-sensitive, and \s+(?!\S) leaves the last of a run of spaces to the word after it.
PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


@cache
def bytes_to_unicode() -> dict[int, str]:
    """{byte: character}, in the order of GPT-2's ids 0-255.

    The 188 bytes that are printable Latin-1 characters stand for themselves; the other 68 (controls, space,
    no-break space, soft hyphen) get chr(256), chr(257), ... in byte order. So every symbol is printable text
    without whitespace, and vocab.bpe can separate the two symbols of a merge by a space.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}


@cache
def unicode_to_bytes() -> dict[str, int]:
    """{character: byte}, the inverse of bytes_to_unicode."""
    return {c: b for b, c in bytes_to_unicode().items()}


def bytes_as_symbols(data: bytes) -> str:
    """The bytes written in the vocabulary's alphabet, one character per byte."""
    alphabet = bytes_to_unicode()
    return "".join(alphabet[b] for b in data)


def symbols_as_bytes(symbols: str) -> bytes:
    """The bytes that characters of the vocabulary's alphabet stand for."""
    byte_of = unicode_to_bytes()
    return bytes(byte_of[c] for c in symbols)


def pre_tokenize(text: str) -> list[str]:
    """The pieces of a text that BPE encodes one by one; they concatenate to the text."""
    return PATTERN.findall(text)


def get_pairs(word: tuple[str, ...]) -> set[tuple[str, str]]:
    """The pairs of adjacent symbols in a word."""
    return set(pairwise(word))


def merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    """The word with every occurrence of the pair, left to right and not overlapping, made one symbol."""
    merged, i = [], 0
    while i < len(word):
        if word[i:i + 2] == pair:
            merged.append(pair[0] + pair[1])
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def bpe(token: str, ranks: dict[tuple[str, str], int]) -> tuple[str, ...]:
    """The symbols a token (one character per byte) ends as: from single characters, merge the adjacent pair
    of lowest rank until no adjacent pair has a rank. Ranks are those of pairs, as in vocab.bpe, not of the
    merged symbols (as tiktoken ranks them); the two agree when each symbol is made by one merge only.
    """
    word = tuple(token)
    while len(word) > 1:
        pair = min(get_pairs(word), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            break
        word = merge(word, pair)
    return word


def encode(text: str, vocab: Vocab) -> list[int]:
    """The ids of a text: each piece's UTF-8 bytes, merged by BPE, looked up in the vocabulary."""
    return [vocab.encoder[symbol]
            for piece in pre_tokenize(text)
            for symbol in bpe(bytes_as_symbols(piece.encode("utf-8")), vocab.ranks)]


def decode(ids: list[int], vocab: Vocab) -> str:
    """The text of ids: the bytes of their symbols, decoded as UTF-8 with U+FFFD for what is not UTF-8."""
    return symbols_as_bytes("".join(vocab.decoder[i] for i in ids)).decode("utf-8", errors="replace")
