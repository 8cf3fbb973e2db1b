"""`pytest -n 2` gives the same verdicts, and the same recorded numbers, as `pytest` (ci profile)."""
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]


TIMES = ("seconds", "load_seconds", "forward_seconds")  # recorded too, and never the same twice


def verdicts(junit):
    """{test id: (outcome, {recorded property: value})} from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        recorded = {p.get("name"): p.get("value") for p in case.iter("property") if p.get("name") not in TIMES}
        recorded.pop("seconds", None)
        recorded.pop("gpt2_result", None)  # holds the message, whose timings may differ
        out[f"{case.get('classname')}::{case.get('name')}"] = (outcome, recorded)
    return out


def run_pytest(tmp_path, *extra):
    junit = tmp_path / f"junit{len(extra)}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "tests/test_gpt2_conformance.py", "-p", "no:cacheprovider", "-q",
                    "--gpt2-profile=ci", "--junitxml", str(junit),
                    "--gpt2-backend", "gpt2_conformance.mutants:erf_gelu",
                    "--gpt2-backend", "tests.misbehaving:wrong_shape",
                    "--gpt2-expectations", "tests/data/erf_gelu.expectations.toml",
                    "-k", "reference_logits or essentials", *extra],
                   cwd=ROOT, capture_output=True, text=True, timeout=600)
    return verdicts(junit)


def test_xdist_gives_the_same_verdicts_and_report_content(tmp_path):
    serial, parallel = run_pytest(tmp_path), run_pytest(tmp_path, "-n", "2")
    assert parallel == serial
    outcomes = {k.split("::", 1)[-1]: v[0] for k, v in serial.items()}
    item = "test_gpt2_conformance[{}]".format
    assert outcomes[item("gpt2_conformance.mutants:erf_gelu-reference_logits")] == "skipped"  # xfail, as listed
    assert outcomes[item("tests.misbehaving:wrong_shape-essentials")] == "failure"
    assert outcomes[item("gpt2_conformance.mutants:erf_gelu-essentials")] == "passed"
    recorded = serial["tests.test_gpt2_conformance::" + item("gpt2_conformance.mutants:erf_gelu-reference_logits")][1]
    assert recorded["kind"] == "tolerance" and float(recorded["worst_ratio"]) > 1
