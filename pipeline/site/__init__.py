"""What the site is made of: the output kinds and their keys, the lists, the planner
that turns a change into outputs, and impact (the same plan, read-only)."""
