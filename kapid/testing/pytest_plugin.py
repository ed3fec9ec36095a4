"""
The pytest plugin of kapid (registered through the C{pytest11} entry point; inert unless its
fixtures are used).
"""
