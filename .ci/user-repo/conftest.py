"""The repository's conftest imports its own packages, as a project's fixtures do: under `pytest` and
`python -m pytest` alike they must be the repository's, not the suite's."""
import conformance
import reference

assert conformance.OWNER == reference.OWNER == "user-repo", (conformance.__file__, reference.__file__)
