"""Broken GPT-2 tokenizers: each the reference tokenizer (reference.bpe) with one real, cited bug, to prove that
the tokenizer properties can fail. A mutant replaces functions or constants of reference.bpe while its
encode and decode run; each names the real bug it stands for and the property meant to kill it.
"""
import unicodedata
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from unittest import mock

import regex

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.reference import bpe
from gpt2_conformance.reference.vocab import END_OF_TEXT, Vocab

REQUIRES = ("regex",)
CONTEXT = 1024  # GPT-2's n_ctx, where truncating tokenizers cut
GPT2_PATTERN = bpe.PATTERN.pattern
_encode, _decode = bpe.encode, bpe.decode
NEVER = float("inf")  # the rank of a pair that makes no token


@dataclass(frozen=True)
class TokenizerMutant:
    name: str
    bug: str
    cite: str
    kills: tuple  # the properties meant to catch it
    patches: dict = field(default_factory=dict)  # reference.bpe name -> replacement
    capabilities: TokenizerCapabilities = TokenizerCapabilities()
    expected: tuple = ()  # an expectation file's entries it is certified with, as a model mutant's (selftest)

    def load(self, vocab):
        return MutantTokenizer(self.patches, Vocab(vocab.encoder, vocab.merges))


class MutantTokenizer:
    def __init__(self, patches, vocab):
        # each word's merges memoized, as encoder.py's own cache does: the mutant's bug at the speed of a real
        # tokenizer, so that the selftest over every property stays cheap (BPE is a function of the word alone)
        self.patches, self.vocab = {**patches, "bpe": _memoized(patches.get("bpe", bpe.bpe))}, vocab

    def encode(self, text):
        with mock.patch.multiple(bpe, **self.patches):
            return bpe.encode(text, self.vocab)

    def decode(self, ids):
        with mock.patch.multiple(bpe, **self.patches):
            return bpe.decode(ids, self.vocab)


def _memoized(merge):
    """merge(token, ranks) remembered per token: one tokenizer has one vocabulary, so one ranks."""
    words = {}

    def memo(token, ranks):
        if token not in words:
            words[token] = merge(token, ranks)
        return words[token]

    return memo


def _pattern(old, new):
    """GPT-2's pattern with one part written otherwise."""
    assert old in GPT2_PATTERN, old
    return regex.compile(GPT2_PATTERN.replace(old, new))


def _end_of_text_special(text, vocab):
    """<|endoftext|> in the text matched as the special token, the text between encoded as usual."""
    parts = [_encode(part, vocab) for part in text.split(END_OF_TEXT)]
    return [i for n, part in enumerate(parts) for i in ([vocab.encoder[END_OF_TEXT]] if n else []) + part]


def _prefix_space(text, vocab):
    return _encode(text if text.startswith(" ") else " " + text, vocab)


def _truncated(text, vocab):
    return _encode(text, vocab)[:CONTEXT]


def _nfc(text, vocab):
    return _encode(unicodedata.normalize("NFC", text), vocab)


def _words_without_spaces(text, vocab):
    return [i for word in text.split() for i in _encode(word, vocab)]


def _code_points_as_bytes(text, vocab):
    """Each character looked up in the byte table by its code point instead of by its UTF-8 bytes."""
    table = bpe.bytes_to_unicode()
    return [vocab.encoder[symbol] for piece in bpe.pre_tokenize(text)
            for symbol in bpe.bpe("".join(table[ord(c)] for c in piece), vocab.ranks)]


@lru_cache(maxsize=4)  # per vocabulary: GPT-2's, and the small one at hand
def _longest_token(vocab):
    return max(map(len, vocab.encoder))


def _longest_matches(symbols, vocab):
    """ggml's gpt_tokenize: the longest token of the vocabulary that starts the rest of the word, again and again."""
    matched, i = [], 0
    while i < len(symbols):
        j = next(j for j in range(min(len(symbols), i + _longest_token(vocab)), i, -1)
                 if symbols[i:j] in vocab.encoder or j == i + 1)
        matched.append(symbols[i:j])
        i = j
    return matched


