"""Putting outputs into storage: builds, the manifest, list refreshes, rebuilds,
reconcile and CDN purges."""
