"""Meta tests: every property can fail. Each mutant is killed by the property it targets, at the ci profile,
and ends not certified."""
from pathlib import Path

import pytest

from gpt2_conformance.backends import Subject, guard
from gpt2_conformance.cases import profiles
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.judge.verdict import judge
from gpt2_conformance.mutants import MUTANTS
from gpt2_conformance.properties import REGISTRY, ids_of

KILLS = [(m, p) for m in MUTANTS.values() for p in m.kills]


def run(mutant, property_id):
    return run_property(REGISTRY[property_id], mutant, settings=profiles.get("ci"), expected=mutant.expected)


def test_every_property_has_a_mutant():
    # a dtype tier runs its property's code, so its property's mutants prove it too; known_answers runs
    # only on GPT-2 124M weights: tests/test_checkpoint_mode.py shows it failing on wrong ones
    assert {p for _, p in KILLS} >= {id for id in ids_of(Subject.MODEL) if REGISTRY[id].dtype is None} - {"known_answers"}
    assert {p for _, p in KILLS} <= set(REGISTRY)


def test_every_property_that_compares_two_calls_meets_a_reused_output_buffer():
    comparing = {pid for pid, p in REGISTRY.items() if p.compares_calls and p.dtype is None}  # a tier runs its code
    assert comparing == {p for m, p in KILLS if m.reuses_output_buffer}


@pytest.mark.parametrize("mutant,property_id", KILLS, ids=[f"{m.name}-{p}" for m, p in KILLS])
def test_mutant_is_killed(mutant, property_id):
    result = run(mutant, property_id)
    assert result.status == "failed", f"{mutant.name} survived {property_id}: {result}"
    assert result.counterexample and ("Case(" in result.counterexample or "golden_case=" in result.counterexample)
    if result.kind == "tolerance":
        assert not result.max_abs_err <= result.tolerance
    assert not judge([result], mutant.capabilities).accepted()


@pytest.mark.parametrize("name,property_id", [("nondeterministic_reused_buffer", "determinism"),
                                              ("no_causal_mask_reused_buffer", "causal_masking")])
def test_without_its_copy_of_the_outputs_the_suite_would_compare_a_buffer_with_itself(monkeypatch, name, property_id):
    monkeypatch.setattr(guard, "owned", guard.np.asarray)  # the guard's copy, undone
    assert run(MUTANTS[name], property_id).status == "passed"


def test_every_mutant_names_its_real_bug():
    for m in MUTANTS.values():
        assert m.bug and m.cite and m.kills and set(m.kills) <= set(REGISTRY), m.name


def test_selftest_fails_when_a_mutant_survives():
    from gpt2_conformance.mutants import Mutant
    from gpt2_conformance.report import terminal
    from gpt2_conformance.run import selftest

    correct = Mutant("correct", "no bug at all", "this test", ("determinism",))
    result = selftest.run("dev", [correct, MUTANTS["nondeterministic"]], ["determinism"], backend_specs=[])
    survivor, killed = result["mutants"]
    assert not result["passed"]
    assert survivor["killed_by"] == [] and survivor["missed"] == ["determinism"] and not survivor["ok"]
    assert killed["ok"] and killed["first_failure_seconds"] <= killed["seconds"]
    assert "Case(" in killed["counterexample"]
    assert "survives every property" in terminal.kill_matrix(result)


def test_selftest_judges_a_correct_backend_as_certify_does(monkeypatch):
    """With its shipped known deviations, and its training verdict part of what must pass."""
    from gpt2_conformance.judge.runner import PropertyResult
    from gpt2_conformance.run import selftest
    from gpt2_conformance.run.isolation import BackendRun

    given = {}

    def run_isolated(spec, property_ids, **kwargs):
        given[spec] = kwargs["expectations"]
        run = BackendRun(spec, [], [])
        run.name, run.capabilities = spec, MUTANTS["untied_head_gradient"].capabilities
        run.results = [PropertyResult("tied_gradient", "failed", False, kind="tolerance")]
        return run

    monkeypatch.setattr(selftest, "run_isolated", run_isolated)
    result = selftest.run("ci", [MUTANTS["untied_head_gradient"]], ["tied_gradient"], backend_specs=["hf-torch-eager"])
    assert [Path(p).name for p in given["hf-torch-eager"]] == ["hf-torch-eager.toml"]
    (backend,) = result["backends"]
    assert not backend["passed"] and backend["verdict"].startswith("certified; training: not certified")
