"""The Textual chat app of safe-local (`safe-local chat`); it uses only safe_local's public API.

Modules: app (ChatApp: layout and conversation actions), replies (sending and streaming),
ensembles (choosing, pulling and loading models), generation (the engine loop in a worker
thread), turns/composer/sidebar/status (widgets), inspector/help/picker/pull/settings_screen/
dialogs (screens), keys (every binding), commands (command palette), settings, records and
catalog (plain data and glue). The stylesheet is app.tcss.
"""
