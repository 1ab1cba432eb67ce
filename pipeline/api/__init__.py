"""The editorial HTTP API: a composition root like the CLI (settings -> services -> domain calls).

This package's __init__ imports nothing on purpose: workers and the CLI import
`pipeline.api.models` and `pipeline.api.tokens` without paying for (or depending on) FastAPI.
The app factory is `pipeline.api.app.create_app`.
"""
