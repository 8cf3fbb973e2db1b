"""The reference tokenizer (gpt2_conformance.reference.bpe, after OpenAI's encoder.py) as a tokenizer backend."""
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.reference import bpe
from gpt2_conformance.reference.vocab import Vocab

REQUIRES = ("regex",)


class ReferenceTokenizer:
    def __init__(self, vocab):
        self.vocab = Vocab(vocab.encoder, vocab.merges)

    def encode(self, text):
        return bpe.encode(text, self.vocab)

    def decode(self, ids):
        return bpe.decode(ids, self.vocab)


class ReferenceTokenizerBackend:
    name = "reference"
    capabilities = TokenizerCapabilities(special_text="text")

    def load(self, vocab):
        return ReferenceTokenizer(vocab)


backend = ReferenceTokenizerBackend()
