"""The layers, read from the source (PRODUCT §2, issue "One read path").

- No GraphQL type module imports repositories or the database: the types know
  the services only (reads, rows, writes).
- Only the engine's adapter touches a private attribute or module of Strawberry
  or graphql-core.
- The modules import each other without a loop (imports for type checking only
  and Strawberry's lazy types aside), and none imports inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "accounts_gql"
ADAPTER = PACKAGE / "api" / "engine" / "adapter.py"
# Public modules of the two libraries; anything deeper is their private surface.
PUBLIC_MODULES = {
    "strawberry",
    "strawberry.scalars",
    "graphql",
    # Strawberry's WebSocket integration (api/websocket.py): the ASGI view, its
    # protocol names and rejection error, and the graphql-transport-ws handler
    # that the view lets a subclass replace (`graphql_transport_ws_handler_class`).
    "strawberry.asgi",
    "strawberry.exceptions",
    "strawberry.subscriptions",
    "strawberry.subscriptions.protocols.graphql_transport_ws.handlers",
}


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path, ast.parse(path.read_text())


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports under `if TYPE_CHECKING:`."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports(tree: ast.Module, runtime_only: bool = False) -> Iterator[tuple[ast.AST, str]]:
    skipped = _type_checking_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module
            for alias in node.names:
                yield node, f"{node.module}.{alias.name}"


def test_no_graphql_type_module_imports_repositories_or_the_database() -> None:
    for name, _, tree in modules():
        if not name.startswith("accounts_gql.api.types"):
            continue
        for _, imported in imports(tree):
            assert not imported.startswith(("accounts_gql.repositories", "accounts_gql.db")), (
                f"{name} imports {imported}"
            )


def test_only_the_adapter_touches_strawberry_or_graphql_core_internals() -> None:
    for name, path, tree in modules():
        if path == ADAPTER:
            continue
        uses_libraries = False
        for node, imported in imports(tree):
            top = imported.split(".")[0]
            if top not in ("strawberry", "graphql") or not isinstance(node, ast.ImportFrom):
                if isinstance(node, ast.Import) and top in ("strawberry", "graphql"):
                    uses_libraries = True
                    assert imported in PUBLIC_MODULES, f"{name} imports {imported}"
                continue
            uses_libraries = True
            assert node.module in PUBLIC_MODULES, f"{name} imports from {node.module}"
        if not uses_libraries:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                if node.attr.startswith("__") and node.attr.endswith("__"):
                    continue
                owner = ast.unparse(node.value)
                assert owner in ("self", "cls"), f"{name}:{node.lineno} reads {owner}.{node.attr}"
            if isinstance(node, ast.Constant) and node.value == "strawberry-definition":
                raise AssertionError(f"{name}:{node.lineno} reads Strawberry's field definition")


def test_modules_import_each_other_without_a_loop() -> None:
    graph: dict[str, set[str]] = {}
    known = {name for name, _, _ in modules()}
    for name, _, tree in modules():
        graph[name] = {
            imported for _, imported in imports(tree, runtime_only=True) if imported in known
        } - {name}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if target.startswith(module + "."):
                continue  # a package imports its own modules
            if state.get(target) == "open":
                loop = [*trail[trail.index(target) :], target] if target in trail else [target]
                raise AssertionError("import loop: " + " -> ".join(loop))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_graphql_types_import_nothing_inside_functions() -> None:
    for name, _, tree in modules():
        if not name.startswith(("accounts_gql.api.types", "accounts_gql.services.reads")):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    assert not isinstance(inner, ast.Import | ast.ImportFrom), (
                        f"{name}:{inner.lineno} imports inside {node.name}"
                    )


def test_the_engine_imports_no_entity_module() -> None:
    """api/engine knows fields by what they are declared as, not by entity."""
    for name, _, tree in modules():
        if not name.startswith("accounts_gql.api.engine"):
            continue
        for _, imported in imports(tree):
            assert not imported.startswith("accounts_gql.api.types"), f"{name} imports {imported}"
            entity_reads = imported.startswith("accounts_gql.services.reads.") and not (
                imported.startswith(
                    (
                        "accounts_gql.services.reads.contract",
                        "accounts_gql.services.reads.paging",
                    )
                )
            )
            assert not entity_reads, f"{name} imports {imported}"
            assert not imported.startswith("accounts_gql.repositories"), (
                f"{name} imports {imported}"
            )
