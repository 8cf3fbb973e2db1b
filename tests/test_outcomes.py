"""One vocabulary of outcomes: no module but outcomes.py spells a status or a verdict as a string."""
import ast
from pathlib import Path

from gpt2_conformance.outcomes import Exit, Standing, Status

PACKAGE = Path(__file__).resolve().parents[1] / "conformance"
WORDS = {s.value for s in Status} | {s.value for s in Standing}


def _spelled(path):
    """(line, word) of every string constant in path that is a status or verdict word, except as a dict key
    or a subscript (the certificate's fields `passed`, `partial`, ...) and in docstrings."""
    tree = ast.parse(path.read_text())
    allowed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            allowed |= {id(k) for k in node.keys if k is not None}
        elif isinstance(node, ast.Subscript):
            allowed.add(id(node.slice))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            allowed.add(id(node.value))  # a docstring
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in WORDS and id(node) not in allowed]


def test_no_raw_status_string_outside_the_outcomes_module():
    found = {f"{path.relative_to(PACKAGE)}:{line}": word for path in sorted(PACKAGE.rglob("*.py"))
             if path.name != "outcomes.py" for line, word in _spelled(path)}
    assert not found, f"spell these with gpt2_conformance.outcomes: {found}"


def test_every_verdict_of_a_run_has_its_exit_status():
    # certify exits with its run verdict's status: the headline and the exit status cannot disagree
    assert {Exit[s.name] for s in Standing if s != Standing.NOT_RUN} == {Exit.CERTIFIED, Exit.NOT_CERTIFIED, Exit.PARTIAL}
