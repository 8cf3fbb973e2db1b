"""The golden cases: intact data, and (given a clone of openai/gpt-2) equal to what the official code makes.

CI cannot fetch openai/gpt-2, so there the committed logits are checked by the official_logits property
against openai-tf and the reference (tests/test_properties.py). With a clone,

    GPT2_OFFICIAL_SRC=CLONE/src pytest tests/test_golden.py

also runs the genuine src/model.py on the committed checkpoints (as `gpt2-conformance golden --check
--official-src CLONE/src` does for every case).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from gpt2_conformance.cases import checkpoints, golden
from gpt2_conformance.judge.tolerances import max_abs_err
from gpt2_conformance.reference.params import HParams, InvalidParams, Params, param_shapes

COMMITTED = [c["name"] for c in golden.manifest()["cases"] if c["weights"]["committed"]]


def test_manifest_lists_every_spec_and_each_case_is_complete():
    assert golden.names() == [s.name for s in golden.SPECS]
    for entry in golden.manifest()["cases"]:
        directory = golden.GOLDEN_DIR / entry["name"]
        expected = {"inputs.npz", "logits.npz"}
        if entry["weights"]["committed"]:
            expected |= {golden.WEIGHTS,  # what load() reads; the rest is the official checkpoint
                         "hparams.json", "checkpoint", "model.ckpt.index", "model.ckpt.data-00000-of-00001"}
        assert {p.name for p in directory.iterdir()} == expected, entry["name"]
        assert entry["reference"]["e32"] > 0


def test_committed_data_stays_small():
    size = sum(p.stat().st_size for p in golden.GOLDEN_DIR.rglob("*") if p.is_file())
    assert size < 4e6


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_weights_are_the_official_tensors_with_the_manifests_sha256(name):
    entry = golden.manifest_entry(name)
    hparams = HParams.from_dict(entry["hparams"])
    tensors = load_file(str(golden.GOLDEN_DIR / name / golden.WEIGHTS))
    assert {k: v.shape for k, v in tensors.items()} == param_shapes(hparams)
    assert {v.dtype for v in tensors.values()} == {np.dtype(np.float32)}
    assert golden.weights_sha256(Params(hparams, tensors)) == entry["weights"]["sha256"]


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_weights_equal_the_official_checkpoint_bitwise(name):
    pytest.importorskip("tensorflow", reason="reading the official checkpoint needs TensorFlow (the tf extra)")
    official = checkpoints.load(golden.GOLDEN_DIR / name).tensors
    loaded = golden.load(name).params.tensors
    assert set(loaded) == set(official)
    for k, value in official.items():
        assert loaded[k].dtype == value.dtype and loaded[k].tobytes() == value.tobytes(), k


def test_loading_the_cases_never_imports_tensorflow():
    code = ("import sys; import gpt2_conformance.cases.golden as g\n"
            "for n in g.names():\n"
            "    g.tolerance(n, 'float32')\n"
            "    if n != 'gpt2_small_shape': g.load(n)\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=golden.GOLDEN_DIR.parents[1],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture
def golden_copy(tmp_path, monkeypatch):
    """A copy of the golden data that golden reads instead of the committed one."""
    copy = tmp_path / "golden"
    shutil.copytree(golden.GOLDEN_DIR, copy)
    monkeypatch.setattr(golden, "GOLDEN_DIR", copy)
    monkeypatch.setattr(golden, "MANIFEST", copy / "manifest.json")
    golden.load.cache_clear()
    yield copy
    golden.load.cache_clear()


def test_changed_weights_are_rejected(golden_copy):
    name = golden.names()[0]
    manifest = json.loads((golden_copy / "manifest.json").read_text())
    manifest["cases"][0]["weights"]["sha256"] = "0" * 64
    (golden_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidParams, match=f"golden case {name}: the weights' SHA-256 differs"):
        golden.load(name)


def test_a_changed_value_in_the_weights_file_is_rejected(golden_copy):
    name = COMMITTED[0]
    path = golden_copy / name / golden.WEIGHTS
    tensors = load_file(str(path))
    tensors["model/wte"][0, 0] = np.nextafter(tensors["model/wte"][0, 0], np.float32(np.inf))
    save_file(tensors, str(path))
    with pytest.raises(InvalidParams, match=f"golden case {name}: the weights' SHA-256 differs"):
        golden.load(name)


@pytest.mark.parametrize("damage", ["missing", "truncated", "not safetensors"])
def test_an_unreadable_weights_file_is_named(golden_copy, damage):
    name = COMMITTED[0]
    path = golden_copy / name / golden.WEIGHTS
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        path.write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidParams, match=f"cannot read the golden weights .*{name}/{golden.WEIGHTS}"):
        golden.load(name)


def test_missing_official_source_is_named(tmp_path):
    with pytest.raises(InvalidParams, match="has no model.py"):
        golden.run_official(tmp_path, tmp_path, np.zeros((1, 1), np.int64), np.zeros((1, 0), np.int64))


@pytest.mark.skipif(not os.environ.get("GPT2_OFFICIAL_SRC"), reason="set GPT2_OFFICIAL_SRC to a clone's src/ folder")
@pytest.mark.parametrize("name", ["four_layers_prefill_then_past", "huge_scores_past"])
def test_the_official_code_reproduces_the_committed_logits(name):
    case = golden.load(name)
    produced = golden.run_official(os.environ["GPT2_OFFICIAL_SRC"], golden.GOLDEN_DIR / name, case.tokens, case.continuation)
    assert max_abs_err(case.kept(produced), case.logits) <= golden.tolerance(name, "float32")


def test_golden_command_checks_against_openai_tf():
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "golden", "--check", "--case", "huge_scores_past"],
                          cwd=golden.GOLDEN_DIR.parents[1], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "huge_scores_past" in proc.stdout and "openai-tf" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "golden"], cwd=golden.GOLDEN_DIR.parents[1],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--official-src" in proc.stderr
