"""Inventory: stock per variant per location, holds with an expiry, named pools.

Every change of stock is one conditional UPDATE (`... WHERE available >= n`) backed
by CHECK constraints; nothing reads stock and then writes it.
"""
