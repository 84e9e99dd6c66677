"""The e2e tier uses the same session stack as the integration tier."""

from tests.integration.conftest import running_stack  # noqa: F401
