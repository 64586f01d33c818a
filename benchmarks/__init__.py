"""Benchmarks: each module measures one part of adoptwatch and prints figures against a
baseline run in the same process (``make bench`` runs them all)."""
