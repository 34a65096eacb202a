"""One module per `safe-local` subcommand; each exposes `register(subparsers)`."""
