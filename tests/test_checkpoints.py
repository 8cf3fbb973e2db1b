"""Reading and writing canonical params; malformed checkpoints get clear errors."""
import json

import numpy as np
import pytest

from gpt2_conformance.cases import checkpoints
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.reference import HParams, Params
from gpt2_conformance.reference.params import InvalidParams

HP = HParams(n_vocab=13, n_ctx=6, n_embd=6, n_head=3, n_layer=2)


@pytest.fixture(scope="module")
def params():
    return random_params(HP, 11).astype(np.float32)


def assert_same(a, b):
    assert a.hparams == b.hparams and set(a.tensors) == set(b.tensors)
    for k in a.tensors:
        np.testing.assert_array_equal(a.tensors[k], b.tensors[k], err_msg=k)


def test_official_round_trip(params, tmp_path):
    checkpoints.save_official(params, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint", "hparams.json", "model.ckpt.data-00000-of-00001", "model.ckpt.index"]
    assert_same(checkpoints.load(tmp_path), params)


def test_hf_round_trip_and_transformers_reads_it(params, tmp_path):
    checkpoints.save_hf(params, tmp_path)
    assert_same(checkpoints.load(tmp_path), params)
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from gpt2_conformance.reference import model
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    tokens = np.array([[1, 2, 3]])
    with torch.no_grad():
        logits = hf(torch.from_numpy(tokens)).logits.numpy()
    np.testing.assert_allclose(logits, model(params.astype(np.float64), tokens)[0], atol=1e-4)
    hf.save_pretrained(tmp_path / "resaved")  # what transformers itself writes loads back the same
    assert_same(checkpoints.load(tmp_path / "resaved"), params)


def _broken(params, **changes):
    return {**params.tensors, **changes}


@pytest.mark.parametrize("mutate,message", [
    (lambda t: t.pop("model/h1/mlp/c_fc/b"), "missing tensors: model/h1/mlp/c_fc/b"),
    (lambda t: t.update({"model/h9/extra": np.zeros(3, np.float32)}), "unexpected tensors: model/h9/extra"),
    (lambda t: t.update({"model/wpe": np.zeros((5, 6), np.float32)}), r"model/wpe has shape \(5, 6\), expected \(6, 6\)"),
    (lambda t: t.update({"model/ln_f/g": np.ones(6, np.int32)}), "model/ln_f/g has dtype int32"),
    (lambda t: t.update({"model/ln_f/b": np.full(6, np.nan, np.float32)}), "model/ln_f/b has 6 non-finite values"),
    (lambda t: t.update({"model/h0/attn/c_proj/w": np.zeros((6, 6), np.float32)}), r"attn/c_proj/w has shape \(6, 6\), expected \(1, 6, 6\)"),
])
def test_malformed_tensors_are_named(params, mutate, message):
    tensors = dict(params.tensors)
    mutate(tensors)
    with pytest.raises(InvalidParams, match=message):
        Params(HP, tensors)


def test_inconsistent_hparams():
    with pytest.raises(InvalidParams, match="n_embd 10 is not divisible by n_head 3"):
        HParams(n_vocab=5, n_ctx=4, n_embd=10, n_head=3, n_layer=1)
    with pytest.raises(InvalidParams, match="n_layer must be a positive integer"):
        HParams(n_vocab=5, n_ctx=4, n_embd=9, n_head=3, n_layer=0)


def test_official_checkpoint_with_wrong_hparams(params, tmp_path):
    checkpoints.save_official(params, tmp_path)
    (tmp_path / "hparams.json").write_text(json.dumps({**HP.to_dict(), "n_layer": 3}))
    with pytest.raises(InvalidParams, match="missing tensors: model/h2/"):
        checkpoints.load(tmp_path)


def test_official_checkpoint_truncated(params, tmp_path):
    checkpoints.save_official(params, tmp_path)
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(InvalidParams, match="TensorFlow cannot read the checkpoint"):
        checkpoints.load(tmp_path)


def test_hf_directory_with_untied_head(params, tmp_path):
    from safetensors.numpy import load_file, save_file
    checkpoints.save_hf(params, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["lm_head.weight"] = state["transformer.wte.weight"] + 1
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(InvalidParams, match="lm_head.weight that differs from wte"):
        checkpoints.load(tmp_path)


def test_hf_directory_of_another_architecture(params, tmp_path):
    checkpoints.save_hf(params, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "activation_function": "gelu"}))
    with pytest.raises(InvalidParams, match="activation_function='gelu'"):
        checkpoints.load(tmp_path)


def test_garbage_files(tmp_path):
    with pytest.raises(InvalidParams, match="does not exist"):
        checkpoints.load(tmp_path / "nowhere")
    with pytest.raises(InvalidParams, match="neither an official GPT-2 directory"):
        checkpoints.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidParams, match="cannot read"):
        checkpoints.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": 5, "n_positions": 4,
                                                      "n_embd": 4, "n_head": 2, "n_layer": 1}))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(InvalidParams, match="cannot read .*model.safetensors"):
        checkpoints.load(tmp_path)
