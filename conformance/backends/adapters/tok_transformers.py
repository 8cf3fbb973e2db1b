"""transformers' GPT-2 tokenizer (GPT2TokenizerFast, GPT2Tokenizer in transformers 5) from the official files
in the vocabulary's directory, offline, used with its defaults. It registers <|endoftext|> as a special
token: a text's <|endoftext|> becomes id 50256, its declared policy."""
from transformers import GPT2TokenizerFast

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities

REQUIRES = ("transformers", "tokenizers")


class TransformersGPT2Backend:
    name = "transformers-gpt2"
    capabilities = TokenizerCapabilities(special_text="special")

    def load(self, vocab):
        return GPT2TokenizerFast(vocab=str(vocab.directory / "encoder.json"), merges=str(vocab.directory / "vocab.bpe"))


backend = TransformersGPT2Backend()
