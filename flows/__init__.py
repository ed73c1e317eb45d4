"""Conversation flows: declarative definitions and the engine that runs them."""
