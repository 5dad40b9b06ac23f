"""The layer rule (docs/architecture.md): every package of ``jobs`` has a floor, and imports only go down.

Read from the code's own imports with ``ast``: at module level, inside functions and under
``TYPE_CHECKING`` alike. Three rules:

1. no import from a package to one on a higher floor, and no circle between packages on one floor;
2. outside ``jobs/privacy/`` nothing imports a privacy module: only names of its face (``jobs/privacy/__init__.py``);
3. an import of ``jobs`` written inside a function says why, in a comment on its line or the line above (DAG
   parse time, a heavy library, a module that imports this one); the ones that do not are counted, and the
   count only falls.
"""

from __future__ import annotations

import ast
import collections
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"

# Lowest first. A package may import from its own floor and the floors below.
LAYERS: list[tuple[str, ...]] = [
    ("jobs.errors",),
    ("jobs.common",),
    ("jobs.contracts",),
    ("jobs.ingest",),
    ("jobs.aggregate",),
    ("jobs.privacy",),
    ("jobs.publish",),
    ("jobs.sharing", "jobs.airflow", "jobs.portal"),
    ("jobs.simulate", "jobs.evaluate", "jobs.demo", "jobs.month_run", "jobs.cluster"),
    ("jobs.cli", "jobs.__main__", "jobs.reference", "jobs", "dags"),
]
FLOOR = {package: floor for floor, packages in enumerate(LAYERS) for package in packages}

# Imports of ``jobs`` inside functions without a comment saying why. There were 259 such imports in jobs/
# before the layers were drawn (many hid circles); 55 remain in jobs/ and 19 in dags/, each saying why.
# It never rises.
UNEXPLAINED_FUNCTION_IMPORTS = 0


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package(module: str) -> str:
    """The unit that has a floor: ``jobs.<package or top-level module>``, ``jobs`` itself, or ``dags``."""
    parts = module.split(".")
    if parts[0] == "dags":
        return "dags"
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


class _Imports(ast.NodeVisitor):
    """Every import of ``jobs`` in a module: (line, imported module, names, inside a function)."""

    def __init__(self) -> None:
        self.found: list[tuple[int, int, str, tuple[str, ...], bool]] = []
        self._depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "jobs" or alias.name.startswith("jobs."):
                self.found.append((node.lineno, node.end_lineno or node.lineno, alias.name, (), self._depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module and (node.module == "jobs" or node.module.startswith("jobs.")):
            names = tuple(alias.name for alias in node.names)
            self.found.append((node.lineno, node.end_lineno or node.lineno, node.module, names, self._depth > 0))


def _sources() -> list[Path]:
    return sorted([*JOBS.rglob("*.py"), *(ROOT / "dags").glob("*.py")])


def _imports() -> list[dict]:
    rows = []
    for path in _sources():
        text = path.read_text()
        visitor = _Imports()
        visitor.visit(ast.parse(text))
        lines = text.splitlines()
        for first, last, target, names, in_function in visitor.found:
            above = lines[first - 2].strip() if first > 1 else ""
            said = any("#" in line for line in lines[first - 1:last]) or above.startswith("#")
            rows.append({"path": path.relative_to(ROOT), "line": first, "module": _module_name(path),
                         "target": target, "names": names, "in_function": in_function, "says_why": said})
    return rows


def _privacy_face() -> set[str]:
    text = (JOBS / "privacy" / "__init__.py").read_text()
    return set(re.findall(r'^    "([A-Za-z_][A-Za-z0-9_]*)": \(', text, re.M))


def test_every_package_has_a_floor():
    packages = {_package(_module_name(path)) for path in _sources()}
    assert packages - set(FLOOR) == set(), "place every new package or top-level module in LAYERS"


def test_no_import_climbs_a_floor():
    upward = []
    for row in _imports():
        source, target = _package(row["module"]), _package(row["target"])
        if FLOOR[target] > FLOOR[source]:
            upward.append(f"{row['path']}:{row['line']}: {source} (floor {FLOOR[source]}) imports {row['target']} "
                          f"(floor {FLOOR[target]})")
    assert upward == []


def test_no_circle_between_packages():
    graph = collections.defaultdict(set)
    for row in _imports():
        source, target = _package(row["module"]), _package(row["target"])
        if source != target:
            graph[source].add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        return False

    circles = sorted({tuple(sorted((a, b))) for a in list(graph) for b in graph[a] if reaches(b, a)})
    assert circles == []


def test_privacy_is_reached_only_through_its_face():
    face, modules = _privacy_face(), {p.stem for p in (JOBS / "privacy").iterdir()}
    through = []
    for row in _imports():
        if row["module"].startswith("jobs.privacy"):
            continue
        if row["target"].startswith("jobs.privacy."):
            through.append(f"{row['path']}:{row['line']}: imports {row['target']}")
        elif row["target"] == "jobs.privacy":
            through += [f"{row['path']}:{row['line']}: imports {name}, not on the face" for name in row["names"]
                        if name not in face or name in modules]
    assert through == []


def test_every_name_on_the_privacy_face_resolves():
    import jobs.privacy as privacy

    assert sorted(name for name in _privacy_face() if getattr(privacy, name, None) is None) == []


def test_imports_inside_functions_say_why_and_only_fall():
    unexplained = [f"{r['path']}:{r['line']}: {r['target']}" for r in _imports()
                   if r["in_function"] and not r["says_why"]]
    assert len(unexplained) <= UNEXPLAINED_FUNCTION_IMPORTS, (
        f"{len(unexplained)} imports of jobs inside functions without a comment saying why (at most "
        f"{UNEXPLAINED_FUNCTION_IMPORTS}); say why on the line, or import at module level:\n" + "\n".join(unexplained))
    assert len(unexplained) == UNEXPLAINED_FUNCTION_IMPORTS, (
        f"fewer unexplained imports inside functions ({len(unexplained)}): lower UNEXPLAINED_FUNCTION_IMPORTS "
        "to that, so the count only falls")


def test_the_rules_catch_what_they_forbid(tmp_path):
    # a planted upward import, a privacy module reached around the face and an unexplained lazy import
    planted = "from jobs.publish import deliver\n\ndef f():\n    from jobs.privacy.noise import noise_scale\n"
    visitor = _Imports()
    visitor.visit(ast.parse(planted))
    (first_line, _, target, _, in_function), (_, _, lazy, _, lazy_in_function) = visitor.found
    assert FLOOR[_package(target)] > FLOOR["jobs.privacy"]
    assert lazy.startswith("jobs.privacy.") and lazy_in_function and not in_function
