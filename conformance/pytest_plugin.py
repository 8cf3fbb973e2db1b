"""The pytest plugin (entry point `pytest11`): every property of the suite as ordinary test items of your run.

Add one test module to your tests (the plugin provides its fixture and its parameters):

    # test_gpt2_conformance.py
    def test_gpt2_conformance(gpt2_property):
        gpt2_property.check()

and run `pytest --gpt2-backend my_package.adapter:backend [--gpt2-expectations FILE|SET] [--gpt2-profile ci]`:
one item per backend and property (and an `essentials` item per backend), judged exactly as `certify`
judges them, that -k, -m, --deselect, node ids, --collect-only, --lf and pytest-xdist select and run as
any other test (ONNX's backend test suite works the same way). The run ends with each backend's verdict,
as certify prints it, and a failing property's example is saved for `gpt2-conformance replay` under
--gpt2-report-dir. Without --gpt2-backend the module's one item is skipped: the plugin loads no backend
and changes no Hypothesis setting of the host project (the suite's profiles are registered as gpt2-dev,
gpt2-ci and gpt2-thorough, and used only by these items).
"""
import functools
from enum import StrEnum
from pathlib import Path

import pytest

from gpt2_conformance.outcomes import Kind, Status

BUNDLED_SPEC = "bundled"  # --gpt2-backend bundled: every available bundled backend that is not opt-in
ESSENTIALS = "essentials"


def pytest_addoption(parser):
    from gpt2_conformance.cases import profiles

    group = parser.getgroup("gpt2-conformance", "GPT-2 conformance properties")
    group.addoption("--gpt2-backend", action="append", default=[], metavar="SPEC",
                    help="run every property against this backend: a bundled name, an entry-point name, "
                         f"package.module:attr, or '{BUNDLED_SPEC}' for every available bundled one (repeatable)")
    group.addoption("--gpt2-expectations", action="append", default=[], metavar="FILE|SET",
                    help="a backend's expected failures (TOML), or an upstream set by name: a framework's known "
                         "deviations, for every backend (docs/expectations.md; repeatable)")
    group.addoption("--gpt2-accept-frozen-weights", action="store_true",
                    help="skip tied_head, instead of failing it, for an engine that cannot replace wte in place "
                         "(certify's --accept-frozen-weights; the verdict says 'certified with frozen weights')")
    group.addoption("--gpt2-checkpoint", metavar="DIR",
                    help="run the properties on this official or Hugging Face checkpoint directory's weights")
    group.addoption("--gpt2-profile", default="ci", choices=list(profiles.PROFILES),
                    help="the suite's Hypothesis profile for the property items (default: ci, as certify)")
    group.addoption("--gpt2-report-dir", metavar="DIR",
                    help="where a failing property's example is saved for `gpt2-conformance replay` "
                         "(default: the ini option gpt2_report_dir, else gpt2-conformance-report)")
    parser.addini("gpt2_report_dir", "where failing examples are saved for replay", default="gpt2-conformance-report")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpt2_conformance: a property of gpt2-conformance run against a backend")
    specs = config.getoption("gpt2_backend")
    if not specs:
        return
    from gpt2_conformance.backends import available_bundled
    from gpt2_conformance.cases import checkpoints
    from gpt2_conformance.judge import expectations
    from gpt2_conformance.reference.params import InvalidParams

    specs = [s for spec in specs for s in (available_bundled() if spec == BUNDLED_SPEC else [spec])]
    try:
        files = expectations.with_shipped([expectations.load_source(f) for f in config.getoption("gpt2_expectations")],
                                          specs)
    except expectations.ExpectationError as e:
        raise pytest.UsageError(str(e)) from None
    fixed = None
    if config.getoption("gpt2_checkpoint"):
        path = config.getoption("gpt2_checkpoint")
        try:
            fixed = (path, checkpoints.load(path))
        except InvalidParams as e:
            raise pytest.UsageError(f"--gpt2-checkpoint: {e}") from None
    report_dir = Path(config.getoption("gpt2_report_dir") or config.getini("gpt2_report_dir"))
    config.stash[OPTIONS] = Options(specs, files, fixed, config.getoption("gpt2_profile"), report_dir,
                                    config.getoption("gpt2_accept_frozen_weights"))


class Options:
    def __init__(self, specs, files, fixed, profile, report_dir, accept_frozen_weights):
        self.specs, self.files, self.fixed, self.profile, self.report_dir = specs, files, fixed, profile, report_dir
        self.accept_frozen_weights = accept_frozen_weights


OPTIONS = pytest.StashKey[Options]()


@pytest.fixture
def gpt2_property(request):
    """One property of the suite against one backend (the plugin parametrizes it): call .check()."""
    return request.param


def pytest_generate_tests(metafunc):
    if "gpt2_property" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash.get(OPTIONS, None)
    if options is None:
        metafunc.parametrize("gpt2_property", [pytest.param(None, marks=pytest.mark.skip(
            reason="no backend: name one with --gpt2-backend SPEC"))], ids=["no-backend"])
        return
    from gpt2_conformance.backends import Subject
    from gpt2_conformance.properties import ids_of

    cases = [PropertyCase(spec, pid, options) for spec in options.specs for pid in (ESSENTIALS, *ids_of(Subject.MODEL))]
    metafunc.parametrize("gpt2_property", [pytest.param(c, marks=pytest.mark.gpt2_conformance) for c in cases],
                         ids=[f"{c.spec}-{c.property_id}" for c in cases])


@functools.cache
def _resolved(spec):
    """(backend, None) or (None, why it cannot be had), once per process."""
    from gpt2_conformance.backends import BackendError, resolve

    try:
        return resolve(spec), None
    except BackendError as e:
        return None, str(e)


