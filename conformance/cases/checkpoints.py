"""Read and write canonical params as official TF checkpoint directories and Hugging Face directories.

Official layout (what openai/gpt-2's download gives): hparams.json, checkpoint, model.ckpt.index,
model.ckpt.data-00000-of-00001, read and written with TensorFlow's own checkpoint ops.
Hugging Face layout (what transformers' GPT2LMHeadModel.save_pretrained gives): config.json, model.safetensors.
"""
import json
import os
from pathlib import Path

import numpy as np

from gpt2_conformance.reference.params import LAYER_SHAPES, HParams, InvalidParams, Params

OFFICIAL_PREFIX = "model.ckpt"
HF_WEIGHTS = "model.safetensors"
_HF_BUFFERS = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers some transformers versions saved


def load(path) -> Params:
    """Load an official or a Hugging Face checkpoint directory, whichever `path` holds."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise InvalidParams(f"checkpoint directory {path} is a symbolic link that leads nowhere (a loop, or a "
                            "missing target)")
    if path.exists() and not path.is_dir():
        raise InvalidParams(f"{path} is a file: a checkpoint is the directory that holds its files")
    if not path.is_dir():
        raise InvalidParams(f"checkpoint directory {path} does not exist")
    if (path / "hparams.json").exists():
        return load_official(path)
    if (path / "config.json").exists():
        return load_hf(path)
    raise InvalidParams(f"{path} is neither an official GPT-2 directory (hparams.json) nor a Hugging Face one (config.json)")


def _read_json(path):
    """The JSON object in path (InvalidParams if it cannot be read or is not an object)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidParams(f"cannot read {path}: {e}") from None
    if not isinstance(value, dict):
        raise InvalidParams(f"{path} must hold a JSON object, got {type(value).__name__} {json.dumps(value)[:40]}")
    return value


# Official TensorFlow checkpoints

def load_official(path) -> Params:
    path = Path(path)
    hparams = HParams.from_dict(_read_json(path / "hparams.json"))
    prefix = path / OFFICIAL_PREFIX
    if not Path(f"{prefix}.index").exists():
        raise InvalidParams(f"{path} has hparams.json but no {OFFICIAL_PREFIX}.index")
    tf = _tensorflow()
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        names = reader.get_variable_to_shape_map()
        tensors = {name: np.asarray(reader.get_tensor(name)) for name in names}
    except Exception as e:  # TensorFlow's errors are long; keep the first line and the file
        raise InvalidParams(f"TensorFlow cannot read the checkpoint {prefix}: {str(e).splitlines()[0]}") from None
    return Params(hparams, tensors)


