"""Video-generation providers behind one boundary (see base.py)."""
