"""Fixtures shared by every test suite, loaded as pytest plugins."""

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.workers"]
