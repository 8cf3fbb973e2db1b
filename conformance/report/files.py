"""The four reports of a certify run, written together: certificate.json, junit.xml, report.md, report.html."""
import os
import tempfile

from gpt2_conformance.report.certificate import to_json
from gpt2_conformance.report.html_page import html_page
from gpt2_conformance.report.junit import to_junit
from gpt2_conformance.report.markdown import markdown

REPORTS = ("certificate.json", "junit.xml", "report.md", "report.html")


def write_all(cert, directory):
    """The four reports of one run, each written whole (a temporary file renamed into place) after all four
    are rendered, so a failed write leaves no mixture of this run and an earlier one. Readable as any file
    the user writes (0644 under the usual umask; a temporary file would be 0600), to be served or shared."""
    texts = dict(zip(REPORTS, (to_json(cert), to_junit(cert), markdown(cert), html_page(cert))))
    umask = os.umask(0)
    os.umask(umask)
    for name, text in texts.items():
        with tempfile.NamedTemporaryFile("w", dir=directory, prefix=f".{name}.", delete=False, encoding="utf-8") as f:
            f.write(text)
        os.chmod(f.name, 0o666 & ~umask)
        os.replace(f.name, directory / name)
    return [directory / name for name in REPORTS]
