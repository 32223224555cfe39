"""Ballast: reliable background work for multi-tenant Django products."""
