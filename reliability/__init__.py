"""
kapid's reliability suite, long form: see L{reliability.run}.
"""
