"""The package's layering: `gifting_jobs/work/` never imports `gifting_jobs/services/`."""

from __future__ import annotations

import ast
from pathlib import Path

import gifting_jobs

#: The layer a job's work lives in, and the one above it that it must not reach into.
WORK_PACKAGE, SERVICES_PACKAGE = "gifting_jobs.work", "gifting_jobs.services"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names (relative imports are not used in the package)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_work__never_imports_services():
    work = Path(gifting_jobs.__file__).parent / "work"
    offenders = {
        f"{path.name}: {module}"
        for path in sorted(work.glob("*.py"))
        for module in imported_modules(path)
        if module == SERVICES_PACKAGE or module.startswith(f"{SERVICES_PACKAGE}.")
    }
    assert not offenders, offenders
    assert list(work.glob("*.py")), "the work package moved: update this test"
