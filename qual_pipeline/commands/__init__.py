"""What the CLI commands do, kept apart from argument parsing in cli.py."""
