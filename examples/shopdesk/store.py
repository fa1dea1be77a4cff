"""ShopDesk's database: the schema and seed (data/shop.sql) loaded into a fresh in-memory SQLite per episode,
and the snapshot/diff the reward uses to see exactly which rows an episode changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SEED = Path(__file__).parent / "data" / "shop.sql"
TABLES = ("customers", "orders", "refunds")
TODAY = "2024-06-30"

Snapshot = dict[str, dict[int, dict[str, Any]]]


def open_shop() -> sqlite3.Connection:
    """A fresh copy of the shop: every episode starts from the same rows."""
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.executescript(SEED.read_text())
    return db


def snapshot(db: sqlite3.Connection) -> Snapshot:
    """Every row of every table, by id."""
    return {table: {row["id"]: dict(row) for row in db.execute(f"SELECT * FROM {table}")} for table in TABLES}


def diff(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    """The changes between two snapshots: inserted, deleted and updated rows (with the changed columns)."""
    changes = []
    for table in TABLES:
        old, new = before[table], after[table]
        for row_id in new.keys() - old.keys():
            changes.append({"table": table, "op": "insert", "id": row_id, "row": new[row_id]})
        for row_id in old.keys() - new.keys():
            changes.append({"table": table, "op": "delete", "id": row_id})
        for row_id in old.keys() & new.keys():
            changed = {k: v for k, v in new[row_id].items() if old[row_id].get(k) != v}
            if changed:
                changes.append({"table": table, "op": "update", "id": row_id, "set": changed})
    return changes
