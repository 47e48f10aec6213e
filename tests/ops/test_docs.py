"""The documentation stays true to the code: the README's configuration table names every setting
(and nothing that is not one), links in the README and docs/ resolve inside the repository, the
mini-program guide lists every error code and every event the server pushes, and the commands the
docs name exist."""
from __future__ import annotations

import importlib
import re
import unicodedata
from pathlib import Path

import click
import pytest

from app.cli import main as cli
from app.config import Settings
from app.errors import error_codes
from app.manifest.service import MANIFEST_READY
from app.wiring import ERROR_MODULES

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
VAR = re.compile(r"`(LINLI_[A-Z0-9_]+)`")
# Read from the environment outside Settings (before an app exists, or by a module of its own).
OUTSIDE_SETTINGS = {"LINLI_LOG_LEVEL": "app/cli.py", "LINLI_PDF_FONT": "app/manifest/documents.py"}


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def table_variables() -> list[str]:
    """The LINLI_ variables named in the first cell of each row of the README's configuration table."""
    rows = [ln for ln in section(README.read_text(), "## Configuration").splitlines() if ln.startswith("| `")]
    return [v for row in rows for v in VAR.findall(row.split("|")[1])]


def setting_variables() -> set[str]:
    return {f"LINLI_{name.upper()}" for name in Settings.model_fields}


def test_the_readme_configuration_table_lists_every_setting():
    missing = setting_variables() - set(table_variables())
    assert not missing, f"add rows to the README's configuration table for: {sorted(missing)}"


def test_the_readme_configuration_table_lists_nothing_else_and_each_variable_once():
    named = table_variables()
    assert len(named) == len(set(named)), sorted(v for v in named if named.count(v) > 1)
    stale = set(named) - setting_variables() - set(OUTSIDE_SETTINGS)
    assert not stale, f"the configuration table names variables nothing reads: {sorted(stale)}"
    for var, module in OUTSIDE_SETTINGS.items():
        assert var in (ROOT / module).read_text(), f"{var} is no longer read by {module}"
        assert var in named


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    body = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", body, flags=re.M)}


def links(path: Path) -> list[str]:
    body = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return LINK.findall(body)


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc):
    assert doc.exists()
    for target in links(doc):
        assert not re.match(r"[a-z]+:", target), f"{doc.name} links outside the repository: {target}"
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        assert dest.is_relative_to(ROOT), f"{doc.name}: {target} leaves the repository"
        assert dest.exists(), f"{doc.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(dest), f"{doc.name}: no heading #{anchor} in {dest.name}"


def test_the_readme_and_docs_never_point_outside_the_clone():
    for doc in [README, *DOCS]:
        assert "../shared" not in doc.read_text(), doc.name


def test_the_docs_index_and_the_readme_link_every_guide():
    index = links(ROOT / "docs" / "README.md")
    readme = links(README)
    for doc in DOCS:
        if doc.name != "README.md":
            assert doc.name in index, f"docs/README.md does not link {doc.name}"
            assert f"docs/{doc.name}" in readme, f"README.md does not link docs/{doc.name}"


def test_the_two_commands_the_readme_promises_are_make_targets():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.M))
    text = README.read_text()
    for command in ("make run", "make test"):
        assert f"`{command}`" in text or f"{command} " in text
        assert command.split()[1] in targets


MINIPROGRAM = ROOT / "docs" / "miniprogram.md"


def all_error_codes() -> set[str]:
    for name in ERROR_MODULES:  # as the app's wiring does: every domain's refusals, imported
        importlib.import_module(name)
    return set(error_codes())


def test_the_miniprogram_guide_lists_every_error_code():
    codes = all_error_codes()
    text = MINIPROGRAM.read_text()
    listed = set(re.findall(r"^\| `([a-z_]+)` \| (?:\d{3}|any) \|", text, flags=re.M))
    missing = codes - listed
    assert not missing, f"docs/miniprogram.md's error code tables lack: {sorted(missing)}"
    assert listed <= codes, f"docs/miniprogram.md lists codes nothing raises: {sorted(listed - codes)}"


def pushed_events() -> set[str]:
    """Every event name the server writes into a notification or a socket frame."""
    found = set()
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'\bevent\s*=\s*"([a-z_]+(?:\.[a-z_]+)*)"', text))
        found |= set(re.findall(r'"event":\s*"([a-z_]+(?:\.[a-z_]+)*)"', text))
    return found | {MANIFEST_READY}


def test_the_miniprogram_guide_describes_every_event_the_socket_carries():
    table = section(MINIPROGRAM.read_text(), "## The WebSocket")
    described = set(re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.M))
    events = pushed_events()
    assert {"ready", "message.created", "order.updated", "chat.unread"} <= events  # the scan works
    assert events <= described, f"describe these events in docs/miniprogram.md: {sorted(events - described)}"


def cli_commands() -> set[str]:
    names = set()
    for name, cmd in cli.commands.items():
        names.add(name)
        if isinstance(cmd, click.Group):
            names |= {f"{name} {sub}" for sub in cmd.commands}
    return names


def test_every_linli_command_the_docs_name_exists():
    known = cli_commands()
    for doc in [README, *DOCS]:
        for first, second in re.findall(r"`linli ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", doc.read_text()):
            assert first in known, f"{doc.name}: no command `linli {first}`"
            if second and f"{first} {second}" not in known:
                assert isinstance(cli.commands[first], click.Command) and not isinstance(
                    cli.commands[first], click.Group), f"{doc.name}: no command `linli {first} {second}`"


def test_the_operations_guide_names_every_command():
    text = (ROOT / "docs" / "operations.md").read_text()
    for command in cli_commands():
        if not isinstance(cli.commands.get(command), click.Group):
            assert f"`linli {command}" in text, f"docs/operations.md does not describe `linli {command}`"
