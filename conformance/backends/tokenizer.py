"""Tokenizer backends: the protocol, the guard around every loaded tokenizer, and the bundled ones by name.

A tokenizer backend has a `name`, its `capabilities` (TokenizerCapabilities) and `load(vocab)`, which
returns a tokenizer with

    encode(text: str) -> list[int]
    decode(ids: list[int]) -> str

`vocab` is a BackendVocab: `encoder` {symbol: id} (encoder.json), `merges` [(symbol, symbol)] in rank order
(vocab.bpe), and `directory`, which holds encoder.json and vocab.bpe in OpenAI's formats for loaders that
read files. It is GPT-2's vocabulary or a small byte-level one the suite drew.

The guard checks what goes in and what comes out: a text that is not valid Unicode (a lone surrogate) is
refused before any backend sees it; ids must be ints of the vocabulary; a backend that raises, returns
non-ints or ids out of range fails alone, with one clear cause.
"""
import json
import numbers
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from gpt2_conformance.backends import Bundled
from gpt2_conformance.backends.guard import BackendClock, BackendError
from gpt2_conformance.backends.protocol import Subject
from gpt2_conformance.cases.gpt2_vocab import vocab_bpe
from gpt2_conformance.reference.params import InvalidInput

# How a tokenizer treats "<|endoftext|>" in a text. OpenAI's encoder.py: as text (seven ids); other
# tokenizers map it to id 50256 or refuse the text, and declare so (the verdict names the policy).
SPECIAL_TEXT_POLICIES = {
    "text": "<|endoftext|> in a text is text, as OpenAI's encoder.py encodes it",
    "special": "<|endoftext|> in a text is the special token 50256",
    "raise": "encode refuses a text that holds <|endoftext|>",
}


@dataclass(frozen=True)
class TokenizerCapabilities:
    subject: ClassVar[Subject] = Subject.TOKENIZER
    special_text: str = "text"  # a key of SPECIAL_TEXT_POLICIES

    def __post_init__(self):
        if self.special_text not in SPECIAL_TEXT_POLICIES:
            raise ValueError(f"TokenizerCapabilities.special_text must be one of {', '.join(SPECIAL_TEXT_POLICIES)}, "
                             f"got {self.special_text!r}")

    def to_dict(self):
        return {"special_text": self.special_text}

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


@runtime_checkable
class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@runtime_checkable
class TokenizerBackend(Protocol):
    name: str
    capabilities: TokenizerCapabilities

    def load(self, vocab: "BackendVocab") -> Tokenizer: ...


class InvalidText(InvalidInput):
    """A text that is not valid Unicode: no tokenizer can be asked to encode it."""


class Refused(BackendError):
    """A tokenizer's encode or decode raised."""


class BackendVocab:
    """The vocabulary as a backend gets it: its own copies of encoder and merges (a backend that changes them
    changes nothing else), and a directory with encoder.json and vocab.bpe, removed with this object."""

    def __init__(self, encoder, merges):
        self.encoder, self.merges = dict(encoder), list(merges)
        self.directory = Path(tempfile.mkdtemp(prefix="gpt2-conformance-vocab-"))
        weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
        (self.directory / "encoder.json").write_text(json.dumps(encoder), encoding="utf-8")
        (self.directory / "vocab.bpe").write_bytes(vocab_bpe(merges))