def _greedy_encode(text, vocab):
    return [vocab.encoder[symbol] for piece in bpe.pre_tokenize(text)
            for symbol in _longest_matches(bpe.bytes_as_symbols(piece.encode("utf-8")), vocab)]


def _leftmost_pair_first(token, ranks):
    """Merge the leftmost adjacent pair that has a rank, whatever its rank, until none has one."""
    word = tuple(token)
    while pair := next((p for p in pairwise(word) if p in ranks), None):
        word = bpe.merge(word, pair)
    return word


@lru_cache(maxsize=4)
def _token_ranks(vocab):
    """{token: the rank of the first merge that makes it}, as tiktoken's mergeable ranks number tokens."""
    ranks = {}
    for rank, (a, b) in enumerate(vocab.merges):
        ranks.setdefault(a + b, rank)
    return ranks


def _merged_token_rank(token, vocab):
    """tiktoken's byte_pair_merge: merge the leftmost adjacent pair whose concatenation is the token of lowest
    rank (any pair that makes a token), one pair at a time; each merge re-ranks its neighbours' pairs."""
    ranks, word = _token_ranks(vocab), list(token)
    pair_ranks = [ranks.get(a + b, NEVER) for a, b in pairwise(word)]
    while pair_ranks and (lowest := min(pair_ranks)) != NEVER:
        i = pair_ranks.index(lowest)
        word[i:i + 2] = [word[i] + word[i + 1]]
        del pair_ranks[i]
        if i > 0:
            pair_ranks[i - 1] = ranks.get(word[i - 1] + word[i], NEVER)
        if i < len(pair_ranks):
            pair_ranks[i] = ranks.get(word[i] + word[i + 1], NEVER)
    return word


_TOKEN_RANK_WORDS = weakref.WeakKeyDictionary()  # {vocabulary: {word: its symbols}}: gone with the vocabulary


def _token_rank_merged(symbols, vocab):
    """_merged_token_rank remembered per word, as _memoized remembers bpe's."""
    words = _TOKEN_RANK_WORDS.setdefault(vocab, {})
    if symbols not in words:
        words[symbols] = _merged_token_rank(symbols, vocab)
    return words[symbols]


def _token_rank_encode(text, vocab):
    return [vocab.encoder[symbol] for piece in bpe.pre_tokenize(text)
            for symbol in _token_rank_merged(bpe.bytes_as_symbols(piece.encode("utf-8")), vocab)]


def _decoded(errors):
    def decode(ids, vocab):
        return bpe.symbols_as_bytes("".join(vocab.decoder[i] for i in ids)).decode("utf-8", errors=errors)

    return decode


# transformers' clean_up_tokenization_spaces: what it removes, in its order
CLEAN_UP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def _cleaned_up(ids, vocab):
    text = _decode(ids, vocab)
    for old, new in CLEAN_UP:
        text = text.replace(old, new)
    return text


