"""The pytest plugin (entry point `pytest11`): every property of the suite as ordinary test items of your run.

Add one test module to your tests (the plugin provides its fixture and its parameters):

    # test_gpt2_conformance.py
    def test_gpt2_conformance(gpt2_property):
        gpt2_property.check()

and run `pytest --gpt2-backend my_package.adapter:backend [--gpt2-expectations FILE|SET] [--gpt2-profile ci]`:
one item per backend and property (and an `essentials` item per backend), judged exactly as `certify`
judges them, that -k, -m, --deselect, node ids, --collect-only, --lf and pytest-xdist select and run as
any other test (ONNX's backend test suite works the same way). `--gpt2-tokenizer SPEC` does the same for
a tokenizer and the tokenizer properties (its items are named SPEC-tokenizer-PROPERTY, so a tokenizer and a
model of one name never share an item). The run ends with each backend's and tokenizer's verdict, as
certify prints it, and a failing property's example is saved for `gpt2-conformance replay` under
--gpt2-report-dir. Without --gpt2-backend or --gpt2-tokenizer the module's one item is skipped: the plugin
loads no backend and changes no Hypothesis setting of the host project (the suite's profiles are registered
as gpt2-dev, gpt2-ci and gpt2-thorough, and used only by these items).
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
    group.addoption("--gpt2-tokenizer", action="append", default=[], metavar="SPEC",
                    help="run every tokenizer property against this tokenizer, named as a backend is, or "
                         f"'{BUNDLED_SPEC}' for every available bundled one (repeatable)")
    group.addoption("--gpt2-expectations", action="append", default=[], metavar="FILE|SET",
                    help="a backend's expected failures (TOML), or an upstream set by name: a framework's known "
                         "deviations, for every backend (docs/expectations.md; repeatable)")
    group.addoption("--gpt2-accept-frozen-weights", action="store_true",
                    help="skip tied_head, instead of failing it, for an engine that cannot replace wte in place "
                         "(certify's --accept-frozen-weights; the verdict says 'certified with frozen weights')")
    group.addoption("--gpt2-accept-special-text", action="store_true",
                    help="pass special_text, instead of failing it, for a tokenizer that declares that <|endoftext|> "
                         "in a text is the special id or refused (certify's --accept-special-text; the verdict says "
                         "'certified with special-text policy ...')")
    group.addoption("--gpt2-checkpoint", metavar="DIR",
                    help="run the properties on this official or Hugging Face checkpoint directory's weights")
    group.addoption("--gpt2-profile", default="ci", choices=list(profiles.PROFILES),
                    help="the suite's Hypothesis profile for the property items (default: ci, as certify)")
    group.addoption("--gpt2-report-dir", metavar="DIR",
                    help="where a failing property's example is saved for `gpt2-conformance replay` "
                         "(default: the ini option gpt2_report_dir, else gpt2-conformance-report)")
    group.addoption("--gpt2-database", metavar="PATH|URL",
                    help="Hypothesis' example database, as certify's --database: under the ci profile every failure "
                         "stored there is replayed before the item's own examples (docs/fuzzing.md)")
    parser.addini("gpt2_report_dir", "where failing examples are saved for replay", default="gpt2-conformance-report")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpt2_conformance: a property of gpt2-conformance run against a backend")
    from gpt2_conformance.backends import Subject

    named = {Subject.MODEL: config.getoption("gpt2_backend"), Subject.TOKENIZER: config.getoption("gpt2_tokenizer")}
    if not any(named.values()):
        return
    from gpt2_conformance.cases import checkpoints
    from gpt2_conformance.judge import expectations
    from gpt2_conformance.reference.params import InvalidParams

    specs = {subject: _expanded(given, subject) for subject, given in named.items()}
    try:
        given = [expectations.load_source(f) for f in config.getoption("gpt2_expectations")]
        files = expectations.with_shipped(expectations.with_shipped(given, specs[Subject.MODEL]),
                                          specs[Subject.TOKENIZER], Subject.TOKENIZER)
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
                                    config.getoption("gpt2_accept_frozen_weights"),
                                    config.getoption("gpt2_accept_special_text"), _database(config))


def _database(config):
    """--gpt2-database's location, as every process (xdist's workers too) opens it, or None."""
    from gpt2_conformance.cases import databases

    location = config.getoption("gpt2_database")
    try:
        return location and databases.checked(location)
    except ValueError as e:
        raise pytest.UsageError(str(e).replace("--database", "--gpt2-database")) from None


def _expanded(specs, subject):
    """specs with 'bundled' replaced by every bundled backend of subject that can run here."""
    from gpt2_conformance.backends import available_bundled

    return [s for spec in specs for s in (available_bundled(subject) if spec == BUNDLED_SPEC else [spec])]


class Options:
    """What the command line asked for; specs: {subject: its specs}."""

    def __init__(self, specs, files, fixed, profile, report_dir, accept_frozen_weights, accept_special_text,
                 database=None):
        self.specs, self.files, self.fixed, self.profile, self.report_dir = specs, files, fixed, profile, report_dir
        self.accept_frozen_weights, self.accept_special_text = accept_frozen_weights, accept_special_text
        self.database = database  # a location (cases/databases.py), or None


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
            reason="no backend: name one with --gpt2-backend SPEC or --gpt2-tokenizer SPEC"))], ids=["no-backend"])
        return
    from gpt2_conformance.properties import ids_of

    cases = [PropertyCase(spec, pid, options, subject) for subject, specs in options.specs.items() for spec in specs
             for pid in (ESSENTIALS, *ids_of(subject))]
    metafunc.parametrize("gpt2_property", [pytest.param(c, marks=pytest.mark.gpt2_conformance) for c in cases],
                         ids=[repr(c) for c in cases])


@functools.cache
def _resolved(spec, subject):
    """(backend of subject, None) or (None, why it cannot be had), once per process."""
    from gpt2_conformance.backends import BackendError, resolve

    try:
        return resolve(spec, subject), None
    except BackendError as e:
        return None, str(e)


@functools.cache
def _opened(location):
    """The example database at location, opened once per process (None: none)."""
    from gpt2_conformance.cases import databases

    return location and databases.open_database(location)


@functools.cache
def _essentials(spec, subject):
    """None if the backend passes the essentials check, else why not."""
    from gpt2_conformance.judge.runner import essentials

    backend, why = _resolved(spec, subject)
    if backend is None:
        return why
    failed = essentials(backend)
    return failed and f"{failed[1]} (failure kind: {failed[0]})"


class PropertyCase:
    """One backend (a model or a tokenizer) and one property of its subject (or the essentials check): what an item
    of the test module runs."""

    def __init__(self, spec, property_id, options, subject):
        self.spec, self.property_id, self.options, self.subject = spec, property_id, options, subject

    def __repr__(self):
        """The item's id: a tokenizer's names its subject, so that a model and a tokenizer of one spec (reference)
        never share an id."""
        from gpt2_conformance.backends import Subject

        named = self.spec if self.subject == Subject.MODEL else f"{self.spec}-{self.subject}"
        return f"{named}-{self.property_id}"

    def check(self):
        """Pass, skip, xfail or fail as certify judges this property of this backend."""
        __tracebackhide__ = True
        why = _essentials(self.spec, self.subject)
        if self.property_id == ESSENTIALS:
            if why:
                pytest.fail(f"{self.spec} fails the essentials check, so every property is blocked: {why}", pytrace=False)
            return
        if why:
            pytest.skip(f"blocked by {self.spec}'s essentials check")
        result, backend = self._run()
        _record(self.subject, self.spec, result)
        refused = _unaccepted(result, backend, self.options)
        if refused:
            pytest.fail(refused, pytrace=False)
        if result.status == Status.SKIPPED:
            pytest.skip(result.message.replace("--checkpoint", "--gpt2-checkpoint"))
        if result.status == Status.XFAILED:
            pytest.xfail(result.message)
        if result.status != Status.PASSED:
            pytest.fail(self._failure(backend, result), pytrace=False)

    def _run(self):
        from gpt2_conformance.backends import Subject
        from gpt2_conformance.cases import profiles, strategies
        from gpt2_conformance.judge import expectations
        from gpt2_conformance.judge.runner import run_property
        from gpt2_conformance.properties import REGISTRY

        backend, _ = _resolved(self.spec, self.subject)
        o = self.options
        # only a model's cases have a space (the weights of --gpt2-checkpoint among them), as in certify's worker
        space = strategies.Space.for_backend(backend.capabilities, o.fixed) if self.subject == Subject.MODEL else None
        return run_property(REGISTRY[self.property_id], backend, settings=profiles.get(o.profile), space=space,
                            expected=expectations.entries_for(o.files, backend.name, self.spec, self.subject),
                            database=_opened(o.database)), backend

    def _failure(self, backend, result):
        from gpt2_conformance.run import replay

        if result.failing_draws:
            saved = replay.save(self.options.report_dir / "failing-inputs", spec=self.spec, backend_name=backend.name,
                                result=result)
            reproduce = replay.command(saved, self.spec, self.subject)
        else:
            reproduce = replay.certify_command(self.spec, self.property_id, self.options.profile, subject=self.subject)
        return "\n".join(filter(None, [
            f"{backend.name} / {self.property_id}: {result.status} ({result.kind}): {result.message}",
            result.counterexample and f"counterexample: {result.counterexample}", result.upstream_hint,
            f"reproduce: {reproduce}"]))


def _unaccepted(result, backend, options):
    """Why an item fails that certify would pass only under one of its --accept options, unless the plugin's
    option of that name is given; else None. Without it, such a backend must not pass silently."""
    from gpt2_conformance.backends.tokenizer import SPECIAL_TEXT_POLICIES
    from gpt2_conformance.judge.verdict import frozen_out, special_text_out

    if frozen_out(result, backend.capabilities) and not options.accept_frozen_weights:
        return (f"{backend.name} has frozen weights ({result.message}): the core property {result.id} cannot "
                "run. --gpt2-accept-frozen-weights accepts that ('certified with frozen weights')")
    if special_text_out(result, backend.capabilities) and not options.accept_special_text:
        policy = backend.capabilities.special_text
        return (f"{backend.name} declares special-text policy {policy!r} ({SPECIAL_TEXT_POLICIES[policy]}), where "
                f"OpenAI's encoder.py encodes <|endoftext|> as text; {result.id} holds it to that policy. "
                "--gpt2-accept-special-text accepts that (the verdict says \"certified with special-text policy "
                f"{policy!r}\")")
    return None


def _record(subject, spec, result):
    """What the verdict needs of a result, kept until the item's report carries it (to the controlling
    process too, under pytest-xdist)."""
    plain = {key: getattr(result, key) for key in JUNIT + VERDICT}  # xdist carries only plain types
    _PENDING.append([str(subject), spec, result.id,
                     {key: str(v) if isinstance(v, StrEnum) else v for key, v in plain.items()}])


JUNIT = ("status", "kind", "dtype", "examples", "max_abs_err", "tolerance", "worst_ratio", "median_ratio", "seconds",
         "load_seconds", "forward_seconds")  # recorded
VERDICT = ("core", "unseen", "message", "upstream")  # what judging the backend needs besides
_PENDING = []  # the result of the item running in this process, until its report is made
_OUTCOMES = {}  # (subject, spec, property id) -> the recorded result, in the process that prints the verdicts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    while _PENDING:  # onto the item too: JUnit XML takes an item's properties from its teardown report
        subject, spec, pid, recorded = _PENDING.pop()
        properties = [(key, recorded[key]) for key in JUNIT] + [("gpt2_result", [subject, spec, pid, recorded])]
        item.user_properties += properties
        report.user_properties += properties


def pytest_runtest_logreport(report):
    for subject, spec, pid, recorded in (value for name, value in report.user_properties if name == "gpt2_result"):
        _OUTCOMES[(subject, spec, pid)] = recorded


def pytest_terminal_summary(terminalreporter, config):
    """Each backend's and tokenizer's verdict, as certify prints it, from the properties this run judged."""
    options = config.stash.get(OPTIONS, None)
    if options is None or not _OUTCOMES:
        return
    terminalreporter.section("gpt2-conformance verdicts")
    for subject, specs in options.specs.items():
        for spec in specs:
            ran = {pid: r for (s, sp, pid), r in _OUTCOMES.items() if s == subject and sp == spec}
            if ran:
                terminalreporter.write_line(_verdict_line(subject, spec, ran))


def _verdict_line(subject, spec, ran):
    """'name: verdict' of one backend of subject from its recorded results {property id: recorded}; a
    tokenizer's name says so (a model and a tokenizer may share one)."""
    from gpt2_conformance.backends import Subject
    from gpt2_conformance.judge.runner import PropertyResult
    from gpt2_conformance.judge.verdict import judge
    from gpt2_conformance.properties import ids_of

    backend, _ = _resolved(spec, subject)
    results = [PropertyResult(pid, Status(r["status"]), r["core"], kind=r["kind"] and Kind(r["kind"]),
                              unseen=r["unseen"], message=r["message"], upstream=r["upstream"])
               for pid, r in ran.items()]
    every = ids_of(subject)
    partial = [] if set(ran) == set(every) else [f"{len(ran)} of {len(every)} properties ran"]
    verdict = judge(results, backend and backend.capabilities, partial)
    name = backend.name if backend else spec
    return f"{name if subject == Subject.MODEL else f'{name} ({subject})'}: {verdict.label}"
