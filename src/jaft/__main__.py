"""``python -m jaft`` (and ``accelerate launch -m jaft …``) runs the CLI."""

from jaft.cli import main

main()
