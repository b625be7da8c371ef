"""The milos_shop_* facts of one stand-in, as an inventory sets them (one name per fact)."""

from __future__ import annotations

from pathlib import Path


def milos_shop_vars(standin, backup_dir: Path, **extra) -> dict:
    """Inventory variables that point every role of the collection at this stand-in."""
    facts = {
        "milos_shop_project_dir": str(standin.project_dir),
        "milos_shop_project_name": standin.project,
        "milos_shop_service": "milos-shop",
        "milos_shop_container": standin.container,
        "milos_shop_data_dir": str(standin.data_dir),
        "milos_shop_backup_dir": str(backup_dir),
        "milos_shop_health_url": f"{standin.url}/api/services",
        # Per stand-in, beside its backups: a test's window never touches another's.
        "milos_shop_maintenance_file": str(Path(backup_dir).parent / f"{standin.project}.maintenance.json"),
    }
    facts.update(extra)
    return facts
