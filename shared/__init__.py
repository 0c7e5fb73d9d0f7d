"""Contracts and plumbing shared by the Suqiu services: events, topology, outbox/inbox,
database, HTTP errors, auth, metrics and test fixtures."""
