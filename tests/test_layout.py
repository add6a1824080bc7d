"""The package's architecture: imports flow one way, the command line on top."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vidclean"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the vidclean modules it imports, anywhere in it (inside functions too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_loops():
    assert cycles(import_graph()) == []


def test_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_command_line_imports_the_command_line():
    offenders = {m: sorted(t for t in targets if t.startswith("vidclean.cli"))
                 for m, targets in import_graph().items()
                 if not m.startswith("vidclean.cli") and m != "vidclean.__main__"}  # (python -m vidclean: the command)
    assert {m: t for m, t in offenders.items() if t} == {}


def test_layers():
    """The library core and I/O know nothing of jobs, training or benchmarks; jobs nothing of those two."""
    graph = import_graph()
    below = {"vidclean.core": ("vidclean.jobs", "vidclean.training", "vidclean.bench", "vidclean.options",
                               "vidclean.export"),
             "vidclean.io": ("vidclean.core", "vidclean.jobs", "vidclean.training", "vidclean.bench", "vidclean.export"),
             "vidclean.jobs": ("vidclean.training", "vidclean.bench", "vidclean.export"),
             "vidclean.export": ("vidclean.jobs", "vidclean.training", "vidclean.bench")}
    wrong = {m: sorted(t for t in targets if t.startswith(forbidden))
             for layer, forbidden in below.items() for m, targets in graph.items() if m.startswith(layer)}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_one_stream_loop_and_one_atomic_write():
    sources = {module_name(p): p.read_text() for p in PACKAGE.rglob("*.py")}
    renames = sorted(m for m, text in sources.items() if "os.replace(" in text or "os.rename(" in text)
    assert renames == ["vidclean.io.atomic"]
    loops = sorted(m for m, text in sources.items() if m.startswith("vidclean.jobs") and ".run(" in text
                   and "Behind(" in text)
    assert loops == ["vidclean.jobs.stream"]
