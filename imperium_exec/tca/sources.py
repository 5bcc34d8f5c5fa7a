"""Which journal files a command line names: paths, globs (``**`` too) and folders."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class JournalSourceError(ValueError):
    """A path or pattern that names no journal file (the message names it)."""


@dataclass(frozen=True, slots=True)
class JournalFiles:
    """The files to read, in a stable order, and their sizes (for the progress bar)."""

    paths: tuple[Path, ...]
    total_bytes: int


def resolve_journals(patterns: Iterable[str | os.PathLike[str]]) -> JournalFiles:
    """Every file the patterns name, each once. A folder means the ``*.jsonl`` files in it; a
    pattern with ``*``, ``?`` or ``[`` is a glob (``**`` crosses folders). A pattern that
    matches nothing, a missing path, or a folder without journals raises
    :class:`JournalSourceError` naming it."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        text = os.fspath(pattern)
        expanded = os.path.expanduser(text)
        if glob.has_magic(expanded):
            matches = sorted(Path(p) for p in glob.glob(expanded, recursive=True))
            files = [p for p in matches if p.is_file()]
            if not files:
                raise JournalSourceError(f"no journal file matches {text!r}")
        else:
            path = Path(expanded)
            if path.is_dir():
                files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
                if not files:
                    raise JournalSourceError(f"no *.jsonl journal in the folder {text!r}")
            elif path.is_file():
                files = [path]
            else:
                raise JournalSourceError(f"no such journal file: {text!r}")
        for f in files:
            found.setdefault(f.resolve())
    if not found:
        raise JournalSourceError("no journal files given")
    paths = tuple(found)
    return JournalFiles(paths, sum(p.stat().st_size for p in paths))


__all__ = ["JournalFiles", "JournalSourceError", "resolve_journals"]
