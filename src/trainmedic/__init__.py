"""trainmedic: keeps very large synchronous AI training jobs alive.

Detect a crash, hang, slowdown or numerical fault in seconds, localize it to one card, classify it
with the fault catalog, recover from the latest checkpoint, and remember every card's history.
"""

__version__ = "0.1.0"
