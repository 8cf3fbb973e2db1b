"""transformers' GPT-2 tokenizer (GPT2TokenizerFast, GPT2Tokenizer in transformers 5) from the official files
in the vocabulary's directory, offline. It registers <|endoftext|> as a special token, and by default a
text's <|endoftext|> becomes id 50256; split_special_tokens=True is transformers' own option for encoding
it as text, as OpenAI's encoder.py does, so this adapter takes it (tests/transformers_special.py certifies
the default under its declared policy, "special")."""
from transformers import GPT2TokenizerFast

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities

REQUIRES = ("transformers", "tokenizers")


class TransformersGPT2Backend:
    name = "transformers-gpt2"
    capabilities = TokenizerCapabilities(special_text="text")
    options = {"split_special_tokens": True}

    def load(self, vocab):
        return GPT2TokenizerFast(vocab=str(vocab.directory / "encoder.json"), merges=str(vocab.directory / "vocab.bpe"),
                                 **self.options)


backend = TransformersGPT2Backend()
