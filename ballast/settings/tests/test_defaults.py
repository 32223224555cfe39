"""ballast.settings gives a project every setting Ballast's code reads (or Django has it already)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import global_settings

import ballast.settings

PACKAGE = Path(ballast.settings.__file__).parent.parent
READ = re.compile(r"""settings\.([A-Z][A-Z0-9_]+)|getattr\(settings, "([A-Z][A-Z0-9_]+)\"""")


def test_every_setting_the_package_reads_has_a_default_in_ballast_settings_or_django() -> None:
    read: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.parts or "settings" in path.relative_to(PACKAGE).parts[:1]:
            continue
        read.update(name for pair in READ.findall(path.read_text()) for name in pair if name)
    missing = sorted(
        name for name in read if not hasattr(ballast.settings, name) and not hasattr(global_settings, name)
    )
    assert len(read) > 50 and missing == []
