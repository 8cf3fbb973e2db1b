"""Hypothesis strategies for the tokenizer properties: texts, id sequences, and small byte-level BPE vocabularies.

A tokenizer property searches its strata one after another, each with its share of the examples (so each
is reached, and a bug that short texts show is reported with a short text): GPT-2's vocabulary with batches
of short texts, small drawn vocabularies with theirs, and long inputs.

A short text is a few pieces of kinds where tokenizers differ (characters of every Unicode general
category, whitespace runs, contractions in every case, digits, symbols, emoji, a space before punctuation,
decomposed characters, fragments of <|endoftext|>). A long one is a single piece of thousands of characters,
or a text of more than GPT-2's 1,024 ids (a tokenizer that truncates is seen); made from a drawn seed, its
cost stays bounded.

A small vocabulary is learned by BPE over a drawn corpus, so the merge algorithm is tested where GPT-2's
table never goes; a few merges are inserted that make a learned token from another pair, as GPT-2's never
does (there, ranking pairs by the token they make, as tiktoken does, parts from ranking the pairs). Short
texts come in batches: one text rarely shows a given bug of the pattern, a batch often. Everything shrinks
toward one short text and few merges.
"""
import random
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

from hypothesis import assume
from hypothesis import strategies as st

from gpt2_conformance.cases.golden_text import (
    CLEANED_UP,
    CONTRACTIONS,
    EMOJI,
    PHRASES,
    SPACES,
    category_characters,
    end_of_text_texts,
)
from gpt2_conformance.reference import bpe, vocab
from gpt2_conformance.reference.vocab import END_OF_TEXT, Vocab

CONTEXT = 1024  # GPT-2's n_ctx: texts of more ids than this are drawn
GPT2, SMALL, LONG = "GPT-2's vocabulary", "small vocabularies", "long inputs"  # the strata
SHARES = {GPT2: 2, SMALL: 2, LONG: 1}  # each stratum's weight in a property's examples
# Short texts an example encodes at most: one text rarely shows a given bug of the pattern (a contraction in
# upper case, a run of spaces before a word: 5-7% of short texts), a batch often; it shrinks to the one text.
BATCH = 12
# Small vocabularies an example draws at most: Hypothesis draws an example near the ones before it, and a
# bug of the merge order shows in about one small vocabulary of five; several make the examples differ.
VOCABULARIES = 4
WORD_LETTERS = string.ascii_letters + "éüßçñÅαβγдж你好"
SYMBOLS = string.punctuation + "“”‘’—…€©"
# What follows a contraction: word endings that BPE merges with the letter before them ("'Sam": S|am where
# 'S is taken as a contraction, Sam where it is not), so that taking one changes the ids.
CONTINUATIONS = ["am", "", "he", "ay", "on", "ing", "ome", "ell", "ee", "ad", "o", "ed", "AM", "HE", "ON", "ING"]
# Characters the small vocabularies are learned over: letters, a contraction, whitespace, a digit, a symbol,
# and characters of 2, 3 and 4 UTF-8 bytes (their merges join bytes of one character).
SMALL_ALPHABET = ["a", "b", "c", "d", "s", " ", "\n", "'", "1", "!", "é", "€", "你", "\U0001f44b"]
LONG_ALPHABETS = [string.ascii_lowercase, string.ascii_letters, "ab", "αβγδεζηθικλμ", "0123456789", SYMBOLS,
                  "".join(map(chr, range(0x4E00, 0x4E40)))]


class Named:
    """A vocabulary that counterexamples show by its repr. Hypothesis prints examples with a pretty printer of
    its own, which writes a dataclass field by field (GPT-2's encoder is 50,257 of them) unless told otherwise."""

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))


@dataclass(frozen=True, eq=False, repr=False)
class SmallVocab(Named, Vocab):
    """A byte-level vocabulary learned from a drawn corpus, which texts for it are drawn from. Its repr is its
    merges: its encoder follows from them (encoder_of)."""

    corpus: tuple = ()

    def __repr__(self):
        return f"SmallVocab(merges={self.merges})"


class GPT2Vocab(Named, Vocab):
    """GPT-2's vocabulary, shown by name."""

    def __repr__(self):
        return "GPT-2"


@cache
def gpt2():
    """GPT-2's vocabulary (read and checked once per process)."""
    official = vocab.load()
    return GPT2Vocab(official.encoder, official.merges)


@cache
def one_merge():
    """The smallest vocabulary a byte-level BPE file format holds: the 256 bytes and one merge (GGUF, for one,
    cannot store an empty merge list: ggml-org/llama.cpp PR #8774)."""
    return SmallVocab(encoder_of([("G", "P")]), [("G", "P")])


@cache
def characters():
    """A character of any general category but Cs (a lone surrogate is not text); each category as likely."""
    by_category = category_characters()
    return st.sampled_from([c for c in by_category if c != "Cs"]).flatmap(lambda c: st.sampled_from(by_category[c]))


