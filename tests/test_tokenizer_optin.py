"""The opt-in tokenizers, keras-hub and llama-cpp (each skipped where its library is not installed): their
declared special-text policy, what they make of small drawn vocabularies, and their certification at the ci
profile, with each deviation pinned to its upstream cause, so that a fix upstream shows here.

keras-hub (Keras Hub 0.32, called eagerly) runs its Python workflow, whose pre-tokenizer is
`pre_tokenizers.Split(<GPT-2's pattern as a str>)`: `tokenizers` takes a str pattern literally
(huggingface/tokenizers#1565), nothing matches, and the whole text is one BPE word. Traced (tf.function,
tf.data), it runs tf-text, which stands in for the lookahead with a marker before a space only ("\\n\\nA")
and drops the text after a NUL (RE2 on a C string, tensorflow/text#997). Neither path can load a
vocabulary without merges: Keras Hub builds a TensorFlow hash table of the merges, and an empty list
makes it float32, for which TensorFlow has no kernel.

llama-cpp encodes as encoder.py does, but llama-cpp-python decodes a token of more than 32 bytes as nothing
(abetlen/llama-cpp-python#2362). It cannot load a vocabulary without merges either: the gguf package refuses
to write an empty array (ggml-org/llama.cpp PR #8774) and llama.cpp requires the merges of a "gpt2"
tokenizer. The suite draws no such vocabulary (cases/text.py: no byte-level BPE file ships one).
"""
import time

import pytest

from gpt2_conformance.backends import BackendError, Subject, resolve
from gpt2_conformance.backends.tokenizer import BUNDLED_TOKENIZERS, guarded_load_tokenizer
from gpt2_conformance.cases import profiles, text
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.outcomes import Status
from gpt2_conformance.properties import REGISTRY, ids_of
from gpt2_conformance.reference import bpe

BUDGET = 20.0  # CPU seconds for one tokenizer's properties at the ci profile
END_OF_TEXT_AS_TEXT = [27, 91, 437, 1659, 5239, 91, 29]
MERGES = [("a", "b"), ("Ġ", "a"), ("Ġa", "b"), ("'", "s")]  # a small byte-level vocabulary's merges
NO_MERGES = text.SmallVocab(text.encoder_of([]), [], ("a",))


def resolve_tokenizer(spec):
    return resolve(spec, Subject.TOKENIZER)


def small_vocab(merges=MERGES):
    return text.SmallVocab(text.encoder_of(merges), merges, ("ab ab's",))


def run_all(spec):
    """{property: PropertyResult} of every tokenizer property at the ci profile, and the CPU seconds they took."""
    backend, start = resolve_tokenizer(spec), time.process_time()
    ci = profiles.get("ci")
    results = {pid: run_property(REGISTRY[pid], backend, settings=ci) for pid in ids_of(Subject.TOKENIZER)}
    return results, time.process_time() - start


def statuses(results):
    return {pid: r.status for pid, r in results.items()}


def test_the_opt_in_tokenizers_are_bundled_with_their_extras_and_why_they_are_opt_in():
    assert {name: (b.extra, bool(b.opt_in)) for name, b in BUNDLED_TOKENIZERS.items() if b.opt_in} == {
        "keras-hub": ("keras", True), "llama-cpp": ("llama", True)}


@pytest.fixture(scope="module")
def keras_hub():
    pytest.importorskip("keras_hub")
    pytest.importorskip("tensorflow_text")
    return resolve_tokenizer("keras-hub")


@pytest.fixture(scope="module")
def keras_hub_gpt2(keras_hub):
    return guarded_load_tokenizer(keras_hub, text.gpt2())


def test_keras_hub_is_configured_to_encode_end_of_text_as_text(keras_hub, keras_hub_gpt2):
    assert keras_hub.capabilities.special_text == "text"
    assert keras_hub_gpt2.encode("<|endoftext|>") == END_OF_TEXT_AS_TEXT
    assert keras_hub_gpt2.decode([50256, 11]) == "<|endoftext|>,"


def test_keras_hub_eagerly_encodes_the_whole_text_as_one_word(keras_hub_gpt2):
    """Its Split pre-tokenizer gets the pattern as a str, which `tokenizers` matches literally: "'day" is BPE'd
    whole ("'", "day"), where GPT-2's pattern splits off the contraction ("'d", "ay")."""
    assert bpe.encode("'day", text.gpt2()) == [1549, 323]
    assert keras_hub_gpt2.encode("'day") == [6, 820]
    assert keras_hub_gpt2.tokenizer.tokenizer._tokenizer.pre_tokenizer.pre_tokenize_str("a b") == [("aĠb", (0, 3))]


