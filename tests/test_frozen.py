"""Engines with frozen weights: tied_head cannot run on them, which is a named verdict that a gate accepts only when
told to (--accept-frozen-weights), never a way around a failing property."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from gpt2_conformance.backends import Capabilities, Subject
from gpt2_conformance.judge.runner import PropertyResult
from gpt2_conformance.judge.verdict import FROZEN, Acceptance, judge
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.report import text

ROOT = Path(__file__).resolve().parents[1]
FROZEN_ENGINE = Capabilities(set_wte=False)


def results(**status):
    """A full run's results, each passed unless named; tied_head skipped as on frozen weights."""
    status = {"tied_head": "skipped", **status}
    return [PropertyResult(pid, status.get(pid, "passed"), prop.core, dtype="float32",
                           message="backend lacks set_wte" if pid == "tied_head" else None)
            for pid, prop in REGISTRY.items() if not prop.training and prop.subject == Subject.MODEL]


def test_a_frozen_engine_that_passes_everything_else_is_certified_with_frozen_weights():
    verdict = judge(results(), FROZEN_ENGINE)
    assert verdict.status == "certified" and verdict.frozen == ("tied_head",)
    assert verdict.label == f"certified with frozen weights ({FROZEN})"
    assert not verdict.accepted() and verdict.accepted(Acceptance(frozen_weights=True))


def test_the_frozen_verdict_never_hides_a_failing_property():
    verdict = judge(results(reference_logits="failed"), FROZEN_ENGINE)
    assert verdict.status == "not certified" and verdict.reasons == ("reference_logits failed",)
    assert not verdict.accepted(Acceptance(frozen_weights=True))


def test_a_live_model_that_cannot_run_tied_head_is_not_certified():
    # a backend with set_wte whose tied_head is skipped for another reason is not an engine with frozen weights
    verdict = judge(results(), replace(FROZEN_ENGINE, set_wte=True))
    assert verdict.status == "not certified" and verdict.frozen == ()


def test_the_headline_says_what_a_gate_refused_and_the_option_that_accepts_it():
    verdict = judge(results(), FROZEN_ENGINE).to_dict()
    cert = {"passed": False, "expectation_errors": [], "partial": [],
            "backends": [{"name": "engine", "passed": False, "verdict": verdict}]}
    assert text.headline(cert) == (f"NOT CERTIFIED (engine: certified with frozen weights ({FROZEN}), not accepted "
                                   "without --accept-frozen-weights)")


def certify(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "certify", "--report-dir", str(tmp_path),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, json.loads((tmp_path / "certificate.json").read_text())


def test_certify_accepts_frozen_weights_only_when_told(tmp_path):
    proc, cert = certify(tmp_path, "--backend", "tests.frozen:backend", "--accept-frozen-weights")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert cert["accepted"]["frozen_weights"] and cert["backends"][0]["verdict"]["frozen"] == ["tied_head"]
    label = f"certified with frozen weights ({FROZEN}); training: certified"
    assert f"frozen-reference: {label}" in proc.stdout
    assert (tmp_path / "report.md").read_text().startswith(
        f"## gpt2-conformance: certified (every verdict accepted; frozen-reference: {label})")


def test_a_frozen_engine_with_a_real_bug_is_not_certified(tmp_path):
    proc, cert = certify(tmp_path, "--backend", "tests.frozen:erf_gelu", "--accept-frozen-weights",
                         "--property", "reference_logits", "--property", "tied_head")
    assert proc.returncode == 1 and cert["backends"][0]["verdict"]["reasons"] == ["reference_logits failed (tolerance)"]


def test_declaring_frozen_weights_buys_only_the_named_verdict():
    """The head copied from wte at load (killed by tied_head where the model is live) passes every other core
    property: declared frozen, it is certified with frozen weights, which no gate accepts unless told to."""
    from gpt2_conformance.cases import profiles
    from gpt2_conformance.judge.runner import run_property
    from gpt2_conformance.mutants import MUTANTS

    live = MUTANTS["head_copied_at_load"]
    frozen = replace(live, capabilities=replace(live.capabilities, set_wte=False))
    ran = [run_property(REGISTRY[pid], frozen, settings=profiles.get("ci"), max_examples=10)
           for pid in ("tied_head", "reference_logits")]
    assert [r.status for r in ran] == ["skipped", "passed"]
    assert run_property(REGISTRY["tied_head"], live, settings=profiles.get("ci")).status == "failed"
    verdict = judge(ran + [r for r in results() if r.id not in ("tied_head", "reference_logits")], frozen.capabilities)
    assert verdict.frozen == ("tied_head",) and not verdict.accepted()
