"""CTranslate2 (OpenNMT's inference engine) on CPU, float32, running GPT-2 converted by its TransformersConverter.

Each load writes the canonical params as a Hugging Face checkpoint (checkpoints.save_hf), converts it with
ctranslate2.converters.TransformersConverter (CTranslate2's own loader for GPT2LMHeadModel; it stores the
head once, as an alias of wte) and loads a ctranslate2.Generator on CPU with the backend's compute_type,
"float32" for the verdict. The converter reads a tokenizer for the vocabulary it stores beside the model;
with no network a placeholder does: a GPT-2 byte-level BPE of n_vocab tokens "0", "1", ..., whose last is
`<|endoftext|>` (GPT-2's bos, eos and unk), and no merges. Token ids go in directly; the strings matter
only to score_batch.

forward is Generator.forward_batch, the decoder over whole sequences: the logits of every position
(return_log_probs left False: unscaled logits, not log-probabilities). loss is Generator.score_batch, the
engine's own log-likelihood of each next token, with max_input_length=0 (its default truncates at 1024).

The converted model is frozen, its weights in model.bin: no set_wte (converting again would load another
model, not replace wte in a live one), so tied_head cannot run. No past: forward_batch takes and returns no
state; the KV cache CTranslate2 keeps belongs to its decoding loops (generate_batch, generate_tokens,
static_prompt), which give logits only of the tokens they generate, not of the tokens fed in.

Every load converts: the weights are baked into the converted model and each example has its own, so a
cache per architecture would have nothing to reuse. On 2 cores a load (save_hf, convert, Generator) takes
0.015-0.3 s for the shapes the size classes draw (about 0.07 s on average over a ci run), about 1 s for GPT-2
small's layer with its 50257-token vocabulary and 2-3 s for GPT-2 124M; the first in a process also imports
torch and transformers' GPT-2 (3 s, up to 8 s on a busy machine). That is copying data, not compiling, so
cases draw from the free size classes (compiles_per_architecture False). Every shape they draw runs
(head_dim 1 to 128, n_ctx 1024, batch 8, n_vocab 50257): no Scope.

The converted config.json says multi_query_attention: true (ctranslate2's spec sets it whenever
num_heads_kv is left unset, as the GPT-2 loader leaves it); the heads do not share keys and values for it:
n_head 1 to 12 agree with the reference.
"""
import json
import tempfile
from pathlib import Path

import numpy as np

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.cases.checkpoints import save_hf

REQUIRES = ("ctranslate2", "torch", "transformers")


def placeholder_vocabulary(n_vocab):
    """n_vocab distinct token strings, the last GPT-2's `<|endoftext|>`, as the converter's tokenizer wants."""
    return [str(i) for i in range(n_vocab - 1)] + ["<|endoftext|>"]


def write_placeholder_tokenizer(folder, vocabulary):
    """A GPT-2 BPE tokenizer of these tokens and no merges: enough for AutoTokenizer, never used to tokenize."""
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocabulary)}))
    (folder / "merges.txt").write_text("")


def convert(params, vocabulary, folder):
    """The directory of the CTranslate2 model of params (float32 weights), converted under folder."""
    from ctranslate2.converters import TransformersConverter

    checkpoint = save_hf(params, folder / "hf")
    write_placeholder_tokenizer(checkpoint, vocabulary)
    return TransformersConverter(str(checkpoint)).convert(str(folder / "ct2"), quantization="float32")


def storage(array):
    """A CTranslate2 int32 StorageView sharing the memory of array (which must outlive the call)."""
    import ctranslate2

    return ctranslate2.StorageView.from_array(array)


class CTranslate2Model:
    def __init__(self, params, compute_type):
        import ctranslate2

        self.vocabulary = placeholder_vocabulary(params.hparams.n_vocab)
        # the Generator reads the whole model into memory, so the files can go once it is loaded
        with tempfile.TemporaryDirectory(prefix="gpt2-conformance-ct2-") as folder:
            self.generator = ctranslate2.Generator(convert(params, self.vocabulary, Path(folder)), device="cpu",
                                                   compute_type=compute_type)

    def forward(self, tokens, past=None):
        ids = np.ascontiguousarray(tokens, dtype=np.int32)
        lengths = np.full(len(ids), ids.shape[1], np.int32)
        return np.array(self.generator.forward_batch(storage(ids), storage(lengths))), None

    def loss(self, tokens):
        words = [[self.vocabulary[t] for t in row] for row in tokens.tolist()]
        scored = self.generator.score_batch(words, max_input_length=0)
        return -np.mean([result.log_probs for result in scored])


class CTranslate2Backend:
    capabilities = Capabilities(dtypes=("float32",), loss=True)

    def __init__(self, compute_type="float32"):
        self.compute_type = compute_type
        self.name = "ctranslate2" if compute_type == "float32" else f"ctranslate2-{compute_type}"

    def load(self, params, dtype="float32"):
        return CTranslate2Model(params, self.compute_type)


backend = CTranslate2Backend()
# A probe of CTranslate2's int8 weights, not a bundled backend: judged at float32, it measures the quantization.
int8 = CTranslate2Backend(compute_type="int8")
