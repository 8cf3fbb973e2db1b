"""Named Hypothesis settings profiles, shared by pytest and the CLI."""
from hypothesis import HealthCheck, settings

# A forward pass is not a unit of work Hypothesis can time meaningfully (first calls import and compile).
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PROFILES = {
    "dev": settings(max_examples=20, **_COMMON),
    # CI: the same examples every run (derandomize), no example database to go stale, and a
    # reproduction blob printed with every failure.
    "ci": settings(max_examples=50, derandomize=True, database=None, print_blob=True, **_COMMON),
    "thorough": settings(max_examples=500, **_COMMON),
}

for _name, _s in PROFILES.items():
    settings.register_profile(_name, _s)


def get(name):
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILES)}") from None


