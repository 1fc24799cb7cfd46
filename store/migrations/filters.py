"""What Alembic compares against store/schema.py: every table but the day partitions that
store/partitions.py makes at run time on PostgreSQL."""

from __future__ import annotations

from typing import Any

from store.partitions import is_partition_name


def migration_includes(name: str | None, type_: str, _parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and is_partition_name(name))
