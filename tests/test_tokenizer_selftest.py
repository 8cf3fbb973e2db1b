"""selftest over the tokenizer mutants: each is run against every tokenizer property and must be killed by the
one meant for it, and the correct tokenizers must still certify, or the selftest fails (exit 1)."""
import json
import subprocess
import sys
from pathlib import Path

from gpt2_conformance import cli
from gpt2_conformance.backends import Subject
from gpt2_conformance.mutants import MUTANTS
from gpt2_conformance.mutants.tokenizers import TOKENIZER_MUTANTS, TokenizerMutant
from gpt2_conformance.properties import ids_of
from gpt2_conformance.report import terminal
from gpt2_conformance.run import selftest

ROOT = Path(__file__).resolve().parents[1]
DECODE_STRICT = "gpt2_conformance.mutants.tokenizers:decode_strict"


def test_a_tokenizer_mutant_is_killed_by_the_property_meant_for_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", "selftest", "--report-dir", str(tmp_path),
                           "--mutant", "decode_strict", "--tokenizer", "reference"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "selftest.json").read_text())
    cells = {c["property"]: c for c in result["cells"]}
    assert list(cells) == ids_of(Subject.TOKENIZER)  # every tokenizer property, and no model's
    assert cells["decode_official"]["cell"] == "killed" and cells["decode_official"]["intended"]
    assert "ids=" in cells["decode_official"]["counterexample"]
    (mutant,) = result["mutants"]
    assert mutant["subject"] == "tokenizer" and mutant["ok"] and "decode_official" in mutant["killed_by"]
    assert result["backends"] == [] and [t["name"] for t in result["tokenizers"]] == ["reference"]
    assert result["tokenizers"][0]["passed"] and result["tokenizer_timing"]["median_time_to_kill_s"] > 0
    assert result["timing"]["median_time_to_kill_s"] is None  # no model mutant ran
    assert "tokenizer mutant" in proc.stdout and "killed*" in proc.stdout
    assert "correct tokenizer reference: certified" in proc.stdout


def test_a_surviving_tokenizer_mutant_fails_the_selftest():
    correct = TokenizerMutant("correct_tokenizer", "no bug at all", "this test", ("decode_official",))
    result = selftest.run("dev", [correct, TOKENIZER_MUTANTS["decode_strict"]], ["decode_official"],
                          tokenizer_specs=[])
    survivor, killed = result["mutants"]
    assert not result["passed"] and not survivor["ok"] and survivor["missed"] == ["decode_official"]
    assert killed["ok"] and killed["first_failure_seconds"] <= killed["seconds"]
    assert "survives every property" in terminal.kill_matrix(result)


def test_a_correct_tokenizer_that_does_not_certify_fails_the_selftest():
    result = selftest.run("dev", [TOKENIZER_MUTANTS["decode_strict"]], ["decode_official"],
                          tokenizer_specs=[DECODE_STRICT])
    (tokenizer,) = result["tokenizers"]
    assert not result["passed"] and not tokenizer["passed"] and tokenizer["verdict"].startswith("not certified")
    assert "correct tokenizer decode_strict: not certified" in terminal.kill_matrix(result)


def test_each_mutant_meets_its_own_subjects_properties():
    model, tokenizer = MUTANTS["nondeterministic"], TOKENIZER_MUTANTS["decode_strict"]
    specs = {Subject.MODEL: [], Subject.TOKENIZER: []}
    chosen = selftest.selection([model, tokenizer], ["determinism", "decode_official"], specs)
    assert chosen == {Subject.MODEL: ([model], ["determinism"], []),
                      Subject.TOKENIZER: ([tokenizer], ["decode_official"], [])}
    # a subject no mutant, property or correct spec chosen reaches does not run
    assert set(selftest.selection([tokenizer], None, {**specs, Subject.TOKENIZER: None})) == {Subject.TOKENIZER}
    assert set(selftest.selection(None, ["determinism"], {Subject.MODEL: [], Subject.TOKENIZER: None})) == {
        Subject.MODEL}


def test_a_mutant_without_a_property_of_its_subject_is_a_usage_error(capsys, tmp_path):
    code = cli.main(["selftest", "--mutant", "decode_strict", "--property", "determinism", "--report-dir",
                     str(tmp_path)])
    assert code == 2 and "mutant decode_strict is a tokenizer mutant: --property names no tokenizer property" in (
        capsys.readouterr().err)
    code = cli.main(["selftest", "--mutant", "no_such_bug", "--report-dir", str(tmp_path)])
    assert code == 2 and "decode_strict" in capsys.readouterr().err  # the tokenizers' catalog is named too


def test_model_and_tokenizer_mutants_never_share_a_name():
    """selftest takes either catalog's names in one --mutant option."""
    from gpt2_conformance.mutants import MUTANTS
    from gpt2_conformance.mutants.tokenizers import TOKENIZER_MUTANTS

    assert not set(MUTANTS) & set(TOKENIZER_MUTANTS)