def cased(word):
    """The word in every mix of upper and lower case (GPT-2's pattern takes contractions in lower case only)."""
    return st.tuples(*[st.sampled_from([c.lower(), c.upper()]) for c in word]).map("".join)


def run(unit, times, before, after):
    return before + unit * times + after


def repeated(unit, times):
    return unit * times


def random_word(seed, alphabet, length):
    return "".join(random.Random(seed).choices(alphabet, k=length))


def whitespace():
    """A run of spaces, newlines or tabs (which GPT-2 merges), of another space character, or of several mixed:
    where the pattern's lookahead decides the pieces."""
    return st.one_of(st.builds(repeated, st.sampled_from([" ", "\n", "\t"]), st.integers(1, 6)),
                     st.builds(repeated, st.sampled_from(SPACES), st.integers(1, 6)),
                     st.lists(st.sampled_from(SPACES), min_size=2, max_size=6).map("".join))


@cache
def pieces():
    """One piece of a short text."""
    fragments = sorted({END_OF_TEXT[i:j] for i in range(len(END_OF_TEXT)) for j in range(i + 1, len(END_OF_TEXT))})
    decomposed = [unicodedata.normalize("NFD", c) for c in "éÅñüçÖ한"] + ["\u212b", "\ufb01", "\u00bd"]
    return st.one_of(
        st.text(WORD_LETTERS, min_size=1, max_size=10),
        st.tuples(whitespace(), st.text(WORD_LETTERS, max_size=3)).map("".join),
        st.tuples(st.sampled_from(CONTRACTIONS).flatmap(cased), st.sampled_from(CONTINUATIONS)).map(
            lambda t: "'" + "".join(t)),
        st.lists(characters(), min_size=1, max_size=3).map("".join),
        st.text(string.digits, min_size=1, max_size=8),
        st.text(SYMBOLS, min_size=1, max_size=4),
        st.sampled_from(EMOJI),
        st.sampled_from(CLEANED_UP),
        st.sampled_from(decomposed),
        st.sampled_from(fragments),
        st.sampled_from(PHRASES),
    )


@cache
def short_texts():
    """Up to twelve pieces, joined; never <|endoftext|> itself (special_texts draws that)."""
    return st.lists(pieces(), max_size=12).map("".join).filter(lambda t: END_OF_TEXT not in t)


@cache
def long_texts():
    """One piece of thousands of characters (a run, as in tiktoken's #15, or a random word), a text of more
    than CONTEXT ids (each " word" is a piece, one id or more), or a short text repeated."""
    return st.one_of(
        st.builds(run, st.sampled_from(["a", "^", "0", "'s", " ", "\n", "€"]), st.integers(1000, 10_000),
                  st.sampled_from(["", " "]), st.sampled_from(["", "\n"])),
        st.builds(random_word, st.integers(0, 2**32 - 1), st.sampled_from(LONG_ALPHABETS), st.integers(1000, 2500)),
        st.builds(repeated, st.text(string.ascii_lowercase, min_size=1, max_size=6).map(lambda w: " " + w),
                  st.integers(CONTEXT + 1, CONTEXT + 200)),
        st.builds(repeated, short_texts().filter(bool), st.integers(50, 200)),
    )


@cache
def special_texts(stratum):
    """Texts holding <|endoftext|> among other text, short or long, and the golden texts made around it
    (fragments, other cases, neighbours), which every policy encodes as text but for <|endoftext|> itself."""
    if stratum == LONG:
        return st.tuples(long_texts(), short_texts()).map(END_OF_TEXT.join)
    return st.one_of(st.lists(short_texts(), min_size=2, max_size=4).map(END_OF_TEXT.join),
                     st.sampled_from(end_of_text_texts()))


def learned_merges(corpus, count):
    """Up to count merges learned by BPE over the corpus's pieces: each time the most frequent adjacent pair
    (ties: the least in sorted order), merged everywhere."""
    words = Counter(tuple(bpe.bytes_as_symbols(p.encode("utf-8"))) for text in corpus for p in bpe.pre_tokenize(text))
    merges = []
    while len(merges) < count:
        pairs = Counter()
        for word, n in words.items():
            for pair in pairwise(word):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, n in words.items():
            merged[bpe.merge(word, best)] += n
        words = merged
    return merges


def other_splits(merges):
    """Pairs of tokens that make a token the merges make, split elsewhere: a second way to reach it."""
    tokens = set(bpe.bytes_to_unicode().values()) | {a + b for a, b in merges}
    made = set(merges)
    return sorted({(t[:i], t[i:]) for t in (a + b for a, b in merges) for i in range(1, len(t))
                   if t[:i] in tokens and t[i:] in tokens and (t[:i], t[i:]) not in made})


def encoder_of(merges):
    """{symbol: id}: the 256 bytes numbered as GPT-2 numbers them, then each token in the order the merges first
    make it (one id for a token that several merges make)."""
    symbols = [*bpe.bytes_to_unicode().values(), *(a + b for a, b in merges)]
    return {symbol: i for i, symbol in enumerate(dict.fromkeys(symbols))}


