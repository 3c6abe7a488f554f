"""Every place in the package that could run code from a file it reads, listed and held to the resume path.

Reading an experiment or a checkpoint never unpickles (README: "Files from others"); only
``tune --resume`` restores Ray's pickled state (the searchers' restore and the relocation of a
moved experiment). A new call
anywhere else fails here: route the read through plain JSON, or through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("glass_tune", "trainables")

# (module, function) -> why running code from the file is allowed there
ALLOWED = {
    ("glass_tune/search/optuna_searcher.py", "restore"): "tune --resume: Ray restores the saved searcher",
    ("glass_tune/search/confirmation_runner.py", "restore"): "tune --resume: Ray restores the confirmation's searcher",
    ("glass_tune/search/relocation.py", "relocate_search_state"): "tune --resume of a moved experiment",
    ("glass_tune/search/tuner.py", "restored_tuner"): "tune --resume: Ray restores its experiment (Tuner.restore)",
}
# calls that unpickle whatever the file names; torch.load is one unless weights_only=True is passed
UNPICKLERS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
}
# Ray's readers of its pickled experiment state
RAY_STATE_READERS = {"ExperimentAnalysis", "restore", "get_pickled_error"}


def _call_name(node: ast.Call) -> tuple[str, str] | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        owner = func.value
        base = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
        return base, func.attr
    if isinstance(func, ast.Name):
        return "", func.id
    return None


def _runs_code(node: ast.Call) -> bool:
    name = _call_name(node)
    if name is None:
        return False
    if name in UNPICKLERS:
        return True
    if name == ("torch", "load"):
        weights_only = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
        return not (isinstance(weights_only, ast.Constant) and weights_only.value is True)
    if name[1] == "load" and name[0] in ("np", "numpy"):
        allow = next((k.value for k in node.keywords if k.arg == "allow_pickle"), None)
        return isinstance(allow, ast.Constant) and allow.value is True
    if name[0] in ("yaml",) and name[1] in ("load", "unsafe_load", "full_load"):
        loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
        return loader is None or ("Safe" not in ast.unparse(loader) and ast.unparse(loader) != "_Loader")
    return name[1] in RAY_STATE_READERS and name[0] in ("tune", "Tuner", "ray", "", "trial")


class _Scan(ast.NodeVisitor):
    """Records each code-running call under its innermost enclosing function."""

    def __init__(self, module: str) -> None:
        self.module, self.owner = module, "<module>"
        self.found: dict[tuple[str, str], list[str]] = {}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.owner = self.owner, node.name
        self.generic_visit(node)
        self.owner = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        if _runs_code(node):
            self.found.setdefault((self.module, self.owner), []).append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        self.generic_visit(node)


def code_running_reads() -> dict[tuple[str, str], list[str]]:
    """Every call in the package that may run code from a file, by (module, enclosing function)."""
    found: dict[tuple[str, str], list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            scan = _Scan(path.relative_to(ROOT).as_posix())
            scan.visit(ast.parse(path.read_text(), filename=str(path)))
            found.update(scan.found)
    return found


def test_only_the_resume_path_runs_code_from_files():
    found = code_running_reads()
    unexpected = {key: calls for key, calls in found.items() if key not in ALLOWED}
    assert not unexpected, f"code-running reads outside the resume path: {unexpected}"
    assert set(found) == set(ALLOWED), f"allowed but gone (drop them from ALLOWED): {set(ALLOWED) - set(found)}"


def test_the_scan_sees_what_it_guards_against(tmp_path):
    """The scan itself: each kind of call is caught, and the safe forms are not."""
    source = """
def bad(p):
    pickle.load(p); cloudpickle.loads(p); torch.load(p); torch.load(p, weights_only=False)
    np.load(p, allow_pickle=True); yaml.load(p); tune.Tuner.restore(p); ExperimentAnalysis(p)
def good(p):
    torch.load(p, weights_only=True); np.load(p); yaml.safe_load(p); json.loads(p)
"""
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    flagged = [ast.unparse(n) for n in calls if _runs_code(n)]
    assert len(flagged) == 8 and all(not f.startswith(("json", "yaml.safe")) for f in flagged)
