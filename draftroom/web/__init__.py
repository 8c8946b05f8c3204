"""The writer's web app, as the server sees it: built files in ``dist/``, the page.

``server/web_app.py`` serves what this package reads and renders.

The TypeScript sources live in the top-level ``web/`` folder; ``scripts/build-web``
(run by ``scripts/serve`` and ``scripts/test``) builds them into ``dist/`` here, and the
wheel ships ``dist/`` as package data, so a ``pip install`` serves the app with no Node.
"""