@st.composite
def small_vocabularies(draw):
    """A SmallVocab: merges learned over a drawn corpus, with one to four merges inserted that make a learned
    token from another pair (where one can be split otherwise), each before the merge that made it: the
    token is first made by the new pair, and the pair the corpus uses ranks later."""
    alphabet = draw(st.lists(st.sampled_from(SMALL_ALPHABET), min_size=1, max_size=6, unique=True))
    corpus = draw(st.lists(st.text(alphabet, min_size=1, max_size=12), min_size=1, max_size=10))
    merges = learned_merges(corpus, draw(st.integers(1, 40)))
    assume(merges)  # a corpus of single bytes learns none; a vocabulary has merges (see one_merge)
    splits = other_splits(merges)
    for pair in draw(st.lists(st.sampled_from(splits), min_size=1, max_size=4, unique=True)) if splits else []:
        first = next(i for i, (a, b) in enumerate(merges) if a + b == pair[0] + pair[1])
        merges.insert(draw(st.integers(0, first)), pair)
    return SmallVocab(encoder_of(merges), merges, tuple(corpus))


def shares(strata, examples):
    """[(stratum, examples)]: each stratum its share of the examples, one at least; [(None, examples)] for a
    property without strata."""
    if not strata:
        return [(None, examples)]
    total = sum(SHARES[s] for s in strata)
    rest = [(s, max(1, round(examples * SHARES[s] / total))) for s in strata[1:]]
    return [(strata[0], max(1, examples - sum(n for _, n in rest))), *rest]


def texts_for(v):
    """Texts for a small vocabulary: words of its corpus and its characters, once or repeated, joined."""
    parts = st.sampled_from(sorted(set(v.corpus) | set("".join(v.corpus))))
    parts = st.one_of(parts, st.builds(repeated, parts, st.integers(2, 8)))
    return st.lists(parts, min_size=1, max_size=8).map("".join)


def batches(inputs):
    return st.lists(inputs, min_size=1, max_size=BATCH)


def with_gpt2(inputs):
    """[(GPT-2's vocabulary, inputs)]."""
    return inputs.map(lambda drawn: [(gpt2(), drawn)])


def with_small_vocabularies(inputs_for):
    """[(small vocabulary, inputs_for(it))] for up to VOCABULARIES small vocabularies."""
    pairs = small_vocabularies().flatmap(lambda v: inputs_for(v).map(lambda drawn: (v, drawn)))
    return st.lists(pairs, min_size=1, max_size=VOCABULARIES)


@cache
def encodings(stratum):
    """[(vocabulary, texts)] to encode: GPT-2's with up to BATCH short texts, up to VOCABULARIES small ones each
    with its texts, or GPT-2's with one long text."""
    return {GPT2: with_gpt2(batches(short_texts())),
            SMALL: with_small_vocabularies(lambda v: batches(texts_for(v))),
            LONG: with_gpt2(long_texts().map(lambda text: [text]))}[stratum]


def cut(ids, start, length):
    return ids[start:start + length]


def joined(sequences):
    return [i for ids in sequences for i in ids]


def id_sequences(v, texts):
    """Ids to decode with vocabulary v: any of its ids; single bytes (which need not make UTF-8); slices of the
    encodings of texts, which cut multi-byte characters where a character spans several ids; and encodings of
    texts joined, whose ids meet where encoding never puts them (" " then ".", where BPE has " .")."""
    encoded = texts.map(lambda text: bpe.encode(text, v))
    return st.one_of(
        st.lists(st.integers(0, len(v.encoder) - 1), max_size=16),
        st.lists(st.integers(0, 255), max_size=12),
        st.builds(cut, encoded, st.integers(0, 40), st.integers(1, 40)),
        st.lists(encoded, min_size=2, max_size=4).map(joined),
    )


def random_ids(seed, n_vocab, length):
    return random.Random(seed).choices(range(n_vocab), k=length)


def long_id_sequences(v):
    """More than CONTEXT ids: drawn at random, or a short sequence repeated."""
    return st.one_of(st.builds(random_ids, st.integers(0, 2**32 - 1), st.just(len(v.encoder)),
                               st.integers(CONTEXT + 1, 3 * CONTEXT)),
                     st.builds(repeated, id_sequences(v, short_texts()).filter(bool),
                               st.integers(CONTEXT + 1, CONTEXT + 200)))


@cache
def decodings(stratum):
    """[(vocabulary, id sequences)] to decode, as encodings() draws texts."""
    return {GPT2: with_gpt2(batches(id_sequences(gpt2(), short_texts()))),
            SMALL: with_small_vocabularies(lambda v: batches(id_sequences(v, texts_for(v)))),
            LONG: with_gpt2(long_id_sequences(gpt2()).map(lambda ids: [ids]))}[stratum]
