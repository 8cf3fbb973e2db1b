"""llama.cpp (through llama-cpp-python) on a GGUF file of the `gpt2` architecture, CPU, float32.

The canonical params are written with the gguf package under llama.cpp's gpt2 tensor names, with no
`output.weight`: llama.cpp then uses `token_embd` as the head, its way of tying it. No tokenizer is
needed (`tokenizer.ggml.model = "no_vocab"`); token ids go in directly. Logits of every position
(`logits_all`), KV cache in f32 so that only llama.cpp's kernels differ from the reference.

Each row of a batch is its own llama.cpp sequence; the cache is llama.cpp's own state (KV cache
included) of each row, saved after it and loaded to continue. set_wte writes the new embedding into
the GGUF file, which llama.cpp maps into memory (use_mmap) and reads its CPU weights from in place:
the live model sees it, and a head llama.cpp had copied from it would not.

llama.cpp aborts the process on some inputs (GGML_ASSERT); `certify` runs it in a worker process,
so that is reported as this backend's error. It cannot multiply matrices of head_dim 1 (ggml.c:
GGML_ASSERT(ggml_can_mul_mat(a, b)) aborts), which its scope declares: GPT-2's head_dim is 64.
"""
import tempfile
from pathlib import Path

import numpy as np

from gpt2_conformance.backends import Capabilities, Scope

REQUIRES = ("llama_cpp", "gguf")

_LAYER_TENSORS = {  # canonical layer tensor -> (GGUF name, transpose: GGUF stores matrices [out, in])
    "ln_1/g": ("attn_norm.weight", False), "ln_1/b": ("attn_norm.bias", False),
    "attn/c_attn/w": ("attn_qkv.weight", True), "attn/c_attn/b": ("attn_qkv.bias", False),
    "attn/c_proj/w": ("attn_output.weight", True), "attn/c_proj/b": ("attn_output.bias", False),
    "ln_2/g": ("ffn_norm.weight", False), "ln_2/b": ("ffn_norm.bias", False),
    "mlp/c_fc/w": ("ffn_up.weight", True), "mlp/c_fc/b": ("ffn_up.bias", False),
    "mlp/c_proj/w": ("ffn_down.weight", True), "mlp/c_proj/b": ("ffn_down.bias", False),
}


def gguf_tensors(params):
    """GGUF name -> float32 array, in llama.cpp's gpt2 layout."""
    t = params.tensors
    out = {"token_embd.weight": t["model/wte"], "position_embd.weight": t["model/wpe"],
           "output_norm.weight": t["model/ln_f/g"], "output_norm.bias": t["model/ln_f/b"]}
    for i in range(params.hparams.n_layer):
        for name, (gguf_name, transpose) in _LAYER_TENSORS.items():
            value = t[f"model/h{i}/{name}"]
            out[f"blk.{i}.{gguf_name}"] = value[0].T if transpose else value
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def gpt2_writer(path, hp):
    """A GGUFWriter of the gpt2 architecture with the hyperparameters llama.cpp requires of it (the tokenizer
    adapter writes a vocabulary-only file with them too)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_context_length(hp.n_ctx)
    writer.add_embedding_length(hp.n_embd)
    writer.add_feed_forward_length(4 * hp.n_embd)
    writer.add_block_count(hp.n_layer)
    writer.add_head_count(hp.n_head)
    writer.add_layer_norm_eps(1e-5)
    writer.add_vocab_size(hp.n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    return writer


def close_written(writer):
    """Write the header, the key-values and the tensors added to writer, and close its file."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_gguf(params, path):
    writer = gpt2_writer(path, params.hparams)
    writer.add_tokenizer_model("no_vocab")
    for name, value in gguf_tensors(params).items():
        writer.add_tensor(name, value)
    close_written(writer)


class LlamaCppModel:
    def __init__(self, params):
        import llama_cpp

        self.dir = tempfile.TemporaryDirectory(prefix="gpt2-conformance-gguf-")
        self.path = Path(self.dir.name) / "model.gguf"
        write_gguf(params, self.path)
        self.n_vocab = params.hparams.n_vocab
        self.llm = llama_cpp.Llama(
            str(self.path), n_ctx=params.hparams.n_ctx, n_batch=params.hparams.n_ctx, logits_all=True,
            type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, n_gpu_layers=0, use_mmap=True,
            n_threads=2, verbose=False)

    def forward(self, tokens, past=None):
        logits, states = [], []
        for row, seq in enumerate(tokens):
            if past is None:
                self.llm.reset()
            else:
                self.llm.load_state(past[row])
            start = self.llm.n_tokens
            self.llm.eval(seq.tolist())
            logits.append(np.array(self.llm.scores[start:self.llm.n_tokens, :self.n_vocab]))
            states.append(self.llm.save_state())
        return np.stack(logits), states

    def set_wte(self, wte):
        import gguf

        tensor = next(t for t in gguf.GGUFReader(self.path).tensors if t.name == "token_embd.weight")
        with open(self.path, "r+b") as f:
            f.seek(tensor.data_offset)
            f.write(np.ascontiguousarray(wte, dtype=np.float32).tobytes())


class LlamaCpp:
    name = "llama-cpp"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",), scope=Scope(min_head_dim=2))

    def load(self, params, dtype="float32"):
        return LlamaCppModel(params)


backend = LlamaCpp()
