"""The package's layering (pyproject.toml [tool.importlinter]) holds, and no module imports
itself back through others: cli -> steps -> ensemble/report -> train -> tasks -> stages ->
io/loaders -> core."""
from __future__ import annotations

import subprocess
import sys

import grimp
import pytest
from tests.paths import REPO



def test_import_linter_contracts_are_kept():
    # in a subprocess: import-linter configures logging, which disables the loggers of every
    # module already imported (the tests that read sigvision's warnings would see nothing)
    res = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("sigvision", cache_dir=None)
    assert len(graph.modules) > 50
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "cyc_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")  # a function-level import counts too
    (pkg / "c.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyc_pkg", cache_dir=None)
    assert _cycles(graph) == [["cyc_pkg.a", "cyc_pkg.b"]]
    sys.modules.pop("cyc_pkg", None)


@pytest.mark.parametrize("path", sorted((REPO / "sigvision").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_no_file_over_the_size_limit(path):
    """The restructure's rule: no module over 600 lines."""
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 600, f"{path.relative_to(REPO)} has {n} lines"
