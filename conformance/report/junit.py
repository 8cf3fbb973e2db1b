"""junit.xml, for CI systems that show test results: each status as the failure, error or skip it counts as."""
from collections import Counter
from xml.etree import ElementTree as ET

from gpt2_conformance.outcomes import BAD, JUNIT
from gpt2_conformance.report.certificate import certified
from gpt2_conformance.report.text import status


def to_junit(cert):
    """junit.xml: a test suite per backend and tokenizer, a test case per property, the verdict as a suite property."""
    suites = ET.Element("testsuites", name="gpt2-conformance")
    for b in certified(cert):
        props = b["properties"]
        counts = Counter(JUNIT.get(status(p)) for p in props)
        suite = ET.SubElement(
            suites, "testsuite", name=b["name"], tests=str(len(props)),
            failures=str(counts["failure"]), errors=str(counts["error"]), skipped=str(counts["skipped"]),
            time=f"{sum(p['seconds'] for p in props):.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="verdict", value=b["verdict"]["label"])
        for p in props:
            case = ET.SubElement(suite, "testcase", classname=b["name"], name=p["id"], time=f"{p['seconds']:.3f}")
            text = "\n".join(filter(None, [p.get("message"), p.get("counterexample") and f"counterexample: {p['counterexample']}",
                                            p.get("upstream_hint"), p.get("reproduction") and f"reproduce: {p['reproduction']}"]))
            if status(p) in JUNIT:
                outcome = ET.SubElement(case, JUNIT[status(p)], message=p.get("message") or p["status"])
                if status(p) in BAD:  # a failure or an error carries its counterexample and reproduction
                    outcome.text = text
            ET.SubElement(case, "system-out").text = (
                f"dtype={p['dtype']} examples={p['examples']} max_abs_err={p['max_abs_err']} tolerance={p['tolerance']} "
                f"worst_ratio={p['worst_ratio']} median_ratio={p['median_ratio']}"
            )
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
