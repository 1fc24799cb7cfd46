"""The page fixtures (a populated store, settings through the environment) for the security tests."""

from tests.pages.conftest import _fleet_db, empty_store, page_env, populated_store  # noqa: F401
