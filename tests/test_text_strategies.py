"""The tokenizer strategies draw what cases/text.py says they draw: every general category, texts of more than
1,024 ids and words of thousands of characters, ids that cut multi-byte characters, and small byte-level
vocabularies whose ids and merges are consistent, with tokens made by two merges."""
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from gpt2_conformance.cases import text
from gpt2_conformance.cases.golden_text import category_characters
from gpt2_conformance.reference import bpe
from gpt2_conformance.reference.vocab import END_OF_TEXT

QUICK = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# whether something is drawn at all: no shrinking, which would re-encode long texts hundreds of times
DRAWN = settings(QUICK, max_examples=300, phases=[Phase.generate])
GPT2 = text.gpt2()


@pytest.mark.parametrize("category", sorted(set(category_characters()) - {"Cs"}))
def test_characters_of_every_category_are_drawn(category):
    find(text.characters(), lambda c: c in category_characters()[category], settings=DRAWN)


@QUICK
@given(text.characters())
def test_no_lone_surrogate_is_drawn(c):
    assert not "\ud800" <= c <= "\udfff"


@pytest.mark.parametrize(("what", "condition"), [
    ("a text of more than 1,024 ids", lambda t: len(bpe.encode(t, GPT2)) > text.CONTEXT),
    ("a single piece of thousands of characters", lambda t: max(map(len, bpe.pre_tokenize(t))) >= 1000),
])
def test_long_inputs_are_drawn(what, condition):
    assert condition(find(text.long_texts(), condition, settings=DRAWN)), what


def test_short_texts_never_hold_end_of_text_and_special_texts_do():
    find(text.special_texts(text.GPT2), lambda t: END_OF_TEXT in t and t != END_OF_TEXT, settings=DRAWN)

    @QUICK
    @given(text.short_texts())
    def never(t):
        assert END_OF_TEXT not in t

    never()


def test_decoded_ids_cut_multi_byte_characters():
    def cuts(batch):
        return any("\ufffd" in bpe.decode(ids, v) for v, sequences in batch for ids in sequences)

    find(text.decodings(text.GPT2), cuts, settings=DRAWN)


@QUICK
@given(text.small_vocabularies())
def test_a_small_vocabulary_numbers_its_tokens_as_gpt2s_files_do(v):
    symbols = list(bpe.bytes_to_unicode().values())
    assert [v.encoder[s] for s in symbols] == list(range(256))
    assert sorted(v.encoder.values()) == list(range(len(v.encoder)))
    assert all(a in v.encoder and b in v.encoder and a + b in v.encoder for a, b in v.merges)
    assert bpe.decode(bpe.encode("".join(v.corpus), v), v) == "".join(v.corpus)


def test_a_small_vocabulary_can_make_a_token_by_two_merges():
    v = find(text.small_vocabularies(), lambda v: len({a + b for a, b in v.merges}) < len(v.merges), settings=DRAWN)
    assert len(v.encoder) < 256 + len(v.merges)


def test_merges_are_learned_most_frequent_pair_first():
    # a b: 3 times; then ab ab and Ġ ab once each, the tie to the least in sorted order (Ġ is U+0120)
    assert text.learned_merges(["abab ab"], 10) == [("a", "b"), ("ab", "ab"), ("Ġ", "ab")]


@pytest.mark.parametrize(("strata", "examples", "shares"), [
    ((text.GPT2, text.SMALL, text.LONG), 50, [(text.GPT2, 20), (text.SMALL, 20), (text.LONG, 10)]),
    ((text.GPT2, text.LONG), 50, [(text.GPT2, 33), (text.LONG, 17)]),
    ((text.GPT2, text.SMALL, text.LONG), 2, [(text.GPT2, 1), (text.SMALL, 1), (text.LONG, 1)]),
    ((), 50, [(None, 50)]),
])
def test_each_stratum_gets_its_share_of_the_examples(strata, examples, shares):
    assert text.shares(strata, examples) == shares
