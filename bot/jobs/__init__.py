"""Durable video jobs: what they are, where they are stored, and the loop that drives them."""
