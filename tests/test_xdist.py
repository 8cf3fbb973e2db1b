"""`pytest -n 2` gives the same verdicts, and the same recorded numbers, as `pytest` (ci profile)."""
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]


def verdicts(junit):
    """{test id: (outcome, {recorded property: value})} from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        recorded = {p.get("name"): p.get("value") for p in case.iter("property")}
        recorded.pop("seconds", None)
        out[f"{case.get('classname')}::{case.get('name')}"] = (outcome, recorded)
    return out


def run_pytest(tmp_path, *extra):
    junit = tmp_path / f"junit{len(extra)}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "tests/test_properties.py", "-p", "no:cacheprovider", "-q",
                    "--hypothesis-profile=ci", "--junitxml", str(junit),
                    "--backend", "conformance.mutants:erf_gelu",
                    "--backend", "tests.misbehaving:wrong_shape",
                    "--expectations", "tests/data/erf_gelu.expectations.toml",
                    "-k", "reference_logits or essentials", *extra],
                   cwd=ROOT, capture_output=True, text=True, timeout=600)
    return verdicts(junit)


def test_xdist_gives_the_same_verdicts_and_report_content(tmp_path):
    serial, parallel = run_pytest(tmp_path), run_pytest(tmp_path, "-n", "2")
    assert parallel == serial
    outcomes = {k.split("::")[-1]: v[0] for k, v in serial.items()}
    assert outcomes["test_property[conformance.mutants:erf_gelu-reference_logits]"] == "skipped"  # xfail, as listed
    assert outcomes["test_essentials[tests.misbehaving:wrong_shape]"] == "failure"
    assert outcomes["test_essentials[conformance.mutants:erf_gelu]"] == "passed"
    recorded = serial[next(k for k in serial if k.endswith("[conformance.mutants:erf_gelu-reference_logits]"))][1]
    assert recorded["kind"] == "tolerance" and float(recorded["worst_ratio"]) > 1