TOKENIZER_MUTANTS = {m.name: m for m in [
    # pre-tokenization
    TokenizerMutant(
        "lookahead_lost", r"the pattern without \s+(?!\S) (RE2 has no lookahead): a run of spaces keeps its last "
        "space instead of leaving it to the next word",
        "wangkuiyi/huggingface-tokenizer-in-cxx#10; NVIDIA/TensorRT-Model-Connect PR #942 ('a  b' -> a|  |b)",
        ("encode_official",), {"PATTERN": _pattern(r"|\s+(?!\S)|\s+", r"|\s+")}),
    TokenizerMutant(
        "ascii_letter_classes", r"[A-Za-z] and [0-9] for \p{L} and \p{N}: ' café' splits after 'caf'",
        "ggml examples/common.cpp std::regex (ggml-org/llama.cpp PR #6920, #3252); tinygrad PR #8349",
        ("encode_official",),
        {"PATTERN": _pattern(r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+", r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+")}),
    TokenizerMutant(
        "case_insensitive_contractions", "contractions matched in any case: \"'Sam\" -> 'S|am",
        "tiktoken-go/tokenizer#24; keras-hub byte_pair_tokenizer.py's (?i:'s|...) pattern", ("encode_official",),
        {"PATTERN": _pattern("'s|'t|'re|'ve|'m|'ll|'d", "(?i:'s|'t|'re|'ve|'m|'ll|'d)")}),
    TokenizerMutant(
        "contraction_l_l_typo", "the contraction 'll written 'l l: \"we'll\" -> [732, 6, 297]",
        "latitudegames/GPT-3-Encoder#5 (fixed in 80a424b)", ("golden_tokenization",),
        {"PATTERN": _pattern("'ll", "'l l")}),
    TokenizerMutant(
        "spaces_dropped", "no byte-level pre-tokenizer: words split at whitespace, which is lost",
        "huggingface/tokenizers#905 ('abc abc' -> 'abcabc'); dotnet/machinelearning PR #7716", ("roundtrip",),
        {"encode": _words_without_spaces}),
    # the text before encoding
    TokenizerMutant(
        "prefix_space_added", "a space added before a text that has none: 'my' -> 616, not 1820",
        "huggingface/transformers#1880; microsoft/BlingFire#113", ("encode_official",), {"encode": _prefix_space}),
    TokenizerMutant(
        "nfc_normalized", "the text NFC-normalized first: 'e\u0301' comes back as '\u00e9'",
        "analogues: ggml-org/llama.cpp#5496 (NFD 'Kant\u014d' -> 'Kant'), huggingface/transformers PR #22280",
        ("roundtrip",), {"encode": _nfc}),
    TokenizerMutant(
        "end_of_text_as_special", "<|endoftext|> in a text encoded as id 50256 by a tokenizer that declares the "
        "official policy (text)", "keras-team/keras-hub#703", ("special_text",), {"encode": _end_of_text_special}),
    TokenizerMutant(
        "truncated_to_context", "the ids cut to GPT-2's 1,024 without a word",
        "stanford-crfm/helm PR #515; huggingface/transformers#17682", ("encode_official",), {"encode": _truncated}),
    # bytes
    TokenizerMutant(
        "code_points_as_bytes", "characters looked up in the byte table by code point, not by UTF-8 bytes: KeyError "
        "above U+00FF, wrong bytes from U+0080", "huggingface/transformers#537", ("roundtrip",),
        {"encode": _code_points_as_bytes}),
    # merging
    TokenizerMutant(
        "greedy_longest_match", "the longest matching token, not BPE: ' gracefully' -> [44363, 306]",
        "ggml-org/ggml#170", ("golden_tokenization",), {"encode": _greedy_encode}),
    TokenizerMutant(
        "leftmost_pair_first", "the leftmost mergeable pair merged first, not the lowest-ranked: "
        "'brutalist' -> br|ut|alist", "ztxz16/fastllm PR #715; rasbt/LLMs-from-scratch#558", ("golden_tokenization",),
        {"bpe": _leftmost_pair_first}),
    TokenizerMutant(
        "merged_token_rank", "pairs ranked by the token they make (its first merge), any pair that makes a token "
        "merged, one at a time: differs where a token is made by several pairs", "karpathy/minbpe#11",
        ("encode_official",), {"encode": _token_rank_encode}),
    # decoding
    TokenizerMutant(
        "decode_ignores_invalid_bytes", "decoding with errors='ignore': a cut character vanishes instead of "
        "becoming U+FFFD", "keras-team/keras-hub PR #1150; Blaizzy/mlx-vlm PR #835", ("decode_official",),
        {"decode": _decoded("ignore")}),
    TokenizerMutant(
        "decode_strict", "decoding with errors='strict': ids that cut a character raise",
        "guillaume-be/rust-tokenizers PR #13; Blaizzy/mlx-vlm#851; oobabooga/textgen PR #6357", ("decode_official",),
        {"decode": _decoded("strict")}),
    TokenizerMutant(
        "decode_cleans_up_spaces", "clean_up_tokenization_spaces on decode: [88, 318, 5633] -> 'y is?'",
        "huggingface/transformers#21119; huggingface/tokenizers#1164; openai/tiktoken#34", ("decode_official",),
        {"decode": _cleaned_up}),
]}


def __getattr__(name):  # gpt2_conformance.mutants.tokenizers:lookahead_lost as a tokenizer spec
    if name in TOKENIZER_MUTANTS:
        return TOKENIZER_MUTANTS[name]
    raise AttributeError(name)
