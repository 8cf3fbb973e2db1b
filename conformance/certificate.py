"""The certificate: what was run, on what, and what held, as JSON and JUnit XML."""
import json
import platform
import re
import sys
from importlib import metadata
from xml.etree import ElementTree as ET

from conformance import __version__

PACKAGES = ("numpy", "hypothesis", "torch", "transformers", "tensorflow-cpu", "tensorflow", "safetensors",
            "onnx", "onnxscript", "onnxruntime", "keras", "keras-hub", "jax", "flax", "tf-keras",
            "llama-cpp-python", "gguf")


def environment():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def build(backends, *, seed, profile, max_examples, expectations=(), expectation_errors=(), command=None,
          checkpoint=None):
    """backends: [{name, spec, passed, properties: [PropertyResult.to_dict()]}];
    expectations: the expectation files applied ([expectations.Expectations])."""
    return {
        "suite_version": __version__,
        "seed": seed,
        "profile": profile,
        "max_examples": max_examples,
        "command": command,
        "checkpoint": checkpoint,  # the weights the properties ran on; None: generated weights
        "environment": environment(),
        "expectations": [{"backend": e.backend, "path": e.path, "sha256": e.sha256} for e in expectations],
        "expectation_errors": list(expectation_errors),
        "passed": all(b["passed"] for b in backends) and not expectation_errors,
        "backends": backends,
    }


def write_json(cert, path):
    """Indented, except that lists of numbers (and lists of those: the samples) stay on one line."""
    text = json.dumps(cert, indent=2, default=float)
    flat = r"\[[^\[\]{}\"]*\]"  # a list holding no list, object or string
    text = re.sub(flat, lambda m: re.sub(r"\s+", "", m.group()).replace(",", ", "), text)
    text = re.sub(rf"\[\s*{flat}(?:,\s*{flat})*\s*\]", lambda m: re.sub(r"\s+", "", m.group()), text)
    path.write_text(text + "\n")


def write_junit(cert, path):
    suites = ET.Element("testsuites", name="gpt2-conformance")
    for b in cert["backends"]:
        props = b["properties"]
        suite = ET.SubElement(
            suites, "testsuite", name=b["name"], tests=str(len(props)),
            failures=str(sum(p["status"] in ("failed", "xpassed", "blocked") for p in props)),
            errors=str(sum(p["status"] == "error" for p in props)),
            skipped=str(sum(p["status"] in ("skipped", "xfailed") for p in props)),
            time=f"{sum(p['seconds'] for p in props):.3f}",
        )
        for p in props:
            case = ET.SubElement(suite, "testcase", classname=b["name"], name=p["id"], time=f"{p['seconds']:.3f}")
            text = "\n".join(filter(None, [p.get("message"), p.get("counterexample") and f"counterexample: {p['counterexample']}",
                                            p.get("reproduction") and f"reproduce: {p['reproduction']}"]))
            if p["status"] in ("failed", "error", "xpassed", "blocked"):
                ET.SubElement(case, "error" if p["status"] == "error" else "failure", message=p.get("message") or "").text = text
            elif p["status"] in ("skipped", "xfailed"):
                ET.SubElement(case, "skipped", message=p.get("message") or p["status"])
            ET.SubElement(case, "system-out").text = (
                f"examples={p['examples']} max_abs_err={p['max_abs_err']} tolerance={p['tolerance']} worst_ratio={p['worst_ratio']}"
            )
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
