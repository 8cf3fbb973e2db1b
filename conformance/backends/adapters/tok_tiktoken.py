"""tiktoken: an Encoding built as tiktoken builds GPT-2's (its own pattern, ranks = ids, <|endoftext|> special)
from the vocabulary's encoder, with no download. encode passes disallowed_special=(), which encodes
<|endoftext|> in a text as text, as OpenAI's encoder.py does (tiktoken's default refuses it)."""
import tiktoken
from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.reference.bpe import symbols_as_bytes

REQUIRES = ("tiktoken",)


class TiktokenTokenizer:
    def __init__(self, encoding):
        self.encoding = encoding

    def encode(self, text):
        return self.encoding.encode(text, disallowed_special=())

    def decode(self, ids):
        return self.encoding.decode(ids)


class TiktokenBackend:
    name = "tiktoken"
    capabilities = TokenizerCapabilities(special_text="text")

    def load(self, vocab):
        ranks = {symbols_as_bytes(symbol): i for symbol, i in vocab.encoder.items() if symbol != ENDOFTEXT}
        special = {ENDOFTEXT: vocab.encoder[ENDOFTEXT]} if ENDOFTEXT in vocab.encoder else {}
        return TiktokenTokenizer(tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                                   special_tokens=special))


backend = TiktokenBackend()
