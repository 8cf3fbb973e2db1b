"""The CLI end to end: certificates, exit codes, broken and misbehaving backends."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpt2_conformance.backends import Subject
from gpt2_conformance.properties import ids_of
from tests import certificates

ROOT = Path(__file__).resolve().parents[1]


def certify(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "certify", "--report-dir", str(tmp_path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    cert = certificates.read(tmp_path / "certificate.json")
    return proc, cert


def test_backends_command():
    out = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "backends"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "reference" in out and "hf-torch-sdpa" in out


def test_an_outside_adapter_certifies_with_its_frameworks_upstream_set(tmp_path):
    """A correct PyTorch GPT-2 built on torch.nn.LayerNorm: certified with --expectations torch, the verdict naming
    the upstream issue (without it, it fails with a hint: test_upstream_sets.py)."""
    pytest.importorskip("torch")
    proc, cert = certify(tmp_path, "--backend", "tests.torch_layernorm_gpt2:backend", "--expectations", "torch")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (backend,) = cert["backends"]
    assert backend["verdict"]["label"] == ("certified; training: certified with known deviations (gradients; upstream: "
                                           "pytorch/pytorch#188375)")
    (applied,) = cert["expectations"]
    assert applied["backend"] is None and [s["name"] for s in applied["sets"]] == ["torch"]
    assert "upstream set torch (pytorch/pytorch#188375" in (tmp_path / "report.md").read_text()
    # without past, padding or half precision the example skips kv_cache, batch_padding and the dtype tiers;
    # known_answers needs GPT-2 124M weights; official_logits runs each golden case once
    ran = {p["id"]: p for p in backend["properties"] if p["status"] != "skipped"}
    assert ran.pop("gradients")["status"] == "xfailed" and all(p["status"] == "passed" for p in ran.values())
    assert all(p["examples"] >= 50 for p in ran.values() if p["id"] != "official_logits")
    assert not any(p["core"] for p in backend["properties"] if p["status"] == "skipped")


@pytest.mark.parametrize("mutant,prop", [("mask_added_1e4", "causal_masking"),
                                         ("head_copied_at_load", "tied_head"),
                                         ("erf_gelu", "reference_logits"),
                                         ("top_left_mask_after_past", "kv_cache")])  # kv_cache draws a set
def test_a_broken_backend_fails_with_a_counterexample(tmp_path, mutant, prop):
    proc, cert = certify(tmp_path, "--backend", f"gpt2_conformance.mutants:{mutant}", "--property", prop)
    assert proc.returncode == 1  # a failure, in a partial run too
    (result,) = cert["backends"][0]["properties"]
    assert result["status"] == "failed" and "Case(hparams=HParams(" in result["counterexample"]
    assert f"{mutant} / {prop}" in proc.stdout and "counterexample:" in proc.stdout
    # the saved example (every value the property drew) replays to the same failure
    replayed = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "replay",
                               str(tmp_path / f"failing-inputs/{mutant}__{prop}__float32.npz")],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert replayed.returncode == 1 and result["message"] in replayed.stdout


def test_hanging_crashing_and_raising_backends_cost_only_themselves(tmp_path):
    proc, cert = certify(tmp_path, "--backend", "tests.misbehaving:hangs", "--backend", "tests.misbehaving:aborts",
                         "--backend", "tests.misbehaving:raises",
                         "--property", "reference_logits", "--property", "determinism", "--timeout", "6")
    assert proc.returncode == 1
    by_name = {b["name"]: b for b in cert["backends"]}
    assert "no result within 6 s" in by_name["hangs"]["properties"][0]["message"]
    assert "signal SIGABRT" in by_name["aborts"]["properties"][0]["message"]
    assert "CUDA error" in by_name["raises"]["properties"][0]["message"]
    for name in ("hangs", "aborts", "raises"):  # each fails the essentials check: one cause, not one per property
        assert [p["status"] for p in by_name[name]["properties"]] == ["blocked", "blocked"]


def test_unknown_backend_is_an_error_not_a_crash(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "certify", "--report-dir", str(tmp_path),
                           "--backend", "nope:nothing"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "no module named 'nope'" in proc.stderr  # the user's typo: nothing ran


def test_a_backend_that_fails_to_import_is_blocked_by_that_one_cause_within_seconds(tmp_path, monkeypatch):
    import subprocess as sp

    started = []
    popen = sp.Popen
    monkeypatch.setattr(sp, "Popen", lambda *a, **k: started.append(a) or popen(*a, **k))
    from gpt2_conformance.run.isolation import run_isolated

    run = run_isolated("tests.misbehaving_import:backend", ids_of(Subject.MODEL), profile="ci", contract=True)
    assert len(started) == 1  # one worker, not one per property
    assert {r.status for r in run.results} == {"blocked"}
    assert {r.message for r in run.results} == {"blocked: the backend fails the essentials check (backend "
                                                 "'tests.misbehaving_import:backend' cannot be imported: RuntimeError: "
                                                 "CUDA driver not found)"}
    assert {record["outcome"] for record in run.contract.values()} == {"not probed"}


def test_a_backend_that_hangs_at_import_costs_one_timeout(tmp_path):
    proc, cert = certify(tmp_path, "--backend", "tests.misbehaving_hang_at_import:backend", "--timeout", "3")
    assert proc.returncode == 1
    (backend,) = cert["backends"]
    assert {p["status"] for p in backend["properties"]} == {"blocked"}
    assert "no result within 3 s" in backend["properties"][0]["message"]


def test_selftest_writes_the_kill_matrix(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "selftest", "--report-dir", str(tmp_path),
                           "--mutant", "nondeterministic", "--property", "determinism", "--backend", "reference"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "selftest.json").read_text())
    (cell,) = result["cells"]
    assert cell["cell"] == "killed" and cell["intended"] and "Case(" in cell["counterexample"]
    assert result["backends"][0]["passed"] and result["timing"]["median_time_to_kill_s"] > 0
    assert "killed*" in proc.stdout and "median" in proc.stdout


def test_selftest_rejects_an_unknown_mutant(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "selftest", "--mutant", "no_such_bug",
                           "--report-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "unknown mutant no_such_bug" in proc.stderr


@pytest.mark.parametrize("mutant", ["relu_declares_bfloat16", "relu_after_layer_0_declined",
                                    "nondeterministic_reused_buffer", "no_causal_mask_reused_buffer"])
def test_a_loophole_does_not_buy_a_certificate(tmp_path, mutant):
    proc, cert = certify(tmp_path, "--backend", f"gpt2_conformance.mutants:{mutant}", "--property", "reference_logits",
                         "--property", "determinism", "--property", "causal_masking")
    (backend,) = cert["backends"]
    assert proc.returncode == 1 and backend["verdict"]["status"] == "not certified", backend["verdict"]


def test_a_second_bug_behind_an_expectation_file_is_not_certified(tmp_path):
    listed = tmp_path / "erf.toml"
    listed.write_text((ROOT / "tests/data/erf_gelu.expectations.toml").read_text()
                      .replace('"erf_gelu"', '"relu_behind_erf_expectation"'))
    proc, cert = certify(tmp_path / "out", "--backend", "gpt2_conformance.mutants:relu_behind_erf_expectation",
                         "--property", "reference_logits", "--expectations", str(listed))
    (p,) = cert["backends"][0]["properties"]
    assert proc.returncode == 1 and p["status"] == "failed" and "beyond the bound" in p["message"]
