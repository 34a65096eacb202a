"""The generation methods, one module each, on the steps they share (base.py): single, safe, pushed."""
