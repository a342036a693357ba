"""Autogenerate the next Alembic revision for one package's tables.

    .venv/bin/python scripts/new_migration.py cdp "profiles and triggers"

Each package keeps its own branch (`<pkg>/migrations/versions`, branch label = package name),
so packages evolve their tables independently; `cjo` upgrades to every branch head at start-up.
A package's first revision depends on the core tables.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

# Import this checkout's packages, not whatever the virtualenv's editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command
from alembic.script import ScriptDirectory

from core.db import REPO_ROOT, alembic_config, make_engine, migrate


def main(package: str, message: str) -> None:
    versions = REPO_ROOT / package / "migrations" / "versions"
    first = not versions.is_dir() or not any(versions.glob("*.py"))
    versions.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'gen.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        cfg = alembic_config(url)
        script = ScriptDirectory.from_config(cfg)
        count = sum(1 for _ in versions.glob("*.py"))
        rev_id = f"{package}_{count + 1:04d}"
        if first:
            command.revision(
                cfg,
                message=message,
                autogenerate=True,
                rev_id=rev_id,
                head="base",
                branch_label=package,
                depends_on="core_0001",
                version_path=str(versions),
            )
        else:
            head = script.get_revision(f"{package}@head")
            assert head is not None
            command.revision(
                cfg,
                message=message,
                autogenerate=True,
                rev_id=rev_id,
                head=f"{package}@head",
                version_path=str(versions),
            )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
