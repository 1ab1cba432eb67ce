"""Articles as editors write them: their tables, the input rules, sanitising and
markup limits, and the one write path (saves, publishes, schedules)."""
