"""Every pointer to a document in the code and the docs resolves inside the repository.

A comment that sends the reader to a Markdown file or a planning note kept outside the
repository is useless to a reader who has only the repository: the fact must be quoted with a
public URL, or the pointer must name a file that is here (docs/ARCHITECTURE.md lists the facts
the code relies on, with their sources). A bare file name counts when a file of that name is in
the repository (``seed-check.md`` is docs/seed-check.md).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT

# Directories that are not the project's own text (tools, caches, generated output).
SKIPPED_DIRS = frozenset(
    {".venv", ".git", "data", "build", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".hypothesis", "out", "artifacts"}
)  # fmt: skip
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+|\b[\w-]+(?:\.[\w-]+)+/\S*", re.IGNORECASE)
# A path-like token naming a Markdown file: "README.md", "docs/deploy.md", "../README.md".
MD_POINTER = re.compile(r"(?<![\w/.-])((?:\.{1,2}/)*(?:[\w-]+/)*[\w.-]+\.md)\b")
# The planning documents the project was made from live outside the repository.
SEEDS_POINTER = re.compile(r"(?<![\w-])(?:shared/)?" + "seeds" + r"/[\w./-]*")


MD = ".m" + "d"  # the tests below build their outside pointers, so this file has none


def project_files() -> Iterator[Path]:
    for folder, dirs, files in os.walk(REPO_ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".py", ".md")):
                yield Path(folder) / name


@functools.cache
def markdown_names() -> frozenset[str]:
    return frozenset(p.name for p in project_files() if p.suffix == MD)


def dangling_pointers(path: Path, text: str) -> list[str]:
    """The document pointers in ``text`` (a file at ``path``) that name no file in the repository;
    URLs are not pointers (a full URL is how a fact from outside is cited)."""
    text = URL.sub(" ", text)
    found: list[str] = []
    for match in MD_POINTER.finditer(text):
        pointer = match.group(1)
        candidates = (REPO_ROOT / pointer, path.parent / pointer)
        if any(c.resolve().is_file() and c.resolve().is_relative_to(REPO_ROOT) for c in candidates):
            continue
        if "/" not in pointer and pointer in markdown_names():
            continue
        found.append(pointer)
    found.extend(m.group(0) for m in SEEDS_POINTER.finditer(text) if not (REPO_ROOT / "seeds").is_dir())
    return found


def test_the_scan_finds_outside_pointers_and_accepts_inside_ones() -> None:
    here = REPO_ROOT / "analytics" / "example.py"
    outside = ["DESIGN" + MD, "reference/livekit" + MD, "pricing" + MD, "shared/" + "seeds" + "/000"]
    text = (
        f"see {outside[0]}; {outside[1]} §5 and {outside[2]} §1.2; {outside[3]} (phase 2);"
        " docs/ARCHITECTURE.md, ../README.md, bench/README.md, seed-check.md;"
        " https://github.com/AgoraIO/Docs-Source/blob/main/shared/video-sdk/reference/_pricing" + MD
    )
    assert dangling_pointers(here, text) == outside


@pytest.mark.parametrize("suffix", [".py", ".md"])
def test_every_pointer_resolves_inside_the_repository(suffix: str) -> None:
    files = [p for p in project_files() if p.suffix == suffix]
    assert files, f"no {suffix} files found under {REPO_ROOT}"
    problems = [
        f"{path.relative_to(REPO_ROOT)}: {pointer}"
        for path in files
        for pointer in dangling_pointers(path, path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert problems == [], (
        "pointers to documents that are not in the repository (quote the fact with a full URL, "
        "or point to docs/ARCHITECTURE.md):\n" + "\n".join(problems)
    )
