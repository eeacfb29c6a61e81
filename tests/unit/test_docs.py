"""
The docs describe the system as it is: docs/pillar.md names every key of the pillar schema, every file
the README and the docs point at exists, and no doc keeps a work log ("session N") or a count of tests
that the tests themselves would make stale.
"""

import pathlib
import re

import pytest
from suite_modules import load

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "CONTRIBUTING.md"]


fp = load("_modules/fileshare_pillar.py", "fileshare_pillar_for_docs")


def schema_keys(schema, path=()):
    """Every key path of the schema, as written in docs/pillar.md: ``N`` for a list item, ``<name>`` for
    an entry of a free map whose entries have keys of their own (artifacts)."""
    keys = list(schema.get("properties", {})) + [
        k for k in schema.get("required", []) if k not in schema.get("properties", {})
    ]
    for key in keys:
        yield ":".join(path + (key,))
        yield from schema_keys(schema.get("properties", {}).get(key, {}), path + (key,))
    if isinstance(schema.get("items"), dict):
        yield from schema_keys(schema["items"], path + ("N",))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_keys(schema["additionalProperties"], path + ("<name>",))


KEYS = list(schema_keys(fp.SCHEMA))


def test_the_schema_walk_finds_nested_keys():
    assert {"db:engine", "nodes:N:roles", "artifacts:<name>:sha256", "load:keepalived:check_fall"} <= set(
        KEYS
    )
    assert {"ports:galera_health", "names:backends:redis", "secrets:tsig_key"} <= set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_pillar_doc_names_every_schema_key(key):
    assert f"`{key}`" in (REPO / "docs" / "pillar.md").read_text(), f"docs/pillar.md does not name `{key}`"


# A repository path quoted in prose, a link or code: starts at a top-level folder of the checkout.
_PATH = re.compile(
    r"(?:(?<=^)|(?<=[\s`(\[\"']))"
    r"((?:formulas|orchestrate|pillar|tools|tests|docs|_modules|_states|_runners)/[A-Za-z0-9_./{},<>*-]*)"
)


def quoted_paths(text):
    for match in _PATH.finditer(text):
        path = match.group(1).rstrip(".,")
        # Placeholders (<site>, <layer>) and globs name a kind of path, not one file.
        if not any(c in path for c in "<>*"):
            yield path


def _expand(path):
    """tests/{unit,render}/ -> tests/unit/, tests/render/"""
    match = re.search(r"\{([^}]*)\}", path)
    if not match:
        return [path]
    return [p for part in match.group(1).split(",") for p in _expand(path.replace(match.group(0), part, 1))]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_every_path_a_doc_quotes_exists(doc):
    missing = [
        p for quoted in quoted_paths(doc.read_text()) for p in _expand(quoted) if not (REPO / p).exists()
    ]
    assert not missing, f"{doc.relative_to(REPO)} names paths that do not exist: {missing}"


def test_path_finder_reads_links_code_and_brace_lists():
    text = "see [x](docs/pillar.md), `tools/fileshare_lab/`, tests/{unit,lab}/ and pillar/sites/<site>/."
    assert [p for q in quoted_paths(text) for p in _expand(q)] == [
        "docs/pillar.md",
        "tools/fileshare_lab/",
        "tests/unit/",
        "tests/lab/",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_docs_keep_no_work_log(doc):
    """Docs describe the system now; the history of how it got there is in the commit messages."""
    text = doc.read_text()
    assert not re.search(r"\b[Ss]ession[ -]\d", text), "a 'session N' work log"
    assert not re.search(r"^#+ .*(?:[Ss]ession|[Ww]hat changed)", text, re.M), "a work-log heading"


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_docs_quote_no_count_of_bad_pillars(doc):
    """How many bad pillars the tests hold changes with every rule: the tests are the count."""
    assert not re.search(r"~?\d+ (?:bad|refused) pillars", doc.read_text())
