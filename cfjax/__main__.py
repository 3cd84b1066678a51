"""`python -m cfjax ...`: the same as the `cfjax` console script (`cfjax.cli`)."""

from cfjax.cli import main

main()
