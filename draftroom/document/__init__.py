"""The one document model: how a stored Yjs document is named, loaded and read.

Every reader of a document goes through here — the content API, the exporter and
the agents — so they pick the same root and agree on the same text. The package
sits below the features (``server``, ``agents``, ``export`` import it) and above
the store; it knows nothing of rooms or sockets.
"""
