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

from conformance import golden
from conformance.tolerances import max_abs_err
from reference.params import InvalidParams


def test_manifest_lists_every_spec_and_each_case_is_complete():
    assert golden.names() == [s.name for s in golden.SPECS]
    for entry in golden.manifest()["cases"]:
        directory = golden.GOLDEN_DIR / entry["name"]
        expected = {"inputs.npz", "logits.npz"}
        if entry["weights"]["committed"]:
            expected |= {"hparams.json", "checkpoint", "model.ckpt.index", "model.ckpt.data-00000-of-00001"}
        assert {p.name for p in directory.iterdir()} == expected, entry["name"]
        assert entry["reference"]["e32"] > 0


def test_committed_data_stays_small():
    size = sum(p.stat().st_size for p in golden.GOLDEN_DIR.rglob("*") if p.is_file())
    assert size < 4e6


def test_changed_weights_are_rejected(tmp_path, monkeypatch):
    name = golden.names()[0]
    shutil.copytree(golden.GOLDEN_DIR, tmp_path / "golden")
    manifest = json.loads((tmp_path / "golden" / "manifest.json").read_text())
    manifest["cases"][0]["weights"]["sha256"] = "0" * 64
    (tmp_path / "golden" / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path / "golden")
    monkeypatch.setattr(golden, "MANIFEST", tmp_path / "golden" / "manifest.json")
    golden.load.cache_clear()
    try:
        with pytest.raises(InvalidParams, match=f"golden case {name}: the weights' SHA-256 differs"):
            golden.load(name)
    finally:
        golden.load.cache_clear()


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
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "golden", "--check", "--case", "huge_scores_past"],
                          cwd=golden.GOLDEN_DIR.parents[1], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "huge_scores_past" in proc.stdout and "openai-tf" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "golden"], cwd=golden.GOLDEN_DIR.parents[1],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--official-src" in proc.stderr
