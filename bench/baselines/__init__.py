"""The stack's own limits and a peer: what the suite's figures are read against."""
