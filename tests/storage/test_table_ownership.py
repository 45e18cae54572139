"""Every table has one owning package; no other package writes it, and no domain package imports `jianguan`.

The allow-list is the "Table ownership" section of docs/design.md (table -> owning package -> who may read): the
one place that fact is written. This test reads it, the tables the migrations create, and the SQL of every
package's source, and fails on:

- a table of the migrations (or created by code) with no row in the allow-list: a new table must be assigned;
- a row naming a table nobody creates (a stale row), or an owner/reader that is not a package;
- a package writing a table it does not own (INSERT INTO, UPDATE, DELETE FROM, COPY .. FROM, TRUNCATE, ALTER,
  CREATE/DROP of a table or view, and `BatchWriter(pool, "<table>", ..)`), named by module, line and table; an
  upsert's ON CONFLICT .. DO UPDATE changes the table of its INSERT, which is already counted;
- a package reading a table whose row does not list it among the readers;
- a domain package importing `jianguan` (the application that composes them), at any depth of the module.

No database: SQL is found in the string literals of the source (`ast`), so a message or docstring that happens to
say "insert into" cannot match a table unless it names one of the schema's tables. Dev tooling (devkit/, and the
seed modules of storage/ while they move there) fills tables for demos and tests and is exempt, as the
allow-list's note says. Tests, benchmarks and scripts are not packages and are not read.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
MIGRATIONS = ROOT / "storage" / "migrations"
NOT_PACKAGES = {"tests", "bench", "scripts", "docs", "deploy", "var"}
# Dev tooling: fills every table for demos and tests (docs/design.md, "Table ownership").
EXEMPT_PACKAGES = {"devkit"}
# The application: it composes the domain packages, which therefore never import it.
APPLICATION = "jianguan"
ANY = "any"  # readers: every package
NONE = "-"  # readers: the owner alone

_IDENT = r'(?:\w+\.)?"?([A-Za-z_{][\w{}]*)"?'  # schema-qualified or quoted; `{}`: an f-string's placeholder
_LIST = rf"{_IDENT}(?:\s*,\s*{_IDENT})*"
WRITES = [re.compile(p, re.IGNORECASE) for p in (
    rf"\bINSERT\s+INTO\s+{_IDENT}",
    rf"\bUPDATE\s+(?:ONLY\s+)?{_IDENT}(?:\s+(?:AS\s+)?\w+)?\s+SET\b",
    rf"\bDELETE\s+FROM\s+(?:ONLY\s+)?{_IDENT}",
    rf"\bCOPY\s+{_IDENT}\s*(?:\([^)]*\))?\s+FROM\b",
    rf"\bTRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?({_LIST})",
    rf"\bALTER\s+(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_IDENT}",
    rf"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"{_IDENT}",
    rf"\bDROP\s+(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+EXISTS\s+)?({_LIST})",
)]
READS = re.compile(rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?{_IDENT}", re.IGNORECASE)
# What a schema object is made by: migrations and code alike (never a temporary table).
CREATES = re.compile(rf"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+"
                     rf"(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True)
class Access:
    module: str  # path relative to the repository, e.g. ingest/retention.py
    line: int
    table: str
    kind: str  # "write" or "read"

    @property
    def package(self) -> str:
        return self.module.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.module}:{self.line} {self.kind}s {self.table}"


# -- the allow-list ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    table: str
    owner: str
    readers: frozenset[str]  # packages other than the owner, {"any"}, or empty (the owner alone)


def allow_list(text: str) -> dict[str, Row]:
    """The rows of the table under "## Table ownership": | `table` | owner | readers (comma separated, or any) |."""
    section = re.search(r"^## Table ownership\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section is not None, "docs/design.md has no '## Table ownership' section"
    rows: dict[str, Row] = {}
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue  # the header, its rule, prose
        table, owner = cells[0].strip("`"), cells[1].strip("`")
        readers = frozenset(r.strip().strip("`") for r in cells[2].split(",") if r.strip() not in ("", NONE))
        assert table not in rows, f"docs/design.md names {table} twice in 'Table ownership'"
        rows[table] = Row(table, owner, readers)
    return rows


# -- the source --------------------------------------------------------------------------------------------
def packages() -> list[str]:
    """Top-level packages of the repository (a directory with __init__.py), dev tooling included."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py")
                  if p.parent.name not in NOT_PACKAGES and not p.parent.name.startswith("."))


