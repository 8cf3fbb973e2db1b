"""The certificate: what was run, on what, and what held, as strict JSON (described by
conformance/report/certificate.schema.json) and as JUnit XML."""
import json
import math
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree as ET

from gpt2_conformance import __version__

SCHEMA = Path(__file__).with_name("certificate.schema.json")
VERSION = 3  # of the certificate's format: raised whenever a field changes meaning or goes away
PACKAGES = ("numpy", "hypothesis", "torch", "transformers", "tensorflow-cpu", "tensorflow", "safetensors",
            "onnx", "onnxscript", "onnxruntime", "keras", "keras-hub", "jax", "flax", "tf-keras",
            "llama-cpp-python", "gguf")
# JSON has no infinities or NaN (jq, JavaScript and Actions' fromJSON reject them): they are written as
# these strings, and the schema allows them wherever a number may be non-finite.
NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}


def environment():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def build(backends, *, seed, profile, max_examples, partial, accepted, expectations=(), expectation_errors=(),
          command=None, checkpoint=None):
    """backends: [{name, spec, verdict, passed, capabilities, properties: [PropertyResult], input_contract}];
    partial: why the run cannot certify ([] for a full run); accepted: the verdicts a passing run allows;
    expectations: the expectation files applied ([expectations.Expectations])."""
    return strict({
        "certificate_version": VERSION,
        "suite_version": __version__,
        "seed": seed,
        "profile": profile,
        "max_examples": max_examples,
        "partial": list(partial),
        "accepted": accepted,
        "command": command,
        "checkpoint": checkpoint,  # the weights the properties ran on; None: generated weights
        "environment": environment(),
        "expectations": [{"backend": e.backend, "path": e.path, "sha256": e.sha256} for e in expectations],
        "expectation_errors": list(expectation_errors),
        "passed": all(b["passed"] for b in backends) and not expectation_errors and not partial,
        "backends": [{**b, "verdict": b["verdict"].to_dict(), "properties": [p.to_dict() for p in b["properties"]]}
                     for b in backends],
    })


def strict(value):
    """value with every non-finite float replaced by its NON_FINITE string ("nan" for NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE.get(value, "nan")
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def number(value):
    """A number read back from a certificate (the inverse of strict for one value)."""
    return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(value, value)


def to_json(cert):
    """Indented, except that lists of numbers (and lists of those: the samples) stay on one line."""
    text = json.dumps(cert, indent=2, allow_nan=False)
    flat = r'\[(?:[^\[\]{}"]|"(?:-?inf|nan)")*\]'  # a list of numbers (non-finite ones as strings)
    text = re.sub(flat, lambda m: re.sub(r"\s+", "", m.group()).replace(",", ", "), text)
    text = re.sub(rf"\[\s*{flat}(?:,\s*{flat})*\s*\]", lambda m: re.sub(r"\s+", "", m.group()), text)
    return text + "\n"


def to_junit(cert):
    suites = ET.Element("testsuites", name="gpt2-conformance")
    for b in cert["backends"]:
        props = b["properties"]
        suite = ET.SubElement(
            suites, "testsuite", name=b["name"], tests=str(len(props)),
            failures=str(sum(p["status"] in ("failed", "xpassed", "blocked") for p in props)),
            errors=str(sum(p["status"] == "error" for p in props)),
            skipped=str(sum(p["status"] in ("skipped", "xfailed", "partial") for p in props)),
            time=f"{sum(p['seconds'] for p in props):.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="verdict", value=b["verdict"]["label"])
        for p in props:
            case = ET.SubElement(suite, "testcase", classname=b["name"], name=p["id"], time=f"{p['seconds']:.3f}")
            text = "\n".join(filter(None, [p.get("message"), p.get("counterexample") and f"counterexample: {p['counterexample']}",
                                            p.get("reproduction") and f"reproduce: {p['reproduction']}"]))
            if p["status"] in ("failed", "error", "xpassed", "blocked"):
                ET.SubElement(case, "error" if p["status"] == "error" else "failure", message=p.get("message") or "").text = text
            elif p["status"] in ("skipped", "xfailed", "partial"):
                ET.SubElement(case, "skipped", message=p.get("message") or p["status"])
            ET.SubElement(case, "system-out").text = (
                f"dtype={p['dtype']} examples={p['examples']} max_abs_err={p['max_abs_err']} tolerance={p['tolerance']} "
                f"worst_ratio={p['worst_ratio']} median_ratio={p['median_ratio']}"
            )
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
