"""The plugin's properties are ordinary pytest items: -k, node ids, --collect-only and --lf select them as
any test; the run ends with each backend's verdict, and a failing example is saved for replay."""
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2_conformance.backends import Subject
from gpt2_conformance.properties import ids_of

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/test_gpt2_conformance.py"
ERF = "gpt2_conformance.mutants:erf_gelu"
MODEL = ids_of(Subject.MODEL)  # the plugin runs the model properties


def pytest_run(tmp_path, *args, target=MODULE):
    proc = subprocess.run([sys.executable, "-m", "pytest", target, "-q", "-rfs", "-o", f"cache_dir={tmp_path / 'cache'}",
                           "--gpt2-report-dir", str(tmp_path / "out"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_collect_only_counts_every_property_and_the_essentials_check(tmp_path):
    code, out = pytest_run(tmp_path, "--collect-only", "--gpt2-backend", "reference", "--gpt2-backend", ERF)
    assert code == 0 and f"{2 * (len(MODEL) + 1)} tests collected" in out


def test_k_runs_exactly_that_property_and_the_verdict_says_partial(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-backend", "reference", "-k", "causal_masking")
    assert code == 0 and f"1 passed, {len(MODEL)} deselected" in out
    assert "gpt2-conformance verdicts" in out and f"reference: partial: 1 of {len(MODEL)} properties ran" in out


def test_a_failing_property_is_saved_for_replay_and_its_node_id_and_lf_rerun_it(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-backend", ERF, "-k", "reference_logits and not float or determinism")
    saved = tmp_path / "out" / "failing-inputs" / "erf_gelu__reference_logits__float32.npz"
    assert code == 1 and "1 failed, 1 passed" in out and saved.exists()
    assert f"reproduce: gpt2-conformance replay {saved} --backend {ERF}" in out
    assert "erf_gelu: not certified: reference_logits failed (tolerance)" in out
    node = f"{MODULE}::test_gpt2_conformance[{ERF}-reference_logits]"
    assert f"FAILED {node}" in out
    code, out = pytest_run(tmp_path, "--gpt2-backend", ERF, target=node)  # the node id pytest printed
    assert code == 1 and "1 failed" in out and "passed" not in out
    code, out = pytest_run(tmp_path, "--gpt2-backend", ERF, "--lf")  # the last failure alone
    assert code == 1 and "1 failed" in out and f"{len(MODEL)} deselected" in out


def test_a_skip_names_the_plugins_own_option(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-backend", "reference", "-k", "known_answers")
    assert code == 0 and "--gpt2-checkpoint DIR" in out and " --checkpoint DIR" not in out


def test_without_a_backend_the_module_is_one_skipped_item(tmp_path):
    code, out = pytest_run(tmp_path)
    assert code == 0 and "1 skipped" in out and "name one with --gpt2-backend" in out


def test_an_upstream_set_by_name_and_the_hint_without_it(tmp_path):
    pytest.importorskip("torch")
    torch_ln = "tests.torch_layernorm_gpt2:backend"
    code, out = pytest_run(tmp_path, "--gpt2-backend", torch_ln, "-k", "gradients")
    assert code == 1 and "matches known upstream deviation pytorch/pytorch#188375" in out
    code, out = pytest_run(tmp_path, "--gpt2-backend", torch_ln, "-k", "gradients", "--gpt2-expectations", "torch",
                           "-rx")
    assert code == 0 and "1 xfailed" in out and "LayerNorm of width 1" in out


def test_tied_head_on_frozen_weights_fails_unless_accepted(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-backend", "tests.frozen:backend", "-k", "tied_head")
    assert code == 1 and "frozen-reference has frozen weights" in out and "--gpt2-accept-frozen-weights" in out
    code, out = pytest_run(tmp_path, "--gpt2-backend", "tests.frozen:backend", "-k", "tied_head",
                           "--gpt2-accept-frozen-weights")
    assert code == 0 and "1 skipped" in out


# Tokenizers: --gpt2-tokenizer SPEC, an item per tokenizer property (and the essentials check), named SPEC-tokenizer-ID.

TOKENIZER = ids_of(Subject.TOKENIZER)
DECODE_STRICT = "gpt2_conformance.mutants.tokenizers:decode_strict"


def test_tokenizers_are_collected_beside_models_under_ids_of_their_own(tmp_path):
    code, out = pytest_run(tmp_path, "--collect-only", "--gpt2-backend", "reference", "--gpt2-tokenizer",
                           "reference")
    assert code == 0 and f"{len(MODEL) + 1 + len(TOKENIZER) + 1} tests collected" in out
    assert "[reference-essentials]" in out and "[reference-tokenizer-essentials]" in out
    assert all(f"[reference-tokenizer-{pid}]" in out for pid in TOKENIZER)


def test_a_correct_tokenizer_passes_and_a_shipped_expectation_applies(tmp_path):
    pytest.importorskip("tiktoken")
    code, out = pytest_run(tmp_path, "--gpt2-tokenizer", "reference", "--gpt2-tokenizer", "tiktoken")
    assert code == 0 and f"{2 * (len(TOKENIZER) + 1) - 1} passed, 1 xfailed" in out, out
    assert "reference (tokenizer): certified\n" in out
    assert ("tiktoken (tokenizer): certified with known deviations (encode_official; upstream: karpathy/minbpe#11)"
            in out)


def test_a_tokenizer_mutant_fails_its_item_with_the_counterexample_and_its_node_id_reruns_it(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-tokenizer", DECODE_STRICT, "-k", "decode_official")
    node = f"{MODULE}::test_gpt2_conformance[{DECODE_STRICT}-tokenizer-decode_official]"
    saved = tmp_path / "out" / "failing-inputs" / "decode_strict__decode_official.npz"
    assert code == 1 and "1 failed" in out and f"FAILED {node}" in out
    assert "counterexample: vocab=" in out and "ids=" in out and "UnicodeDecodeError" in out
    assert f"reproduce: gpt2-conformance replay {saved} --tokenizer {DECODE_STRICT}" in out and saved.exists()
    assert "decode_strict (tokenizer): not certified: decode_official error (error)" in out
    code, out = pytest_run(tmp_path, "--gpt2-tokenizer", DECODE_STRICT, target=node)
    assert code == 1 and "1 failed" in out and "passed" not in out


def test_k_selects_tokenizer_items_apart_from_the_models(tmp_path):
    code, out = pytest_run(tmp_path, "--gpt2-backend", "reference", "--gpt2-tokenizer", "reference",
                           "-k", "tokenizer and roundtrip")
    assert code == 0 and f"1 passed, {len(MODEL) + len(TOKENIZER) + 1} deselected" in out
    assert f"reference (tokenizer): partial: 1 of {len(TOKENIZER)} properties ran" in out
    assert "reference: " not in out  # no model property ran, so no model verdict


def test_a_declared_special_text_policy_fails_unless_accepted(tmp_path):
    pytest.importorskip("transformers")
    special = "tests.transformers_special:backend"
    code, out = pytest_run(tmp_path, "--gpt2-tokenizer", special, "-k", "special_text")
    assert code == 1 and "declares special-text policy 'special'" in out and "--gpt2-accept-special-text" in out
    code, out = pytest_run(tmp_path, "--gpt2-tokenizer", special, "-k", "special_text", "--gpt2-accept-special-text")
    assert code == 0 and "1 passed" in out