def exempt(rel: str) -> bool:
    return rel.split("/", 1)[0] in EXEMPT_PACKAGES


def sources(include_exempt: bool = False) -> list[tuple[str, ast.Module]]:
    """(path relative to the repository, syntax tree) of every module of every package."""
    return [(rel, tree) for rel, tree in _parsed() if include_exempt or not exempt(rel)]


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:  # parsed once for all the tests of this module
    return tuple((rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel))
                 for package in packages() for path in sorted((ROOT / package).rglob("*.py"))
                 for rel in [path.relative_to(ROOT).as_posix()])


def _docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but docstrings; an f-string's values read as `{}`."""
    skip = _docstrings(tree)
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            continue  # its parts are not strings of their own
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value
        stack.extend(ast.iter_child_nodes(node))


def _names(match: re.Match[str]) -> list[str]:
    return re.findall(_IDENT, match.group(1))  # one name, or a list's (TRUNCATE a, b)


def _known(name: str, tables: set[str]) -> list[str]:
    """The tables `name` may be: itself, those an f-string pattern (rollup_{}) matches; none for a name wholly
    supplied at run time (storage's generic writers: their callers name the table, and are read for it)."""
    if "{" not in name:
        return [name.lower()] if name.lower() in tables else []
    if re.fullmatch(r"\{[^}]*\}", name):
        return []
    pattern = re.compile(re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(name.lower())))
    return sorted(t for t in tables if pattern.fullmatch(t))


def accesses(rel: str, tree: ast.Module, tables: set[str]) -> Iterator[Access]:
    for line, text in strings(tree):
        sql = " ".join(_COMMENT.sub(" ", text).split())
        written = set()
        for pattern in WRITES:
            for m in pattern.finditer(sql):
                for name in _names(m):
                    for table in _known(name, tables):
                        written.add(table)
                        yield Access(rel, line, table, "write")
        for m in READS.finditer(sql):
            for table in _known(m.group(1), tables):
                if table not in written:  # DELETE FROM t, COPY t FROM: the write says it
                    yield Access(rel, line, table, "read")
    # Storage's durable writer is told its table by its caller: that caller writes it.
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "BatchWriter":
            arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "table"),
                                                               None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in tables:
                yield Access(rel, node.lineno, arg.value, "write")


