"""`python -m bot` runs the command line."""

from bot.ui.cli import main

raise SystemExit(main())
