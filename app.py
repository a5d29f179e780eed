"""The web chat: `python app.py` (same as `articlebot serve`)."""

import sys

from bot.ui.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
