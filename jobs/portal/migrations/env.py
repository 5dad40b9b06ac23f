"""Alembic environment of the portal's database: run on the connection ``jobs.portal.db.migrate`` hands in."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
