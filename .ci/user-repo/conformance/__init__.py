"""This repository's own `conformance` package. It has no `__version__`: a suite that imported it in place
of its own would not start."""
OWNER = "user-repo"
