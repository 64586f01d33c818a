"""Prefect flows. Each wires plain functions from adoptwatch/, extractors/ and storage/."""
