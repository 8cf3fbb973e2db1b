"""llama.cpp's own tokenizer (through llama-cpp-python) on a vocabulary-only GGUF file of the vocabulary.

The file is written as llama.cpp's convert_hf_to_gguf.py writes GPT-2's: tokenizer model "gpt2" (byte-level
BPE), pre-tokenizer "gpt-2" (llama.cpp's hand-written splitter for GPT-2's pattern), the tokens in id order
as encoder.json spells them, the merges as "a b" in rank order, every token NORMAL but <|endoftext|>, which
is CONTROL, as the special token it is in transformers' GPT-2 (and BOS and EOS where the vocabulary has it),
no BOS added. The gpt2 hyperparameters llama.cpp requires of any gpt2 file come from the model adapter's
writer; no tensors are written and the file is loaded with vocab_only.

encode is `tokenize(text, add_bos=False, special=False)`: special=False leaves CONTROL tokens unparsed, so
<|endoftext|> in a text is text, as in OpenAI's encoder.py. decode is `detokenize(ids, special=True)`, which
writes a CONTROL token's text (with special=False, llama.cpp writes nothing for <|endoftext|>, where
encoder.py writes "<|endoftext|>"), and its bytes decoded with errors='replace', as encoder.py decodes.
"""
import tempfile
from pathlib import Path

from gpt2_conformance.backends.adapters.llama_cpp import close_written, gpt2_writer
from gpt2_conformance.backends.tokenizer import TokenizerCapabilities
from gpt2_conformance.reference.params import HParams
from gpt2_conformance.reference.vocab import END_OF_TEXT

REQUIRES = ("llama_cpp", "gguf")
# GPT-2 124M's shape: what llama.cpp reads from any gpt2 file before its vocabulary (no tensor is written)
GPT2_SHAPE = {"n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12}


def tokens_by_id(encoder):
    """The vocabulary's symbols in id order (ids 0 to len(encoder) - 1)."""
    tokens = sorted(encoder, key=encoder.get)
    assert [encoder[t] for t in tokens] == list(range(len(tokens))), "ids are 0 to len(encoder) - 1"
    return tokens


def write_vocab_gguf(vocab, path):
    """A vocabulary-only GGUF of the gpt2 architecture holding vocab's tokens and merges."""
    import gguf

    tokens = tokens_by_id(vocab.encoder)
    writer = gpt2_writer(path, HParams(n_vocab=len(tokens), **GPT2_SHAPE))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t == END_OF_TEXT else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges([f"{a} {b}" for a, b in vocab.merges])
    if END_OF_TEXT in vocab.encoder:
        writer.add_bos_token_id(vocab.encoder[END_OF_TEXT])
        writer.add_eos_token_id(vocab.encoder[END_OF_TEXT])
    writer.add_add_bos_token(False)
    close_written(writer)


class LlamaCppTokenizer:
    def __init__(self, llm, directory):
        self.llm, self.directory = llm, directory  # the directory holds the file while the tokenizer lives

    def encode(self, text):
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def decode(self, ids):
        return self.llm.detokenize(ids, special=True).decode("utf-8", errors="replace")


class LlamaCppTokenizerBackend:
    name = "llama-cpp"
    capabilities = TokenizerCapabilities(special_text="text")

    def load(self, vocab):
        import llama_cpp

        directory = tempfile.TemporaryDirectory(prefix="gpt2-conformance-vocab-gguf-")
        path = Path(directory.name) / "vocab.gguf"
        write_vocab_gguf(vocab, path)
        return LlamaCppTokenizer(llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False), directory)


backend = LlamaCppTokenizerBackend()
