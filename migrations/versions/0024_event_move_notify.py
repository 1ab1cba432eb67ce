"""events: a NOTIFY on pressrun_events when an event is written or moves a stage

The API's `?wait=` and the dashboard's live panels wake on it instead of polling the table.
A trigger, not the code that moves the event: whatever commits the change (a worker, the
relay, a list refresh, a batch, `pressrun events retry`, a hand-written UPDATE) notifies,
and NOTIFY is transactional, so listeners hear it exactly when the change commits and never
for a change rolled back. The payload is `id:status:article_id` (article_id empty when none).

PostgreSQL only: SQLite has no NOTIFY, and the API polls there.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 02:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# pipeline.api.moves.CHANNEL listens on this (a migration keeps its own copy: it must not
# change when the code does).
CHANNEL = "pressrun_events"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION pressrun_event_moved() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(
                '{CHANNEL}',
                NEW.id::text || ':' || NEW.status || ':' || COALESCE(NEW.article_id::text, '')
            );
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER events_moved_on_insert AFTER INSERT ON events
        FOR EACH ROW EXECUTE FUNCTION pressrun_event_moved()
        """
    )
    # Only a change of stage (the relay's relayed_at, attempts, the page_live_at stamp and
    # the like stay quiet): the page_live_at stamp rides in a build's manifest transaction,
    # and a NOTIFY there would hold the commit queue's lock with the manifest's rows.
    op.execute(
        """
        CREATE TRIGGER events_moved_on_update AFTER UPDATE ON events
        FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION pressrun_event_moved()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_moved_on_update ON events")
    op.execute("DROP TRIGGER IF EXISTS events_moved_on_insert ON events")
    op.execute("DROP FUNCTION IF EXISTS pressrun_event_moved()")
