"""Leaderboard: result store, validation, site rendering."""
