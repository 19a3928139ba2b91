"""The Discord-facing layer: how jobs, credits and errors look to members."""
