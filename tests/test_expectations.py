"""Expectation files: what they may say, and how a listed failure is judged."""
import pytest

from conformance import expectations
from conformance.runner import PropertyResult

LINK = "https://github.com/karpathy/nanoGPT/issues/274"


def write(tmp_path, body, backend="b"):
    path = tmp_path / "x.toml"
    path.write_text(f'backend = "{backend}"\n' + body)
    return path


def entry(prop="reference_logits", kind="tolerance", category="known-bug", reason=f"bug, {LINK}", extra=""):
    return f'[[expected]]\nproperty = "{prop}"\ncategory = "{category}"\nkind = "{kind}"\nreason = "{reason}"\n{extra}\n'


@pytest.mark.parametrize("body,complaint", [
    (entry(prop="nope"), "unknown property 'nope'"),
    (entry(kind="slow"), "kind must be one of tolerance, error, shape"),
    (entry(category="wontfix"), "category must be one of"),
    (entry(reason="no link"), "must link"),
    (entry() + entry(), "listed twice: reference_logits"),
    ('[[expected]]\nproperty = "determinism"\n', "missing category, kind, reason"),
    ("oops = [", "cannot read"),
    (entry(extra="max_error = -1"), "max_error must be a positive number"),
    (entry(kind="error", extra="max_error = 1e-3"), "on an entry of kind tolerance"),
])
def test_a_malformed_file_is_a_clear_error(tmp_path, body, complaint):
    with pytest.raises(expectations.ExpectationError, match=complaint.replace("(", r"\(")):
        expectations.load(write(tmp_path, body))


def result(status, kind=None, dtype="float32", core=True, pid="reference_logits"):
    return PropertyResult(pid, status, core, kind=kind, dtype=dtype, message="what happened")


@pytest.mark.parametrize("listed,outcome,judged", [
    ("tolerance", result("failed", "tolerance"), "xfailed"),
    ("shape", result("error", "shape"), "xfailed"),
    ("error", result("skipped"), "xfailed"),  # a core property the backend cannot run
    ("tolerance", result("passed"), "xpassed"),  # the list must not rot
    ("error", result("failed", "tolerance"), "failed"),  # a different failure is a new failure
    ("tolerance", result("error", "error"), "error"),
    ("tolerance", result("blocked", "error"), "blocked"),  # the essentials failure is the one to fix
])
def test_listed_failures_are_judged_by_kind(tmp_path, listed, outcome, judged):
    (e,) = expectations.load(write(tmp_path, entry(kind=listed))).entries
    assert expectations.apply([e], outcome).status == judged


def test_dtype_tiers_are_matched_and_an_entry_matching_nothing_is_an_error(tmp_path):
    f = expectations.load(write(tmp_path, entry(extra='dtype = "float16"')))
    assert expectations.apply(f.entries, result("failed", "tolerance", dtype="float16")).status == "xfailed"
    assert expectations.apply(f.entries, result("failed", "tolerance", dtype="float32")).status == "failed"
    (problem,) = expectations.unmatched(f.entries, [result("failed", "tolerance", dtype="float32")])
    assert "reference_logits [float16] matches nothing" in problem
    assert expectations.unmatched(f.entries, [result("passed", pid="determinism")]) == []  # not run: not judged


def test_a_bounded_deviation_does_not_cover_a_larger_error(tmp_path):
    (e,) = expectations.load(write(tmp_path, entry(extra="max_error = 1e-2"))).entries
    within, beyond = result("failed", "tolerance"), result("failed", "tolerance")
    within.max_abs_err, beyond.max_abs_err = 3e-3, 3e-3
    within.samples, beyond.samples = [[1e-3, 1e-4], [3e-3, 1e-4]], [[6.8, 1e-4], [3e-3, 1e-4]]  # any example counts
    assert expectations.apply([e], within).status == "xfailed"
    judged = expectations.apply([e], beyond)
    assert judged.status == "failed" and "exceeds the bound 0.01 of the known deviation" in judged.message
