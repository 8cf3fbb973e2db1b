"""Every command README.md and docs/ show is checked: its syntax and options are real, and where it can run
here it starts and finishes as documented.

`documented_commands` finds the commands: each line of an indented code block, and each inline code span,
that begins with a program (gpt2-conformance, pytest, python, pip, tox, bash, .ci/...). CHECKS says how each
is checked, and a command without an entry fails, so a new one cannot go unchecked:

- Run: in a directory of its own, as written, with its placeholders (FILE, DIR, SPEC, ...) filled in and,
  where the real run takes minutes, arguments appended that keep it to seconds (--property, -k, --case);
- QuickStart: the README's two quick-start commands take about 10 minutes each; .ci/run runs them as
  written (checked here), and their options are parsed here by the CLI's parser and by pytest;
- Parse: options only, by the CLI's parser (golden against a clone of openai/gpt-2, which CI lacks; golden
  --check, which tests/test_golden.py runs);
- PipInstall: the requirement's extras, version and tag are this project's (installs need the network);
- ToxEnv and Script: the environment is in tox.ini, the script is valid bash (they run for minutes to hours).
"""
import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

from gpt2_conformance import __version__, cli
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.outcomes import Exit

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS = ("gpt2-conformance ", "pytest ", "python ", "python3 ", "pip ", "tox ", "bash ", ".ci/")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOT_CERTIFIED, PARTIAL = Exit.NOT_CERTIFIED, Exit.PARTIAL  # exit statuses other than 0
ERF = "gpt2_conformance.mutants:erf_gelu"
ONE_PROPERTY = "--property causal_masking"


def documented_commands():
    """{command: ["file:line", ...]} for every command README.md and docs/ show."""
    found = {}
    for path in DOCS:
        text = path.read_text()
        spans = [(m.start(), m.group(1)) for m in re.finditer(r"`([^`]+)`", text)]
        offset = 0
        for line in text.splitlines(keepends=True):
            if line.startswith("    "):  # a line of an indented code block
                spans.append((offset, line))
            offset += len(line)
        for start, span in spans:
            command = re.sub(r"\s+#\s.*$", "", " ".join(span.split()))  # a trailing comment is not part of it
            if command.startswith(PROGRAMS):
                found.setdefault(command, []).append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, start) + 1}")
    return found


def readme_test_module():
    """The three-line test module as the README shows it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("    # tests/test_gpt2_conformance.py") + 1
    end = lines.index("", start)
    return "\n".join(line[4:] for line in lines[start:end]) + "\n"


def user_directory(tmp_path, copy=None, write=None):
    """A directory outside the checkout with the README's test module, `copy` ({path here: repository path})
    and `write` ({path here: text})."""
    files = {"tests/test_gpt2_conformance.py": readme_test_module(), **(write or {})}
    files.update({name: (ROOT / source).read_text() for name, source in (copy or {}).items()})
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def shell(command, cwd, timeout=300):
    """Run a command line as a reader would, with this environment's programs first on PATH; (status, output)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TF_CPP_MIN_LOG_LEVEL="2",
               # the oracle's results of this test run, wherever the command runs
               **{oracle_cache.ENV: str(Path(os.environ.get(oracle_cache.ENV, oracle_cache.DEFAULT)).resolve())})
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def saved_failure(tmp_path_factory):
    """A failing example saved by certify, and its certificate: the erf_gelu mutant's reference_logits."""
    out = tmp_path_factory.mktemp("saved") / "out"
    status, output = shell(f"gpt2-conformance certify --backend {ERF} --property reference_logits --report-dir {out}", out.parent)
    assert status == NOT_CERTIFIED, output
    return {"failing_input": out / "failing-inputs" / "erf_gelu__reference_logits__float32.npz",
            "certificate": out / "certificate.json"}


@dataclass(frozen=True)
class Run:
    """Run the command in a directory of its own (user_directory, with `copy` and `write`): each placeholder
    of `fill` replaced, `[...]` given its option, and `shorten` appended. Values may name the saved failure's
    {failing_input} and {certificate}. It must exit with `status`."""
    fill: dict = field(default_factory=dict)
    shorten: str = ""
    status: int = 0
    copy: dict = field(default_factory=dict)
    write: dict = field(default_factory=dict)
    needs: str = ""  # a module the command needs, which an install may lack

    def uses_saved_failure(self):
        return "{" in self.shorten + "".join(self.fill.values())

    def check(self, command, tmp_path, saved):
        if self.needs:
            pytest.importorskip(self.needs)
        for placeholder, value in self.fill.items():
            command = command.replace(placeholder, value.format(**saved))
        command = re.sub(r"\[(--[^]]+)\]", r"\1", command)  # an optional part, given
        status, output = shell(f"{command} {self.shorten.format(**saved)}", user_directory(tmp_path, self.copy, self.write))
        assert status == self.status, output


