"""
kapid's benchmarks: C{python3 -m bench.run} (or C{bench/run}) measures kapid against ceilings of its
own stack measured in the same run on the same machine, and prints every figure as a ratio.

See C{bench/README.md}.
"""
