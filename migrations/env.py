"""Alembic environment: one metadata, version folders gathered from plugins.

Run through `zhongcao db ...` (core.migrate), which hands over a live connection.
"""

from __future__ import annotations

from alembic import context

from core.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `zhongcao db upgrade` (it supplies the connection and plugins)")

# Only tables that a loaded model declares are compared: a disabled plugin's
# tables are left alone rather than reported as drift.
def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
    if type_ == "table" and reflected and compare_to is None:
        return name in Base.metadata.tables or name == "alembic_version"
    return True


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
