"""Accounts, sessions, API tokens, document roles and abuse limits.

``service.Auth`` ties the parts together and is a feature of the node; see
docs/SECURITY.md for the threat model.
"""