@dataclass(frozen=True)
class QuickStart:
    """.ci/run runs the command as written; here the options of each of its steps are checked."""

    def check(self, command, tmp_path, saved):
        assert command in (ROOT / ".ci" / "run").read_text(), ".ci/run does not run it as written"
        for step in command.split(" && "):
            argv = shlex.split(step)
            program = Path(argv[0]).name
            if program == "gpt2-conformance":
                cli.parser().parse_args(argv[1:])
            elif program == "pytest":  # pytest's options and the plugin's, without running a property
                status, output = shell(shlex.join(["pytest", *argv[1:], "--collect-only", "-q"]), user_directory(tmp_path))
                assert status == 0 and "collected" in output, output
            elif program == "pip":
                PipInstall().check(step, tmp_path, saved)
            else:
                assert argv[:3] == ["python3", "-m", "venv"], step


@dataclass(frozen=True)
class Parse:
    """Options only, by the CLI's own parser; `why` it does not run here (a test elsewhere may run it)."""
    why: str

    def check(self, command, tmp_path, saved):
        cli.parser().parse_args(shlex.split(command)[1:])


@dataclass(frozen=True)
class PipInstall:
    """Not run (it installs from the network): what it installs is this project, its extras exist, a wheel or
    a tag names this version, and torch is the pinned one."""

    def check(self, command, tmp_path, saved):
        for step in command.split(" && "):
            argv = shlex.split(step)
            if argv == ["python", "-m", "build"]:  # the build frontend a step before installs
                continue
            assert Path(argv[0]).name == "pip" and argv[1] == "install", step
            targets = [a for a, before in zip(argv[2:], argv[1:]) if not a.startswith("-") and "index-url" not in before]
            for target in targets:
                self.check_target(target)

    @staticmethod
    def check_target(target):
        extras = set(re.findall(r"\[([^]]*)\]", target)[0].split(",")) if "[" in target else set()
        assert extras <= set(PYPROJECT["project"]["optional-dependencies"]), target
        if target.startswith(".["):  # this checkout
            return
        if target.endswith("]") and ".whl[" in target:
            name, version, _, _ = parse_wheel_filename(Path(target.split("[")[0]).name)
            assert (name, str(version)) == ("gpt2-conformance", __version__), target
            return
        req = Requirement(target)
        if req.name == "gpt2-conformance":
            assert req.url and req.url.endswith(f"@v{__version__}"), f"{target}: not the tag of version {__version__}"
        elif req.name == "torch":
            pinned = [r for r in PYPROJECT["project"]["optional-dependencies"]["hf"] if r.startswith("torch")]
            assert [str(req)] == pinned, target
        else:  # a tool the command needs first
            assert req.name in {"build"}, target


@dataclass(frozen=True)
class ToxEnv:
    """Not run (minutes to tens of minutes): tox.ini defines the environment."""

    def check(self, command, tmp_path, saved):
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(ROOT / "tox.ini")
        env = shlex.split(command)[-1]
        assert tox.has_section(f"testenv:{env}"), f"tox.ini has no environment {env}"


@dataclass(frozen=True)
class Script:
    """Not run (this project's CI itself, 15 minutes to hours): the script is there, executable, valid bash."""

    def check(self, command, tmp_path, saved):
        path = ROOT / shlex.split(command)[-1]
        assert os.access(path, os.X_OK), f"{path} is not executable"
        status, output = shell(f"bash -n {shlex.quote(str(path))}", ROOT)
        assert status == 0, output


