"""The Textual chat app for safe-local; it uses only safe_local's public API.

The app itself arrives with the chat UI issue; this package is reserved for it so the
distribution layout (safe_local + tui) is fixed from the start.
"""