def _called(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def schema_tables() -> dict[str, str]:
    """Table or view -> where it is created: the migrations, and code that builds relations (storage/rollups.py,
    storage/migrate.py's schema_migrations)."""
    out: dict[str, str] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        for m in CREATES.finditer(_COMMENT.sub(" ", path.read_text(encoding="utf-8"))):
            out.setdefault(m.group(1).lower(), f"storage/migrations/{path.name}")
    for rel, tree in sources():
        for _line, text in strings(tree):
            for m in CREATES.finditer(_COMMENT.sub(" ", text)):
                if "{" not in m.group(1):
                    out.setdefault(m.group(1).lower(), rel)
    return out


# -- the tests ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rows() -> dict[str, Row]:
    return allow_list(DESIGN.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tables() -> dict[str, str]:
    return schema_tables()


@pytest.fixture(scope="module")
def found(tables: dict[str, str]) -> list[Access]:
    return [a for rel, tree in sources() for a in accesses(rel, tree, set(tables))]


def test_every_table_has_one_owner(rows: dict[str, Row], tables: dict[str, str]) -> None:
    unowned = [f"{t} (created in {where})" for t, where in sorted(tables.items()) if t not in rows]
    assert not unowned, "tables without an owner in docs/design.md, 'Table ownership': " + "; ".join(unowned)
    stale = sorted(set(rows) - set(tables))
    assert not stale, f"'Table ownership' names tables nobody creates: {stale}"
    known = set(packages())
    for row in rows.values():
        assert row.owner in known, f"{row.table}: owner {row.owner!r} is not a package ({sorted(known)})"
        assert row.readers == {ANY} or row.readers <= known, f"{row.table}: readers {sorted(row.readers)}"


def test_only_the_owner_writes(rows: dict[str, Row], found: list[Access]) -> None:
    wrong = [f"{a} owned by {rows[a.table].owner}" for a in sorted(found, key=_where)
             if a.kind == "write" and a.table in rows and a.package != rows[a.table].owner]
    assert not wrong, "writes by a package that does not own the table (go through the owner's functions):\n" \
        + "\n".join(wrong)


def test_only_listed_readers_read(rows: dict[str, Row], found: list[Access]) -> None:
    wrong = list(dict.fromkeys(
        f"{a} (owner {rows[a.table].owner}; readers: {', '.join(sorted(rows[a.table].readers)) or NONE})"
        for a in sorted(found, key=_where) if a.kind == "read" and a.table in rows
        and ANY not in rows[a.table].readers and a.package not in rows[a.table].readers | {rows[a.table].owner}))
    assert not wrong, "reads of a table the allow-list does not let this package read (ask the owner):\n" \
        + "\n".join(wrong)


def _where(a: Access) -> tuple[str, int, str]:
    return a.module, a.line, a.table


def test_the_source_is_read_at_all(found: list[Access]) -> None:
    """A parser that silently found nothing would pass the tests above: the known writers must be seen."""
    written = {(a.package, a.table) for a in found if a.kind == "write"}
    assert {("alerts", "alerts"), ("alerts", "outbox"), ("ingest", "lane_events"), ("storage", "dead_letters"),
            ("reports", "reports"), ("jianguan", "sites"), ("jianguan", "camera_stats")} <= written


def test_the_parser_sees_what_it_must() -> None:
    """The extraction itself, on the forms the source uses: plain, multi-line, f-string, upsert, COPY."""
    src = '''
"""INSERT INTO alerts is only prose in a docstring."""
def f(conn, t):
    conn.execute("INSERT INTO outbox (a) VALUES (%s) ON CONFLICT (k) DO UPDATE SET a = 1")
    conn.execute(f"""UPDATE clips c
                     SET locked = true WHERE c.id IN (SELECT id FROM alerts)""")
    conn.execute("DELETE FROM intake_seen WHERE ctid = ANY(ARRAY(SELECT ctid FROM intake_seen))")
    conn.cursor().copy("COPY lane_events (ts, kind) FROM STDIN")
    conn.execute(f"INSERT INTO {t} SELECT * FROM rollup_{t}")
    conn.execute("TRUNCATE camera_stats, reports")
    BatchWriter(conn, "occupancy_samples", ["ts"])
    log.info("nothing to delete from disk")
'''
    tables = {"alerts", "outbox", "clips", "intake_seen", "lane_events", "camera_stats", "reports",
              "occupancy_samples", "rollup_x"}
    got = sorted((a.line, a.kind, a.table) for a in accesses("m.py", ast.parse(src), tables))
    assert got == [(4, "write", "outbox"), (5, "read", "alerts"), (5, "write", "clips"),
                   (7, "write", "intake_seen"), (8, "write", "lane_events"), (9, "read", "rollup_x"),
                   (10, "write", "camera_stats"), (10, "write", "reports"), (11, "write", "occupancy_samples")]


# -- import direction --------------------------------------------------------------------------------------
def imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import, at module level or inside a function, and of every
    `importlib.import_module("..")` / `__import__("..")` of a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif (isinstance(node, ast.Call) and _called(node) in ("import_module", "__import__") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value.split(".")[0]


def test_the_import_reader_sees_what_it_must() -> None:
    src = "import jianguan.config\ndef f():\n    from jianguan import node\n    importlib.import_module('jianguan.x')\n"
    assert sorted(imports(ast.parse(src))) == [(1, "jianguan"), (3, "jianguan"), (4, "jianguan")]


def test_domain_packages_never_import_the_application() -> None:
    wrong = [f"{rel}:{line} imports {APPLICATION}" for rel, tree in sources(include_exempt=True)
             if rel.split("/", 1)[0] not in {APPLICATION, *EXEMPT_PACKAGES}
             for line, top in imports(tree) if top == APPLICATION]
    assert not wrong, "domain packages import the application:\n" + "\n".join(wrong)
