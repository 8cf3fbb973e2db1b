"""The one vocabulary of outcomes: a property's status and how it failed, a backend's verdict, and the
exit status of a command. Every other module names these members, never their strings (a test greps)."""
from enum import IntEnum, StrEnum


class Status(StrEnum):
    """What happened to one property on one backend (its string is what the certificate records)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"  # could not run on this backend (a capability it lacks)
    BLOCKED = "blocked"  # the essentials check failed: nothing else can be judged
    XFAILED = "xfailed"  # failed as an expectation file says, within its bound
    XPASSED = "xpassed"  # listed as a known failure, but held
    PARTIAL = "partial"  # held, but a size class searched on its own gave no example that could see a bug

    @property
    def label(self):
        """How reports print it: the statuses that deny a certificate in capitals."""
        return {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "blocked": "BLOCKED",
                "xfailed": "xfail", "xpassed": "XPASS", "partial": "partial"}[self.value]


BAD = frozenset({Status.FAILED, Status.ERROR, Status.BLOCKED, Status.XPASSED})  # each denies a certificate
JUDGED = frozenset(Status) - {Status.BLOCKED, Status.SKIPPED, Status.PARTIAL}  # an expectation can match these
FAILED_WITH_EXAMPLE = frozenset({Status.FAILED, Status.ERROR})  # what `replay` or a certify command reproduces
# How junit.xml counts each status: a failure, an error or a skip (the rest pass).
JUNIT = {Status.FAILED: "failure", Status.XPASSED: "failure", Status.BLOCKED: "failure", Status.ERROR: "error",
         Status.SKIPPED: "skipped", Status.XFAILED: "skipped", Status.PARTIAL: "skipped"}


class Kind(StrEnum):
    """How a property failed; an expectation file names one of these for each known failure."""

    TOLERANCE = "tolerance"
    SYSTEMATIC = "systematic"
    ERROR = "error"
    SHAPE = "shape"
    UNSUPPORTED = "unsupported"

    @property
    def meaning(self):
        return {
            "tolerance": "an example's error exceeded its tolerance",
            "systematic": "every example held, but the median error/tolerance over the examples exceeded its bound",
            "error": "the backend raised, or broke the protocol",
            "shape": "the backend returned logits of the wrong shape",
            "unsupported": "the backend declined an example inside its declared scope",
        }[self.value]


# A known deviation of kind tolerance bounds every example's error/tolerance by its max_ratio, which covers
# a systematic failure within that bound too.
MAGNITUDE_KINDS = frozenset({Kind.TOLERANCE, Kind.SYSTEMATIC})


class Standing(StrEnum):
    """A backend's verdict, in inference and in training. certified: every core property held at float32
    precision or finer, over a scope that covers the published GPT-2 models, in a full run; the qualified
    labels (judge/verdict.py) say what is less."""

    CERTIFIED = "certified"
    NOT_CERTIFIED = "not certified"
    PARTIAL = "partial"
    NOT_RUN = "not run"  # the training verdict of a backend without gradients


class Exit(IntEnum):
    """The exit status of every command."""

    CERTIFIED = 0  # every backend's verdict accepted (replay: the example passes)
    NOT_CERTIFIED = 1  # a verdict not accepted (replay: the example fails still; selftest: a mutant survives)
    USAGE = 2  # bad arguments, paths, files or configuration: nothing ran
    INTERNAL = 3  # a bug of the suite
    PARTIAL = 4  # everything that ran held, but the run left properties or examples out
