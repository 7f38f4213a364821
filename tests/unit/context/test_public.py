"""`seawall.context`'s public surface: sorted, resolvable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import seawall.context


def test_all_is_sorted_and_resolves() -> None:
    names = seawall.context.__all__
    assert list(names) == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    for name in names:
        assert hasattr(seawall.context, name), name


def test_sqlite_is_imported_only_for_the_sqlite_store() -> None:
    code = (
        "import sys, seawall.context as c; print('sqlite3' in sys.modules); c.SQLiteSnapshotStore; "
        "print('sqlite3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
