"""The one vocabulary of outcomes: of a property (status, and how it failed), and of a backend (verdict)."""

# A property's status, with how the reports print it.
STATUS = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "blocked": "BLOCKED",
          "xfailed": "xfail", "xpassed": "XPASS", "partial": "partial"}
BAD = ("failed", "error", "blocked", "xpassed")  # statuses that deny a certificate
# held wherever it was seen, but a size class searched on its own gave no example that could see a bug
UNSEEN = "partial"

# How a property failed; an expectation file names one of these for each known failure.
KINDS = {
    "tolerance": "an example's error exceeded its tolerance",
    "systematic": "every example held, but the median error/tolerance over the examples exceeded its bound",
    "error": "the backend raised, or broke the protocol",
    "shape": "the backend returned logits of the wrong shape",
    "unsupported": "the backend declined an example inside its declared scope",
}
# A known deviation of kind tolerance bounds every example's error/tolerance by its max_ratio, which covers
# a systematic failure within that bound too.
MAGNITUDE_KINDS = ("tolerance", "systematic")

# A backend's verdict. certified: every core property held at float32 precision or finer, over a scope
# that covers the published GPT-2 models, in a full run. The qualified verdicts say what is less.
CERTIFIED = "certified"
NOT_CERTIFIED = "not certified"
PARTIAL = "partial"
NOT_RUN = "not run"  # the training verdict of a backend without gradients
