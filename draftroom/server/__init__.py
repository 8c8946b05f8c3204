"""The HTTP and WebSocket edge of the server.

Importing the package registers the ``{name:doc}`` path convertor its routes use.
"""

from draftroom.server import params as params