@functools.cache
def _essentials(spec):
    """None if the backend passes the essentials check, else why not."""
    from gpt2_conformance.judge.runner import essentials

    backend, why = _resolved(spec)
    if backend is None:
        return why
    failed = essentials(backend)
    return failed and f"{failed[1]} (failure kind: {failed[0]})"


class PropertyCase:
    """One backend and one property (or the essentials check): what an item of the test module runs."""

    def __init__(self, spec, property_id, options):
        self.spec, self.property_id, self.options = spec, property_id, options

    def __repr__(self):
        return f"{self.spec}-{self.property_id}"

    def check(self):
        """Pass, skip, xfail or fail as certify judges this property of this backend."""
        __tracebackhide__ = True
        why = _essentials(self.spec)
        if self.property_id == ESSENTIALS:
            if why:
                pytest.fail(f"{self.spec} fails the essentials check, so every property is blocked: {why}", pytrace=False)
            return
        if why:
            pytest.skip(f"blocked by {self.spec}'s essentials check")
        result, backend = self._run()
        _record(self.spec, result)
        if self._frozen_refused(result, backend):
            pytest.fail(f"{backend.name} has frozen weights ({result.message}): the core property {result.id} cannot "
                        "run. --gpt2-accept-frozen-weights accepts that ('certified with frozen weights')",
                        pytrace=False)
        if result.status == Status.SKIPPED:
            pytest.skip(result.message.replace("--checkpoint", "--gpt2-checkpoint"))
        if result.status == Status.XFAILED:
            pytest.xfail(result.message)
        if result.status != Status.PASSED:
            pytest.fail(self._failure(backend, result), pytrace=False)

    def _run(self):
        from gpt2_conformance.cases import profiles, strategies
        from gpt2_conformance.judge import expectations
        from gpt2_conformance.judge.runner import run_property
        from gpt2_conformance.properties import REGISTRY

        backend, _ = _resolved(self.spec)
        o = self.options
        return run_property(REGISTRY[self.property_id], backend, settings=profiles.get(o.profile),
                            space=strategies.Space.for_backend(backend.capabilities, o.fixed),
                            expected=expectations.entries_for(o.files, backend.name, self.spec)), backend

    def _frozen_refused(self, result, backend):
        from gpt2_conformance.judge.verdict import frozen_out

        return frozen_out(result, backend.capabilities) and not self.options.accept_frozen_weights

    def _failure(self, backend, result):
        from gpt2_conformance.run import replay

        if result.failing_draws:
            saved = replay.save(self.options.report_dir / "failing-inputs", spec=self.spec, backend_name=backend.name,
                                result=result)
            reproduce = replay.command(saved, self.spec)
        else:
            reproduce = replay.certify_command(self.spec, self.property_id, self.options.profile)
        return "\n".join(filter(None, [
            f"{backend.name} / {self.property_id}: {result.status} ({result.kind}): {result.message}",
            result.counterexample and f"counterexample: {result.counterexample}", result.upstream_hint,
            f"reproduce: {reproduce}"]))


def _record(spec, result):
    """What the verdict needs of a result, kept until the item's report carries it (to the controlling
    process too, under pytest-xdist)."""
    plain = {key: getattr(result, key) for key in JUNIT + VERDICT}  # xdist carries only plain types
    _PENDING.append([spec, result.id, {key: str(v) if isinstance(v, StrEnum) else v for key, v in plain.items()}])


JUNIT = ("status", "kind", "dtype", "examples", "max_abs_err", "tolerance", "worst_ratio", "median_ratio")  # recorded
VERDICT = ("core", "unseen", "message", "upstream")  # what judging the backend needs besides
_PENDING = []  # the result of the item running in this process, until its report is made
_OUTCOMES = {}  # (spec, property id) -> the recorded result, in the process that prints the verdicts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    while _PENDING:  # onto the item too: JUnit XML takes an item's properties from its teardown report
        spec, pid, recorded = _PENDING.pop()
        properties = [(key, recorded[key]) for key in JUNIT] + [("gpt2_result", [spec, pid, recorded])]
        item.user_properties += properties
        report.user_properties += properties


def pytest_runtest_logreport(report):
    for spec, pid, recorded in (value for name, value in report.user_properties if name == "gpt2_result"):
        _OUTCOMES[(spec, pid)] = recorded


def pytest_terminal_summary(terminalreporter, config):
    """Each backend's verdict, as certify prints it, from the properties this run judged."""
    options = config.stash.get(OPTIONS, None)
    if options is None or not _OUTCOMES:
        return
    from gpt2_conformance.backends import Subject
    from gpt2_conformance.judge.runner import PropertyResult
    from gpt2_conformance.judge.verdict import judge
    from gpt2_conformance.properties import ids_of

    terminalreporter.section("gpt2-conformance verdicts")
    for spec in options.specs:
        ran = {pid: r for (s, pid), r in _OUTCOMES.items() if s == spec}
        if not ran:
            continue
        backend, _ = _resolved(spec)
        results = [PropertyResult(pid, Status(r["status"]), r["core"], kind=r["kind"] and Kind(r["kind"]),
                                  unseen=r["unseen"], message=r["message"], upstream=r["upstream"])
                   for pid, r in ran.items()]
        model = ids_of(Subject.MODEL)
        partial = [] if set(ran) == set(model) else [f"{len(ran)} of {len(model)} properties ran"]
        verdict = judge(results, backend and backend.capabilities, partial)
        terminalreporter.write_line(f"{backend.name if backend else spec}: {verdict.label}")


