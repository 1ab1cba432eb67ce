"""The outbox: events written with each change, processed by the workers, re-sent by
the relay and pruned when old."""