@dataclass(frozen=True)
class Benchmarks:
    """Not run (8 minutes): pytest collects the benchmarks with that option, and table.py rewrites a copy of
    docs/performance.md from the committed run's JSON exactly as it stands."""

    def check(self, command, tmp_path, saved):
        status, output = shell(f"pytest benchmarks -p no:cacheprovider --collect-only -q "
                               f"--benchmark-json={tmp_path / 'bench.json'}", ROOT)
        assert status == 0 and "collected" in output, output
        page = tmp_path / "performance.md"
        shutil.copy(ROOT / "docs" / "performance.md", page)
        status, output = shell(f"python benchmarks/table.py docs/performance.json --write {page}", ROOT)
        assert status == 0, output
        assert page.read_text() == (ROOT / "docs" / "performance.md").read_text()


KNOWN_DEVIATION = {"tests/data/erf_gelu.expectations.toml": "tests/data/erf_gelu.expectations.toml"}
SELFTEST_ONE = "--mutant no_causal_mask --property causal_masking --backend reference --report-dir out"
PIP = PipInstall()

CHECKS = {
    # README.md
    "python3 -m venv .venv && .venv/bin/pip install -e '.[all]' && .venv/bin/gpt2-conformance certify --profile ci "
    "--report-dir out": QuickStart(),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[all]' && .venv/bin/pytest -n 2 --gpt2-backend bundled":
        QuickStart(),
    "pip install -e '.[all]'": PIP,
    'pip install "gpt2-conformance[hf] @ git+https://github.com/OWNER/gpt2-conformance@v0.2.0"': PIP,
    "pip install build && python -m build": PIP,  # .ci/outside builds the wheel it installs so
    'pip install "dist/gpt2_conformance-0.2.0-py3-none-any.whl[hf]"': PIP,
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": PIP,
    "pip install -e '.[all]' --extra-index-url https://download.pytorch.org/whl/cpu": PIP,
    "gpt2-conformance selftest": Run(shorten=SELFTEST_ONE),
    "gpt2-conformance certify --backend my_torch_gpt2:backend --report-dir out":
        Run(shorten=ONE_PROPERTY, status=PARTIAL, copy={"my_torch_gpt2.py": "examples/my_torch_gpt2.py"}, needs="torch"),
    "gpt2-conformance replay FILE [--backend SPEC]": Run(fill={"FILE": "{failing_input}", "SPEC": "reference"}),
    "pytest --gpt2-tokenizer SPEC": Run(fill={"SPEC": "reference"}, shorten="-k roundtrip"),
    "gpt2-conformance certify --tokenizer SPEC": Run(fill={"SPEC": "reference"}, shorten="--property roundtrip",
                                                     status=PARTIAL),
    "gpt2-conformance replay": Run(shorten="{failing_input}", status=NOT_CERTIFIED),  # the saved failure fails still
    "gpt2-conformance --help": Run(),
    # docs/scaling.md
    "gpt2-conformance certify --backend reference --shard 1/3 --report-dir shard1": Run(shorten=ONE_PROPERTY,
                                                                                         status=PARTIAL),
    "gpt2-conformance merge shard1/certificate.json shard2/certificate.json shard3/certificate.json "
    "--report-dir merged":
        Parse("needs the three shards' certificates: tests/test_shards.py merges a run's three shards"),
    "pytest --gpt2-backend my_package.adapter:backend [--gpt2-expectations FILE] [--gpt2-profile ci]":
        Run(fill={"FILE": "erf_gelu.expectations.toml"}, shorten="-k causal_masking",
            copy={"erf_gelu.expectations.toml": "tests/data/erf_gelu.expectations.toml"},
            # the adapter: the erf_gelu mutant, which that expectation file is for (the entry for docs/ runs it)
            write={"my_package/__init__.py": "", "my_package/adapter.py": f"from {ERF.replace(':', ' import ')} as backend\n"}),
    "python -m pytest": Run(),  # no --gpt2-backend: the module's one item is skipped
    "bash .ci/run": Script(),
    ".ci/outside": Script(),
    ".ci/backends": Script(),
    "tox -e bench": ToxEnv(),
    # docs/
    "gpt2-conformance backends": Run(),
    "tox -e backends": ToxEnv(),
    "tox -e llama": ToxEnv(),
    "tox -e hf4": ToxEnv(),
    "tox -e ctranslate2": ToxEnv(),
    "tox -e openvino": ToxEnv(),
    "gpt2-conformance certify --tokenizer tiktoken": Run(needs="tiktoken"),
    "python -m gpt2_conformance.report.backend_table CERTIFICATE.json ...": Run(fill={"CERTIFICATE.json ...": "{certificate}"}),
    ".ci/run": Script(),
    "bash .ci/backends": Script(),
    "gpt2-conformance certify --report-dir DIR": Run(fill={"DIR": "out"}, shorten=f"--backend reference {ONE_PROPERTY}",
                                                     status=PARTIAL),
    f"gpt2-conformance certify --backend {ERF} --expectations tests/data/erf_gelu.expectations.toml":
        Run(shorten="--property reference_logits --max-examples 10", status=PARTIAL,  # a known deviation, within its bound
            copy=KNOWN_DEVIATION),
    f"pytest --gpt2-backend {ERF} --gpt2-expectations tests/data/erf_gelu.expectations.toml":
        Run(shorten="-k reference_logits", copy=KNOWN_DEVIATION),
    "gpt2-conformance certify --backend my_torch_gpt2:backend --expectations torch":
        Run(shorten="--property gradients", status=PARTIAL, copy={"my_torch_gpt2.py": "examples/my_torch_gpt2.py"},
            needs="torch"),
    "pytest --gpt2-backend my_package.adapter:backend --gpt2-expectations torch":
        Run(shorten="-k causal_masking",
            write={"my_package/__init__.py": "", "my_package/adapter.py": f"from {ERF.replace(':', ' import ')} as backend\n"}),
    "gpt2-conformance golden --check": Parse("tests/test_golden.py runs it, on one case (TensorFlow takes 10 s to start)"),
    "gpt2-conformance golden --check --official-src CLONE/src": Parse("needs a clone of openai/gpt-2"),
    "gpt2-conformance golden --official-src CLONE/src": Parse("needs a clone of openai/gpt-2, and rewrites the committed cases"),
    "pytest benchmarks --benchmark-json=bench.json && python benchmarks/table.py bench.json --write docs/performance.md":
        Benchmarks(),
    "pytest benchmarks": Benchmarks(),
    "pytest -n 2 --gpt2-backend bundled": QuickStart(),  # the README's test command, timed by benchmarks/test_pytest.py
    "gpt2-conformance certify --backend B --profile ci": Run(fill={"B": "reference"}, shorten=ONE_PROPERTY, status=PARTIAL),
    "gpt2-conformance selftest --profile ci": Run(shorten=SELFTEST_ONE),
    # docs/fuzzing.md (tests/test_fuzz.py runs the story end to end)
    "gpt2-conformance fuzz --backend SPEC --minutes M --database DIR":
        Run(fill={"SPEC": "reference", "M": "0.05", "DIR": "db"}, shorten=f"{ONE_PROPERTY} --examples 50"),
    "gpt2-conformance certify --backend SPEC --profile ci --database DIR":
        Run(fill={"SPEC": "reference", "DIR": "db"}, shorten=ONE_PROPERTY, status=PARTIAL),
    "pytest --gpt2-backend SPEC --gpt2-database DIR":
        Run(fill={"SPEC": "reference", "DIR": "db"}, shorten="-k causal_masking"),
    "pip install -e '.[redis]'": PIP,
}


