"""Named Hypothesis settings profiles, shared by pytest and the CLI.

They are registered with Hypothesis under prefixed names (gpt2-dev, gpt2-ci, gpt2-thorough), so that a
host project's own profiles are never replaced; nothing is loaded unless asked for.
"""
from hypothesis import HealthCheck, Phase, settings

# A forward pass is not a unit of work Hypothesis can time meaningfully (first calls import and compile).
# One failure per property is reported, so the search stops at the first: hunting for more ran up to
# ten more (often the largest) examples, and two at once would come back as one opaque exception group.
# The explain phase (which parts of a shrunk failure could vary freely) re-runs the property hundreds
# of times after shrinking, for notes the runner does not report. Together they were most of the time
# to kill a mutant; neither changes what is found or how far it shrinks.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               report_multiple_bugs=False, phases=[p for p in Phase if p != Phase.explain])
# Every profile derives from Hypothesis' own default, not from the active profile: where a CI variable is
# set, Hypothesis activates its "ci" profile (derandomized, no database), and thorough and fuzz searches
# built on it would draw ci's examples forever and store nothing.
_BASE = settings.get_profile("default")

PROFILES = {
    "dev": settings(_BASE, max_examples=20, **_COMMON),
    # CI: the same examples every run (derandomize), no example database to go stale, and a
    # reproduction blob printed with every failure.
    "ci": settings(_BASE, max_examples=50, derandomize=True, database=None, print_blob=True, **_COMMON),
    "thorough": settings(_BASE, max_examples=500, **_COMMON),
}
CERTIFYING = ("ci", "thorough")  # dev draws too few examples to certify anything
PREFIX = "gpt2-"

for _name, _s in PROFILES.items():
    settings.register_profile(PREFIX + _name, _s)


def get(name):
    """A profile by its name, with or without the prefix."""
    try:
        return PROFILES[name.removeprefix(PREFIX)]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}") from None


def partial(name, max_examples=None):
    """Why a run of this profile (with this many examples per property) cannot certify: [] if it can."""
    why = []
    if name.removeprefix(PREFIX) not in CERTIFYING:
        why.append(f"profile {name} does not certify (use {' or '.join(CERTIFYING)})")
    if max_examples is not None and max_examples < get(name).max_examples:
        why.append(f"{max_examples} examples per property, below the profile's {get(name).max_examples}")
    return why
