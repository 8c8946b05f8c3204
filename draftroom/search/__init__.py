"""Full-text search over every document a reader may read.

    text       folding, terms, headings: what the index sees of a document
    query      the query language, parsed once into an AST, rendered per engine
    engine     the interface, shared SQL (claims, sweep), access joins, keyset
    sqlite     FTS5 engine (embedded store)
    postgres   tsvector + GIN engine (production store)
    snippet    highlighted snippets and heading paths, the same for both engines
    service    the ``Search`` feature: indexing off the edit path, and queries

Its HTTP edge is ``server/search_api.py``; docs/SEARCH.md is the user's guide.
"""
