"""The import graph, read from the source: no cycles in `nmt_keras/` or `bench/`, and no
import that goes up a layer of the table in docs/architecture.md ("Layers")."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("nmt_keras", "bench")
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    """Every module of `PACKAGES`: dotted name -> path."""
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports_of(name, path, known):
    """The modules of `known` that module `name` imports, wherever the import stands
    (module level or inside a function): `import a.b`, `from a import b` (b a module or
    a name of a), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # The deepest known module the target names: "a.b.c" -> "a.b.c", else "a.b", ...
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
    return found


def import_graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layers():
    """The layer table of docs/architecture.md: `[(layer name, [module prefixes])]`,
    lowest first. Its rows are `| N | name | `prefix`, `prefix` | ... |`."""
    rows = []
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|([^|]*)\|", line)
        if match:
            prefixes = re.findall(r"`([\w.]+)`", match.group(3))
            rows.append((int(match.group(1)), match.group(2), prefixes))
    assert rows, "docs/architecture.md has no layer table"
    assert [number for number, _, _ in rows] == list(range(1, len(rows) + 1))
    return [(name, prefixes) for _, name, prefixes in rows]


def layer_of(module, table):
    """The layer number of a module: the row whose prefix matches it most closely."""
    best = None
    for number, (_, prefixes) in enumerate(table):
        for prefix in prefixes:
            # A package's own name (`nmt_keras`) stands for its __init__ alone.
            if module == prefix or ("." in prefix and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), number)
    return None if best is None else best[1]


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "nmt_keras.model" in graph["nmt_keras.inference.translator"]
    assert "nmt_keras.training.train" in graph["nmt_keras.cli"]  # a function-level import
    assert "bench.harness" in graph["bench.__main__"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_has_a_layer_and_no_import_goes_up():
    table = layers()
    graph = import_graph()
    package = {name: deps for name, deps in graph.items() if name.startswith("nmt_keras")}
    unplaced = sorted(name for name in package if layer_of(name, table) is None)
    assert not unplaced, f"modules missing from the layer table of docs/architecture.md: {unplaced}"
    upward = sorted(
        f"{name} ({table[layer_of(name, table)][0]}) imports {dep} ({table[layer_of(dep, table)][0]})"
        for name, deps in package.items() for dep in deps
        if dep.startswith("nmt_keras") and layer_of(dep, table) > layer_of(name, table)
    )
    assert not upward, upward
