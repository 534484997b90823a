"""Intercom's resources as the sandbox serves them (REST 2.16): admins, contacts, companies, tags, data
and conversation attributes, conversations (and how they are rendered), search, tickets and attachments.

Each module lists its `ROUTES` (method, path, Intercom operationId, handler); the core that runs them is
include.sandbox.intercom.server.
"""
