"""The fleet store: incidents, events, cards, repairs; SQLite by default, PostgreSQL by URL."""
