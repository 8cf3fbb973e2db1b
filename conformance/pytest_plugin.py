"""The pytest plugin (entry point `pytest11`): every property of the suite as test items of your run.

    pytest --gpt2-backend my_package.adapter:backend [--gpt2-expectations FILE] [--gpt2-profile ci]

adds, per backend, an `essentials` item and one item per property, judged exactly as `certify` judges
them (the same runner, expectation files and profiles). Nothing happens without --gpt2-backend: the
plugin loads no backend and changes no Hypothesis setting of the host project (the suite's profiles are
registered as gpt2-dev, gpt2-ci, gpt2-thorough, and used only by these items).
"""
import functools

import pytest

BUNDLED_SPEC = "bundled"  # --gpt2-backend bundled: every available bundled backend that is not opt-in


def pytest_addoption(parser):
    from conformance import profiles

    group = parser.getgroup("gpt2-conformance", "GPT-2 conformance properties")
    group.addoption("--gpt2-backend", action="append", default=[], metavar="SPEC",
                    help="run every property against this backend: a bundled name, an entry-point name, "
                         f"package.module:attr, or '{BUNDLED_SPEC}' for every available bundled one (repeatable)")
    group.addoption("--gpt2-expectations", action="append", default=[], metavar="FILE",
                    help="a backend's expected failures (TOML; repeatable)")
    group.addoption("--gpt2-checkpoint", metavar="DIR",
                    help="run the properties on this official or Hugging Face checkpoint directory's weights")
    group.addoption("--gpt2-profile", default="ci", choices=list(profiles.PROFILES),
                    help="the suite's Hypothesis profile for the property items (default: ci, as certify)")


def pytest_configure(config):
    specs = config.getoption("gpt2_backend")
    if not specs:
        return
    from conformance import checkpoints, expectations
    from conformance.backends import available_bundled
    from reference.params import InvalidParams

    specs = [s for spec in specs for s in (available_bundled() if spec == BUNDLED_SPEC else [spec])]
    try:
        files = expectations.with_shipped([expectations.load(f) for f in config.getoption("gpt2_expectations")], specs)
    except expectations.ExpectationError as e:
        raise pytest.UsageError(str(e)) from None
    fixed = None
    if config.getoption("gpt2_checkpoint"):
        path = config.getoption("gpt2_checkpoint")
        try:
            fixed = (path, checkpoints.load(path))
        except InvalidParams as e:
            raise pytest.UsageError(f"--gpt2-checkpoint: {e}") from None
    config.stash[OPTIONS] = Options(specs, files, fixed, config.getoption("gpt2_profile"))
    config.addinivalue_line("markers", "gpt2_conformance: a property of gpt2-conformance run against a backend")


class Options:
    def __init__(self, specs, files, fixed, profile):
        self.specs, self.files, self.fixed, self.profile = specs, files, fixed, profile


OPTIONS = pytest.StashKey[Options]()


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: the items are theirs to select
def pytest_collection_modifyitems(session, config, items):
    options = config.stash.get(OPTIONS, None)
    if options is None:
        return
    from conformance.properties import REGISTRY

    for spec in options.specs:
        items.append(Essentials.from_parent(session, name=f"gpt2_conformance[{spec}-essentials]", spec=spec))
        items += [PropertyItem.from_parent(session, name=f"gpt2_conformance[{spec}-{pid}]", spec=spec, property_id=pid,
                                           options=options) for pid in REGISTRY]


@functools.cache
def _resolved(spec):
    """(backend, None) or (None, why it cannot be had), once per process."""
    from conformance.backends import BackendError, resolve

    try:
        return resolve(spec), None
    except BackendError as e:
        return None, str(e)


@functools.cache
def _essentials(spec):
    """None if the backend passes the essentials check, else why not."""
    from conformance.runner import essentials

    backend, why = _resolved(spec)
    if backend is None:
        return why
    failed = essentials(backend)
    return failed and f"{failed[1]} (failure kind: {failed[0]})"


class PropertyFailure(Exception):
    """A property that did not hold; its message is the report."""


class Essentials(pytest.Item):
    def __init__(self, *, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker("gpt2_conformance")

    def runtest(self):
        why = _essentials(self.spec)
        if why:
            raise PropertyFailure(f"{self.spec} fails the essentials check, so every property is blocked: {why}")

    def repr_failure(self, excinfo, style=None):
        return str(excinfo.value) if excinfo.errisinstance(PropertyFailure) else super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


class PropertyItem(Essentials):
    def __init__(self, *, property_id, options, **kwargs):
        super().__init__(**kwargs)
        self.property_id, self.options = property_id, options

    def runtest(self):
        from conformance import expectations, profiles, replay, strategies
        from conformance.properties import REGISTRY
        from conformance.runner import run_property

        if _essentials(self.spec):
            pytest.skip(f"blocked by {self.spec}'s essentials check")
        backend, _ = _resolved(self.spec)
        result = run_property(REGISTRY[self.property_id], backend, settings=profiles.get(self.options.profile),
                              space=strategies.Space.for_backend(backend.capabilities, self.options.fixed),
                              expected=expectations.entries_for(self.options.files, backend.name, self.spec))
        for key in ("status", "kind", "dtype", "examples", "max_abs_err", "tolerance", "worst_ratio", "median_ratio"):
            self.user_properties.append((key, getattr(result, key)))
        if result.status == "skipped":
            pytest.skip(result.message)
        if result.status == "xfailed":
            pytest.xfail(result.message)
        if result.status != "passed":
            raise PropertyFailure("\n".join(filter(None, [
                f"{backend.name} / {self.property_id}: {result.status} ({result.kind}): {result.message}",
                result.counterexample and f"counterexample: {result.counterexample}",
                f"reproduce: {replay.certify_command(self.spec, self.property_id, self.options.profile)}"])))