def save_official(params: Params, path) -> Path:
    """Write float32 tensors under the official names, as the official download holds them."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "hparams.json").write_text(json.dumps(params.hparams.to_dict(), indent=2) + "\n")
    (path / "checkpoint").write_text(
        f'model_checkpoint_path: "{OFFICIAL_PREFIX}"\nall_model_checkpoint_paths: "{OFFICIAL_PREFIX}"\n'
    )
    tf = _tensorflow()
    names = sorted(params.tensors)
    tf.raw_ops.SaveV2(
        prefix=str(path / OFFICIAL_PREFIX),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(params.tensors[n].astype(np.float32)) for n in names],
    )
    return path


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise InvalidParams("reading or writing official TF checkpoints needs TensorFlow: pip install tensorflow-cpu") from None
    return tf


# Hugging Face directories

_HF_LAYER_NAMES = {  # canonical per-block name -> transformers GPT2 name
    "ln_1/g": "ln_1.weight", "ln_1/b": "ln_1.bias",
    "attn/c_attn/w": "attn.c_attn.weight", "attn/c_attn/b": "attn.c_attn.bias",
    "attn/c_proj/w": "attn.c_proj.weight", "attn/c_proj/b": "attn.c_proj.bias",
    "ln_2/g": "ln_2.weight", "ln_2/b": "ln_2.bias",
    "mlp/c_fc/w": "mlp.c_fc.weight", "mlp/c_fc/b": "mlp.c_fc.bias",
    "mlp/c_proj/w": "mlp.c_proj.weight", "mlp/c_proj/b": "mlp.c_proj.bias",
}
assert set(_HF_LAYER_NAMES) == set(LAYER_SHAPES)


def hf_names(hparams: HParams):
    """Canonical name -> transformers GPT2Model state-dict name (Conv1D weights drop the leading 1)."""
    names = {"model/wte": "wte.weight", "model/wpe": "wpe.weight",
             "model/ln_f/g": "ln_f.weight", "model/ln_f/b": "ln_f.bias"}
    for i in range(hparams.n_layer):
        names.update({f"model/h{i}/{c}": f"h.{i}.{h}" for c, h in _HF_LAYER_NAMES.items()})
    return names


def hf_config(hparams: HParams) -> dict:
    """A transformers GPT2Config dict that means exactly the official model."""
    return {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "vocab_size": hparams.n_vocab, "n_positions": hparams.n_ctx, "n_embd": hparams.n_embd,
        "n_head": hparams.n_head, "n_layer": hparams.n_layer, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "tie_word_embeddings": True,
        "bos_token_id": hparams.n_vocab - 1, "eos_token_id": hparams.n_vocab - 1,
    }


# Config values under which a transformers GPT-2 is still the official model.
_HF_OFFICIAL = {"activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "scale_attn_weights": True,
                "scale_attn_by_inverse_layer_idx": False, "tie_word_embeddings": True}


def load_hf(path) -> Params:
    path = Path(path)
    config = _read_json(path / "config.json")
    if config.get("model_type", "gpt2") != "gpt2":
        raise InvalidParams(f"{path}/config.json has model_type {config.get('model_type')!r}, not 'gpt2'")
    deviations = [f"{k}={config[k]!r} (official: {v!r})" for k, v in _HF_OFFICIAL.items() if k in config and config[k] != v]
    if config.get("n_inner") not in (None, 4 * config.get("n_embd", 0)):
        deviations.append(f"n_inner={config['n_inner']} (official: 4 * n_embd)")
    if deviations:
        raise InvalidParams(f"{path}/config.json is not the official GPT-2 architecture: {', '.join(deviations)}")
    try:
        hparams = HParams(n_vocab=config["vocab_size"], n_ctx=config.get("n_positions", config.get("n_ctx")),
                          n_embd=config["n_embd"], n_head=config["n_head"], n_layer=config["n_layer"])
    except KeyError as e:
        raise InvalidParams(f"{path}/config.json lacks {e.args[0]}") from None
    weights = path / HF_WEIGHTS
    if not weights.exists():
        raise InvalidParams(f"{path} has config.json but no {HF_WEIGHTS}")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidParams(f"cannot read {weights}: {e}") from None
    state = {k.removeprefix("transformer."): v for k, v in state.items() if not k.endswith(_HF_BUFFERS)}
    head = state.pop("lm_head.weight", None)
    to_hf = hf_names(hparams)
    tensors = {}
    for name, hf in to_hf.items():
        if hf in state:
            value = state.pop(hf)
            tensors[name] = value[None] if name.endswith("/w") else value
    for hf in state:  # left over: unknown to GPT-2; Params' validation names them
        tensors[f"(hf) {hf}"] = state[hf]
    params = Params(hparams, tensors)
    if head is not None and not np.array_equal(head, params.tensors["model/wte"]):
        raise InvalidParams(f"{weights} has an lm_head.weight that differs from wte: GPT-2's head is tied to wte")
    return params


def save_hf(params: Params, path) -> Path:
    """Write float32 tensors under transformers' names; the head is tied, so no lm_head.weight."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(hf_config(params.hparams), indent=2) + "\n")
    state = {}
    for name, hf in hf_names(params.hparams).items():
        value = params.tensors[name][0] if name.endswith("/w") else params.tensors[name]
        state[f"transformer.{hf}"] = np.ascontiguousarray(value, dtype=np.float32)
    save_file(state, str(path / HF_WEIGHTS), metadata={"format": "pt"})
    return path
