"""Hostile inputs: every case of shared/research/security.md §6, against one
real server shared by the whole directory (conftest.py). A package, so that
its conftest is `hostile.conftest` and `from conftest import ...` in the
test modules still means tests/conftest.py."""