def test_every_documented_command_is_checked():
    documented = documented_commands()
    unchecked = {c: where for c, where in documented.items() if c not in CHECKS}
    assert not unchecked, f"documented commands without a check in CHECKS: {unchecked}"
    stale = set(CHECKS) - set(documented)
    assert not stale, f"CHECKS names commands the docs no longer show: {stale}"


@pytest.mark.parametrize("command", list(CHECKS), ids=[c if len(c) <= 80 else f"{c[:77]}..." for c in CHECKS])
def test_documented_command(command, tmp_path, request):
    check = CHECKS[command]
    saved = request.getfixturevalue("saved_failure") if isinstance(check, Run) and check.uses_saved_failure() else {}
    check.check(command, tmp_path, saved)


def test_the_readme_test_module_is_the_one_the_suite_runs():
    assert readme_test_module() in (ROOT / "tests" / "test_gpt2_conformance.py").read_text()


def test_version_tags_and_changelog_agree():
    """Every tag a document pins names this version, and the changelog's newest release is it."""
    for path in [*DOCS, ROOT / ".github" / "workflows" / "certify.yml"]:
        for tag in re.findall(r"@v(\d+\.\d+\.\d+)", path.read_text()):
            assert tag == __version__, f"{path.relative_to(ROOT)} pins v{tag}, the suite is {__version__}"
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases and releases[0] == __version__
