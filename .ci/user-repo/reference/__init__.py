"""This repository's own `reference` package (a common name in a backend's repository). It has no `model`:
a suite that imported it in place of its own reference would fail every property."""
OWNER = "user-repo"