@dataclass
class GuardedTokenizer:
    """A loaded tokenizer behind the checks the suite makes on the backend's behalf."""

    backend_name: str
    tokenizer: object
    vocab: BackendVocab  # kept alive with the tokenizer: its directory goes with it
    n_vocab: int  # ids are 0 to n_vocab - 1, whatever the backend does to its copy of the encoder
    clock: BackendClock

    def encode(self, text):
        check_text(text)
        return self._checked_ids(self._call("encode", text))

    def decode(self, ids):
        self._check_ids(ids)
        text = self._call("decode", [int(i) for i in ids])
        if not isinstance(text, str):
            raise BackendError(f"{self.backend_name}.decode returned a {type(text).__name__}, not a str")
        return text

    def _call(self, method, argument):
        # "forward" time: what the model backends spend in forward, the tokenizers spend here
        start = time.perf_counter()
        try:
            return getattr(self.tokenizer, method)(argument)
        except Exception as e:
            raise Refused(f"{self.backend_name} {method} raised {type(e).__name__}: {e}") from e
        finally:
            self.clock.forward_seconds += time.perf_counter() - start

    def _check_ids(self, ids):
        if not isinstance(ids, list) or not all(is_id(i) for i in ids):
            raise InvalidInput(f"ids must be a list of ints, got {ids!r:.80}")
        outside = [i for i in ids if not 0 <= i < self.n_vocab]
        if outside:
            raise InvalidInput(f"id {outside[0]} is outside the vocabulary (0 to {self.n_vocab - 1})")

    def _checked_ids(self, ids):
        """The ids an encode returned, as a list of ints of the vocabulary."""
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise BackendError(f"{self.backend_name}.encode returned a {type(ids).__name__}, not a list of ids")
        ids = list(ids)
        wrong = next((i for i in ids if not is_id(i)), None)
        if wrong is not None:
            raise BackendError(f"{self.backend_name}.encode returned {wrong!r} ({type(wrong).__name__}) among its ids")
        outside = next((i for i in ids if not 0 <= i < self.n_vocab), None)
        if outside is not None:
            raise BackendError(f"{self.backend_name}.encode returned id {outside}, outside the vocabulary "
                               f"(0 to {self.n_vocab - 1})")
        return [int(i) for i in ids]


def is_id(value):
    """Whether value is an integer (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_text(text):
    """Raise InvalidText unless text is a str that UTF-8 can encode (a lone surrogate cannot be)."""
    if not isinstance(text, str):
        raise InvalidText(f"a text must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidText(f"the text is not valid Unicode: {text[e.start]!r} (U+{ord(text[e.start]):04X}) at "
                          f"{e.start} is a lone surrogate, which no encoding can hold") from None


def guarded_load_tokenizer(backend, vocab, clock=None):
    """Load a vocabulary (encoder and merges, ids 0 to len(encoder) - 1) into the tokenizer backend, as a
    GuardedTokenizer."""
    clock = clock or BackendClock()
    given = BackendVocab(vocab.encoder, vocab.merges)
    start = time.perf_counter()
    try:
        tokenizer = backend.load(given)
    except Exception as e:
        raise BackendError(f"{backend.name} cannot load the vocabulary ({type(e).__name__}: {e})") from e
    finally:
        clock.load_seconds += time.perf_counter() - start
    if not isinstance(tokenizer, Tokenizer):
        raise BackendError(f"{backend.name}.load returned a {type(tokenizer).__name__}, not a tokenizer with "
                           "encode(text) and decode(ids)")
    return GuardedTokenizer(backend.name, tokenizer, given, len(vocab.encoder), clock)


BUNDLED_TOKENIZERS = {
    "reference": Bundled("gpt2_conformance.backends.adapters.tok_reference:backend", ""),
    "tiktoken": Bundled("gpt2_conformance.backends.adapters.tok_tiktoken:backend", "tokenizers"),
    "hf-tokenizers": Bundled("gpt2_conformance.backends.adapters.tok_hf_tokenizers:backend", "tokenizers"),
    "transformers-gpt2": Bundled("gpt2_conformance.backends.adapters.tok_transformers:backend", "hf"),
    "keras-hub": Bundled("gpt2_conformance.backends.adapters.tok_keras_hub:backend", "keras",
                         "needs Keras Hub, TensorFlow and tf-text (the keras extra, an environment of its own)"),
    "llama-cpp": Bundled("gpt2_conformance.backends.adapters.tok_llama_cpp:backend", "llama",
                         "needs llama-cpp-python, which compiles llama.cpp when installed (the llama extra)"),
}
