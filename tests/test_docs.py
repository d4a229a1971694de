"""The front door and the manual: the README stays short with the two commands first, and every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## The two commands"
    assert "tox --workdir ~/.cache/eclipse-bench/tox -- eclipse-bench demo" in text
    assert "tox --workdir ~/.cache/eclipse-bench/tox\n" in text


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+://", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'tox --workdir "$WORKDIR" -e py' in ci and "eclipse-bench/tox" in ci
