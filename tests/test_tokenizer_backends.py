"""Tokenizer backends: the vocabulary a backend is given, the guard around every loaded tokenizer, the registry
of bundled tokenizers, and the subject that keeps model and tokenizer properties apart."""
import gc
import hashlib

import numpy as np
import pytest

from gpt2_conformance.backends import BackendError, Capabilities, Subject, resolve
from gpt2_conformance.backends.adapters.tok_reference import ReferenceTokenizer
from gpt2_conformance.backends.tokenizer import (
    BUNDLED_TOKENIZERS,
    BackendVocab,
    InvalidText,
    Refused,
    TokenizerCapabilities,
    guarded_load_tokenizer,
)
from gpt2_conformance.properties import REGISTRY, applicable
from gpt2_conformance.reference import vocab
from gpt2_conformance.reference.params import InvalidInput

GPT2 = vocab.load()


class Returns:
    """A tokenizer backend whose encode and decode return what it is told, and which records its calls."""

    name = "returns"
    capabilities = TokenizerCapabilities()

    def __init__(self, encoded=(), decoded="", raises=None):
        self.encoded, self.decoded, self.raises, self.calls = encoded, decoded, raises, []

    def load(self, given):
        return self

    def encode(self, text):
        self.calls.append(text)
        if self.raises:
            raise self.raises
        return self.encoded

    def decode(self, ids):
        self.calls.append(ids)
        return self.decoded


def resolve_tokenizer(spec):
    return resolve(spec, Subject.TOKENIZER)


def test_a_backend_gets_openais_files_byte_for_byte():
    given = BackendVocab(GPT2.encoder, GPT2.merges)
    for name, digest in vocab.SHA256.items():
        assert hashlib.sha256((given.directory / name).read_bytes()).hexdigest() == digest


def test_a_backend_that_changes_its_vocabulary_changes_only_its_own():
    class Clears(Returns):
        def load(self, given):
            given.encoder.clear()
            given.merges.clear()
            return self

    guarded = guarded_load_tokenizer(Clears([50256]), GPT2)
    assert len(GPT2.encoder) == 50257 and len(GPT2.merges) == 50000
    assert guarded.encode("<|endoftext|>") == [50256], "its ids are still checked against the suite's vocabulary"


def test_the_vocabulary_directory_goes_when_the_tokenizer_does():
    guarded = guarded_load_tokenizer(Returns(), GPT2)
    directory = guarded.vocab.directory
    assert (directory / "vocab.bpe").is_file()
    del guarded
    gc.collect()
    assert not directory.exists()


def test_a_lone_surrogate_is_refused_before_any_backend_sees_it():
    backend = Returns([64])
    guarded = guarded_load_tokenizer(backend, GPT2)
    with pytest.raises(InvalidText, match=r"'\\ud800' \(U\+D800\) at 1 is a lone surrogate"):
        guarded.encode("a\ud800")
    with pytest.raises(InvalidText, match="a text must be a str, got bytes"):
        guarded.encode(b"a")
    assert backend.calls == []


@pytest.mark.parametrize(("encoded", "cause"), [
    ("abc", "returns.encode returned a str, not a list of ids"),
    (None, "returns.encode returned a NoneType, not a list of ids"),
    ([1, 2.0], r"returns.encode returned 2.0 \(float\) among its ids"),
    ([True], r"returns.encode returned True \(bool\) among its ids"),
    ([50257], r"returns.encode returned id 50257, outside the vocabulary \(0 to 50256\)"),
    ([-1], r"returns.encode returned id -1, outside the vocabulary"),
])
def test_ids_that_are_not_ids_of_the_vocabulary_are_the_backends_failure(encoded, cause):
    with pytest.raises(BackendError, match=cause):
        guarded_load_tokenizer(Returns(encoded), GPT2).encode("a")


def test_numpy_ids_come_back_as_ints():
    ids = guarded_load_tokenizer(Returns(np.array([15496, 11], dtype=np.int32)), GPT2).encode("Hello,")
    assert ids == [15496, 11] and all(type(i) is int for i in ids)


def test_a_tokenizer_that_raises_is_refused_by_name():
    with pytest.raises(Refused, match="returns encode raised ValueError: disallowed special token"):
        guarded_load_tokenizer(Returns(raises=ValueError("disallowed special token")), GPT2).encode("<|endoftext|>")


def test_decode_gets_only_ids_of_the_vocabulary_and_must_return_text():
    backend = Returns(decoded=b"bytes")
    guarded = guarded_load_tokenizer(backend, GPT2)
    with pytest.raises(InvalidInput, match=r"id 50257 is outside the vocabulary \(0 to 50256\)"):
        guarded.decode([1, 50257])
    with pytest.raises(InvalidInput, match="ids must be a list of ints"):
        guarded.decode(["a"])
    assert backend.calls == []
    with pytest.raises(BackendError, match="returns.decode returned a bytes, not a str"):
        guarded.decode([1])


def test_a_load_that_fails_costs_only_the_backend():
    class Fails(Returns):
        def load(self, given):
            raise OSError("no such file")

    class ReturnsNothing(Returns):
        def load(self, given):
            return None

    with pytest.raises(BackendError, match=r"returns cannot load the vocabulary \(OSError: no such file\)"):
        guarded_load_tokenizer(Fails(), GPT2)
    with pytest.raises(BackendError, match="returns.load returned a NoneType, not a tokenizer"):
        guarded_load_tokenizer(ReturnsNothing(), GPT2)


def test_a_special_text_policy_is_one_the_suite_knows():
    assert {TokenizerCapabilities(p).special_text for p in ("text", "special", "raise")} == {"text", "special", "raise"}
    with pytest.raises(ValueError, match="special_text must be one of text, special, raise, got 'drop'"):
        TokenizerCapabilities("drop")


def test_bundled_tokenizers_resolve_by_name_and_any_by_module_and_attribute():
    # the opt-in ones need libraries of their own (tests/test_tokenizer_optin.py)
    default = [name for name, bundled in BUNDLED_TOKENIZERS.items() if not bundled.opt_in]
    assert [resolve_tokenizer(name).name for name in default] == default
    assert resolve_tokenizer("tests.my_gpt2_tokenizer:backend").name == "my-gpt2-tokenizer"
    assert resolve_tokenizer("gpt2_conformance.mutants.tokenizers:decode_strict").name == "decode_strict"


def test_a_spec_that_names_no_tokenizer_says_why():
    with pytest.raises(BackendError, match="unknown tokenizer 'tiktokn': use one of hf-tokenizers, keras-hub, llama-cpp, reference"):
        resolve_tokenizer("tiktokn")
    with pytest.raises(BackendError, match="has capabilities of type Capabilities: use .*TokenizerCapabilities"):
        resolve_tokenizer("gpt2_conformance.backends.adapters.reference:backend")


def test_a_property_runs_only_on_backends_of_its_subject():
    assert applicable(REGISTRY["encode_official"], Capabilities()) == "a tokenizer property, and the backend is a model"
    assert applicable(REGISTRY["causal_masking"], TokenizerCapabilities()) == (
        "a model property, and the backend is a tokenizer")
    assert applicable(REGISTRY["encode_official"], TokenizerCapabilities()) is None


def test_the_reference_adapter_is_the_reference():
    given = BackendVocab(GPT2.encoder, GPT2.merges)
    assert ReferenceTokenizer(given).encode("  a") == [220, 257]
