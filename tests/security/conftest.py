"""The page fixtures (a populated store, settings through the environment) for the security tests."""

from tests.pages.conftest import _fleet_db, empty_store, fresh_sign_in_state, page_env, populated_store  # noqa: F401
