"""Hugging Face `tokenizers`: a byte-level BPE model from the vocabulary's encoder and merges, with the
ByteLevel pre-tokenizer (GPT-2's pattern, no prefix space) and decoder. No special token is added, so
<|endoftext|> in a text is text."""
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities

REQUIRES = ("tokenizers",)


class HFTokenizer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def encode(self, text):
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        return self.tokenizer.decode(ids, skip_special_tokens=False)


class HFTokenizersBackend:
    name = "hf-tokenizers"
    capabilities = TokenizerCapabilities(special_text="text")

    def load(self, vocab):
        tokenizer = Tokenizer(models.BPE(vocab=vocab.encoder, merges=vocab.merges))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        return HFTokenizer(tokenizer)


backend = HFTokenizersBackend()
