"""The adapters people use: the command line, the web chat, and what they show."""
