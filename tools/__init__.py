"""Developer tools of persistq (not part of the installed package)."""
