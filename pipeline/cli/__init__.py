"""The `pressrun` command line: an entry point, never imported by the domain."""
