"""The twin's business support systems: catalog, customers, ordering, rating, billing, revenue.

Each function is one module; they talk through the bus, and the ordering saga calls the
systems it activates through the small interfaces in :mod:`twin.bss.contracts`.
"""
