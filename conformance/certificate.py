"""The certificate: what was run, on what, and what held, as JSON and JUnit XML."""
import json
import platform
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


def build(backends, *, seed, profile, max_examples):
    """backends: [{name, spec, passed, properties: [PropertyResult.to_dict()]}]."""
    return {
        "suite_version": __version__,
        "seed": seed,
        "profile": profile,
        "max_examples": max_examples,
        "environment": environment(),
        "passed": all(b["passed"] for b in backends),
        "backends": backends,
    }


def write_json(cert, path):
    path.write_text(json.dumps(cert, indent=2, default=float) + "\n")


def write_junit(cert, path):
    suites = ET.Element("testsuites", name="gpt2-conformance")
    for b in cert["backends"]:
        props = b["properties"]
        suite = ET.SubElement(
            suites, "testsuite", name=b["name"], tests=str(len(props)),
            failures=str(sum(p["status"] == "failed" for p in props)),
            errors=str(sum(p["status"] == "error" for p in props)),
            skipped=str(sum(p["status"] in ("skipped", "xfailed") for p in props)),
            time=f"{sum(p['seconds'] for p in props):.3f}",
        )
        for p in props:
            case = ET.SubElement(suite, "testcase", classname=b["name"], name=p["id"], time=f"{p['seconds']:.3f}")
            text = "\n".join(filter(None, [p.get("message"), p.get("counterexample") and f"counterexample: {p['counterexample']}"]))
            if p["status"] in ("failed", "error"):
                ET.SubElement(case, "failure" if p["status"] == "failed" else "error", message=p.get("message") or "").text = text
            elif p["status"] in ("skipped", "xfailed"):
                ET.SubElement(case, "skipped", message=p.get("message") or p["status"])
            ET.SubElement(case, "system-out").text = (
                f"examples={p['examples']} max_abs_err={p['max_abs_err']} tolerance={p['tolerance']} worst_ratio={p['worst_ratio']}"
            )
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
