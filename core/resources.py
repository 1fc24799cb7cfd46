"""Files castmeter reads at run time that are not Python modules, found wherever it runs.

In a checkout they sit at the top of it (app.py, pages/, .streamlit/config.toml,
rules/castmeter.rules.example.yaml, castmeter.example.toml). A wheel carries copies in
``castmeter/_root/`` with the same layout (setup.py). Package data (price and scenario YAML,
migrations) travels inside its own package and is found from ``__file__`` as before.
"""

from __future__ import annotations

from pathlib import Path

# The checkout, or the site-packages directory the packages were installed into.
_TOP = Path(__file__).resolve().parent.parent
BUNDLED_ROOT = _TOP / "castmeter" / "_root"


def app_root() -> Path:
    """The directory holding app.py, pages/ and .streamlit/: the installed copy, else the checkout."""
    for candidate in (BUNDLED_ROOT, _TOP):
        if (candidate / "app.py").is_file():
            return candidate
    raise FileNotFoundError(
        f"castmeter's dashboard files (app.py, pages/) are missing from {BUNDLED_ROOT} and {_TOP}: "
        "reinstall castmeter"
    )


def data_path(name: str | Path) -> Path:
    """A file named relative to the checkout (e.g. the default rules file): as given when it
    exists (relative to the working directory), else castmeter's own copy, else as given (so
    the caller's "not found" names the path the user wrote)."""
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    try:
        installed = app_root() / path
    except FileNotFoundError:
        return path
    return installed if installed.exists() else path
