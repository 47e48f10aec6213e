"""The shape of app/, read from the source with `ast`: how many modules, which imports sit inside
functions, the import cycles (function-level imports counted), modules over the size limit and the
modules that read another domain's models. `python scripts/import_graph.py [-v]` prints the figures;
tests/test_layering.py holds the rules on the same reading."""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 450


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    imports: dict[str, list[int]] = field(default_factory=dict)  # imported app module -> line numbers
    nested: list[tuple[int, str]] = field(default_factory=list)  # (line, module) of imports inside functions


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def read_modules(package: str = "app") -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        modules[module_name(path)] = Module(module_name(path), path, text.count("\n") + 1)
    names = set(modules)
    for mod in modules.values():
        tree = ast.parse(mod.path.read_text(encoding="utf-8"))
        is_package = mod.path.name == "__init__.py"
        for node, in_function in _walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, mod.name, is_package)
                if base:
                    targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base
                               for alias in node.names]
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target and target != mod.name:
                    mod.imports.setdefault(target, []).append(node.lineno)
                    if in_function:
                        mod.nested.append((node.lineno, target))
    return modules


def _walk(tree: ast.AST, in_function: bool = False):
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            continue  # imports for annotations only never run
        else:
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from _walk(child, nested)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in modules[v].imports:
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
                out.append(sorted(component))

    for name in modules:
        if name not in index:
            visit(name)
    return out


def domain_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 else None


def cross_domain_model_reads(modules: dict[str, Module]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for mod in modules.values():
        mine = domain_of(mod.name)
        theirs = sorted(t for t in mod.imports if t.endswith(".models") and domain_of(t) not in (None, mine))
        if mine and theirs:
            out[mod.name] = theirs
    return out


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    modules = read_modules()
    nested = [(m.name, line, target) for m in modules.values() for line, target in m.nested]
    found = cycles(modules)
    big = sorted((m.lines, m.name) for m in modules.values() if m.lines > MAX_LINES)
    reads = cross_domain_model_reads(modules)
    print(f"modules: {len(modules)}")
    print(f"function-level imports of app modules: {len(nested)}")
    print(f"import cycles: {len(found)} (sizes: {[len(c) for c in found]})")
    print(f"modules over {MAX_LINES} lines: {len(big)} {big}")
    print(f"modules importing another domain's models: {len(reads)}")
    if verbose:
        for name, line, target in nested:
            print(f"  nested  {name}:{line} -> {target}")
        for component in found:
            print("  cycle  ", " ".join(component))
        for name, targets in sorted(reads.items()):
            print(f"  reads   {name} -> {', '.join(targets)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
