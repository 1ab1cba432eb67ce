"""Alembic environment: runs on the connection pressrun hands over (see pipeline.db.upgrade)."""

from alembic import context

import pipeline.api.models  # noqa: F401  (the API's own tables)
from pipeline.tables import metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
