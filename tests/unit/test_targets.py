"""The target contract (components/target.py) and the one table of targets (components/targets.py)."""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.spec import SpecError, build, load_stack_file
from components.spec import Target as TargetConfig
from components.spec.problems import target_kinds
from components.target import Target
from components.targets import TARGETS, target_for, unknown_kind_message
from components.validate import ROOT


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_each_table_entry_satisfies_the_protocol(kind: str) -> None:
    target = TARGETS[kind]
    assert target.kind == kind
    for name, member in inspect.getmembers(Target, inspect.isfunction):
        if not name.startswith("_"):
            assert callable(getattr(target, name)), name
            ours = inspect.signature(getattr(type(target), name))
            assert list(ours.parameters) == list(inspect.signature(member).parameters), name
    for name, _ in inspect.getmembers(Target, lambda m: isinstance(m, property)):
        assert hasattr(target, name), name


def _config_models() -> dict[str, type]:
    """{kind: config model} of the spec's `Target` union (components/spec/document.py)."""
    union = typing.get_args(TargetConfig)[0]
    return {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in typing.get_args(union)}


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_the_tracking_uri_key_is_a_key_of_the_targets_config(kind: str) -> None:
    """`make new-env --tracking-uri` writes the contract's key; the spec must read it as the server's URI."""
    model = _config_models()[kind]
    key = TARGETS[kind].tracking_uri_key
    server_field = model.model_fields.get("tracking_uri")
    if key is None:
        assert server_field is None
    else:
        assert server_field is not None and server_field.alias == key


# Where a target's own kind may be tested: its folder, for a type narrowing (say, a component used on
# its own refusing another target). Everywhere else asks the table or the config model's capabilities.
ROOT_DIR = Path(__file__).resolve().parents[2]
SCANNED = ("components", "localdev", "policies", "__main__.py")


def _ladders(root: Path = ROOT_DIR, scanned: tuple[str, ...] = SCANNED) -> set[tuple[str, str]]:
    """(file, function) of each isinstance on a target model, and of each kind compared with a table
    kind (`x.kind == "mlflow"`, `doc.get("kind") != "databricks"`, `target == "databricks"`);
    `<module>` outside functions."""
    models = {m.__name__ for m in _config_models().values()}
    files = [root / top for top in scanned if top.endswith(".py")]
    files += [p for top in scanned if not top.endswith(".py") for p in (root / top).rglob("*.py")]
    found = set()
    for path in files:
        rel = path.relative_to(root).as_posix()
        if not any(rel.startswith(f"components/{kind}/") for kind in TARGETS):
            tree = ast.parse(path.read_text())
            found |= {(rel, where) for where in _kind_tests(tree, "<module>", models)}
    return found


def _kind_tests(node: ast.AST, where: str, models: set[str]) -> Iterator[str]:
    """The innermost function (else `where`) around each kind test under `node`."""
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "isinstance":
            if {n.id for n in ast.walk(child.args[1]) if isinstance(n, ast.Name)} & models:
                yield where
        elif isinstance(child, ast.Compare):
            sides = [child.left, *child.comparators]
            named = any(
                isinstance(c, ast.Constant) and c.value in TARGETS for side in sides for c in _constants(side)
            )
            if named and any(_is_kind(side) for side in sides):
                yield where
        yield from _kind_tests(child, inner, models)


def _constants(node: ast.expr) -> list[ast.expr]:
    """A side of a comparison, or the items of a tuple, list or set literal (`kind in ("mlflow",)`)."""
    return list(node.elts) if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]


def _is_kind(node: ast.expr) -> bool:
    """What holds a target's kind: `x.kind`, `x.target`, `kind`, `target` or `x.get("kind")`."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("kind", "target")
    if isinstance(node, ast.Name):
        return node.id in ("kind", "target")
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "kind"
    )


def test_no_code_outside_a_targets_folder_tests_the_target_kind() -> None:
    assert _ladders() == set()


def test_the_ladder_scan_finds_a_ladder(tmp_path: Path) -> None:
    """The scan above is not blind: both spellings of a ladder, in a scanned folder, are found."""
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "x.py").write_text(
        "def a(spec):\n    return isinstance(spec.target, MlflowTarget)\n"
        "def b(cfg):\n    return cfg.target.kind != 'databricks'\n"
        "def c(doc):\n    return doc.get('kind') == 'mlflow'\n"
        "def e(snapshot):\n    return snapshot.target == 'databricks'\n"
        "def f(target):\n    return target in ('mlflow',)\n"
        "def d(cfg):\n    def inner():\n        return 'mlflow' == cfg.target.kind\n    return inner\n"
        "LADDER = isinstance(TARGET, (DatabricksTarget, str))\n"
        "def fine(p):\n    return p.kind == 'group' and isinstance(p, dict)\n"
    )
    (tmp_path / "components" / "mlflow").mkdir()
    (tmp_path / "components" / "mlflow" / "y.py").write_text(
        "def own(spec):\n    assert isinstance(spec.target, MlflowTarget)\n"
    )
    assert _ladders(tmp_path, ("components",)) == {
        ("components/x.py", "a"),
        ("components/x.py", "b"),
        ("components/x.py", "c"),
        ("components/x.py", "e"),
        ("components/x.py", "f"),
        ("components/x.py", "inner"),
        ("components/x.py", "<module>"),
    }


def test_the_unknown_kind_message_lists_the_tables_kinds() -> None:
    with pytest.raises(ValueError) as caught:
        target_for("sagemaker")
    assert str(caught.value) == unknown_kind_message("sagemaker")
    assert str(caught.value) == "unknown kind 'sagemaker'; allowed: " + ", ".join(repr(k) for k in TARGETS)


def test_the_config_document_takes_the_tables_kinds() -> None:
    assert target_kinds() == ", ".join(repr(k) for k in TARGETS)
    raw = load_stack_file(ROOT, "local")
    raw["target"] = {"trackingUri": "http://127.0.0.1:5000"}
    with pytest.raises(SpecError) as caught:
        build("local", raw, ROOT)
    assert f"kind is required; allowed: {target_kinds()}" in str(caught.value)
