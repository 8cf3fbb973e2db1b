"""--checkpoint: the properties on fixed weights from a directory, and the GPT-2 124M known answers."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt2_conformance.backends import resolve
from gpt2_conformance.cases import checkpoints, golden, profiles, strategies
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.reference.params import HParams
from tests import certificates

ROOT = Path(__file__).resolve().parents[1]
HP = HParams(n_vocab=23, n_ctx=9, n_embd=8, n_head=2, n_layer=2)


@pytest.fixture(scope="module", params=["official", "hf"])
def checkpoint_dir(request, tmp_path_factory):
    params = random_params(HP, 5).astype(np.float32)
    save = {"official": checkpoints.save_official, "hf": checkpoints.save_hf}[request.param]
    return save(params, tmp_path_factory.mktemp(request.param))


def certify(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "certify", "--report-dir", str(tmp_path / "out"),
                           "--backend", "reference", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc


def test_certify_runs_the_properties_on_the_checkpoint(tmp_path, checkpoint_dir):
    proc = certify(tmp_path, "--checkpoint", str(checkpoint_dir), "--property", "causal_masking",
                   "--property", "known_answers", "--max-examples", "5")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # everything that ran held, in a partial run
    cert = certificates.read(tmp_path / "out" / "certificate.json")
    assert cert["checkpoint"] == str(checkpoint_dir)
    causal, known = cert["backends"][0]["properties"]
    assert causal["status"] == "passed" and causal["examples"] == 5
    assert known["status"] == "skipped" and "are not GPT-2 124M" in known["message"]


def test_a_file_or_a_missing_directory_is_named(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    proc = certify(tmp_path, "--checkpoint", str(tmp_path / "weights.bin"))
    assert proc.returncode == 2 and "is a file: a checkpoint is the directory that holds its files" in proc.stderr
    proc = certify(tmp_path, "--checkpoint", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_a_malformed_checkpoint_is_rejected_with_the_reason(tmp_path, checkpoint_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hparams.json").write_text(json.dumps(HP.to_dict()))
    proc = certify(tmp_path, "--checkpoint", str(broken))
    assert proc.returncode == 2
    assert "--checkpoint:" in proc.stderr and "has hparams.json but no model.ckpt.index" in proc.stderr


def test_pytest_runs_the_properties_on_the_checkpoint(checkpoint_dir, tmp_path):
    args = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/test_gpt2_conformance.py",
            "--gpt2-backend", "reference", "-k", "reference_logits or known_answers"]
    proc = subprocess.run(args + ["--gpt2-checkpoint", str(checkpoint_dir)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:]
    # reference_logits passes; known_answers and the half-precision tiers (the reference is float64) skip
    assert "1 passed, 3 skipped" in proc.stdout and "not GPT-2 124M" in proc.stdout
    proc = subprocess.run(args + ["--gpt2-checkpoint", str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "--gpt2-checkpoint:" in proc.stderr and "does not exist" in proc.stderr


def test_cases_draw_only_tokens_on_fixed_weights():
    params = random_params(HP, 3)
    space = strategies.Space(fixed=("a test's weights", params))
    from hypothesis import given, settings

    seen = []

    # the suite's own profile (derandomized, no time-based health check: a loaded CI machine is slow)
    @settings(profiles.get("ci"), max_examples=10)
    @given(strategies.cases(space, min_length=2))
    def draw(case):
        assert case.params() is params and case.hparams == HP
        assert 2 <= case.tokens.shape[1] <= HP.n_ctx and case.tokens.max() < HP.n_vocab
        assert repr(case).startswith("FixedCase(weights=\"a test's weights\", tokens=")
        seen.append(case)

    draw()
    assert len(seen) == 10


def test_known_answers_are_skipped_without_a_checkpoint():
    result = run_property(REGISTRY["known_answers"], resolve("reference"), settings=profiles.get("ci"))
    assert result.status == "skipped" and "--checkpoint DIR" in result.message


def test_known_answers_fail_on_wrong_weights_of_the_124m_shape():
    # The golden GPT-2 small shape case: the exact 124M shapes, generated (so wrong) weights.
    space = strategies.Space(fixed=("generated weights of the 124M shape", golden.load("gpt2_small_shape").params))
    result = run_property(REGISTRY["known_answers"], resolve("reference"), settings=profiles.get("ci"), space=space,
                          dtype="float32")
    assert result.status == "failed" and "greedy tokens differ from the published continuation" in result.message