def test_keras_hub_loads_a_small_vocabulary_but_not_one_without_merges(keras_hub):
    small = small_vocab()
    assert guarded_load_tokenizer(keras_hub, small).encode("ab ab") == bpe.encode("ab ab", small)
    with pytest.raises(BackendError, match="keras-hub cannot load the vocabulary .*HashTableV2.*DT_FLOAT"):
        guarded_load_tokenizer(keras_hub, NO_MERGES)


def test_keras_hub_on_tf_text_misses_the_lookahead_and_drops_what_follows_a_nul(keras_hub):
    traced = guarded_load_tokenizer(resolve_tokenizer("gpt2_conformance.backends.adapters.tok_keras_hub:tf_text"),
                                    text.gpt2())
    assert traced.encode("<|endoftext|>") == END_OF_TEXT_AS_TEXT
    assert (traced.encode("\n\nA"), bpe.encode("\n\nA", text.gpt2())) == ([628, 32], [198, 198, 32])
    assert (traced.encode("a\x00b"), bpe.encode("a\x00b", text.gpt2())) == ([64], [64, 188, 65])


def test_keras_hub_certified_at_the_ci_profile(keras_hub):
    """Not certified: with no pre-tokenization, encoding differs wherever GPT-2's pattern would split a word;
    decoding and the round trip hold."""
    results, seconds = run_all("keras-hub")
    assert statuses(results) == {"encode_official": Status.FAILED, "decode_official": Status.PASSED,
                                 "roundtrip": Status.PASSED, "golden_tokenization": Status.FAILED,
                                 "special_text": Status.FAILED}
    assert "the ids of \"'day\"" in results["encode_official"].message
    assert seconds <= BUDGET, f"keras-hub: {seconds:.1f} CPU seconds at the ci profile"


@pytest.fixture(scope="module")
def llama_cpp():
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    return resolve_tokenizer("llama-cpp")


@pytest.fixture(scope="module")
def llama_cpp_gpt2(llama_cpp):
    return guarded_load_tokenizer(llama_cpp, text.gpt2())


def test_llama_cpp_encodes_end_of_text_as_text_and_decodes_it_as_its_text(llama_cpp, llama_cpp_gpt2):
    assert llama_cpp.capabilities.special_text == "text"
    assert llama_cpp_gpt2.encode("<|endoftext|>") == END_OF_TEXT_AS_TEXT
    assert llama_cpp_gpt2.decode([50256, 11]) == "<|endoftext|>,"


def test_llama_cpp_python_decodes_a_token_of_more_than_32_bytes_as_nothing(llama_cpp_gpt2):
    """LlamaModel.detokenize gives llama_token_to_piece 32 bytes; a longer piece returns its size negated, and
    buffer[:-64] is empty (abetlen/llama-cpp-python#2362). Token 10097 is 64 hyphens."""
    assert bpe.decode([10097], text.gpt2()) == "-" * 64
    assert llama_cpp_gpt2.encode("-" * 64) == [10097]
    assert llama_cpp_gpt2.decode([10097]) == ""


def test_llama_cpp_loads_a_small_vocabulary_but_not_one_without_merges(llama_cpp, tmp_path):
    import gguf

    from gpt2_conformance.backends.adapters.tok_llama_cpp import write_vocab_gguf

    small = small_vocab()
    assert guarded_load_tokenizer(llama_cpp, small).encode("ab ab's") == bpe.encode("ab ab's", small)
    write_vocab_gguf(NO_MERGES, tmp_path / "no-merges.gguf")
    assert "tokenizer.ggml.merges" not in gguf.GGUFReader(tmp_path / "no-merges.gguf").fields, "gguf writes no []"
    with pytest.raises(BackendError, match="llama-cpp cannot load the vocabulary"):
        guarded_load_tokenizer(llama_cpp, NO_MERGES)


def test_llama_cpp_certified_at_the_ci_profile(llama_cpp):
    """Not certified: the search finds the 32-byte buffer on a small vocabulary whose token is eleven '€' (33
    bytes), decoded as nothing; encoding matches encoder.py on every stratum."""
    results, seconds = run_all("llama-cpp")
    assert statuses(results) == {"encode_official": Status.PASSED, "decode_official": Status.FAILED,
                                 "roundtrip": Status.FAILED, "golden_tokenization": Status.PASSED,
                                 "special_text": Status.PASSED}
    assert "nothing where the reference has" in results["roundtrip"].message
