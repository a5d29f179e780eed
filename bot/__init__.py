"""Query time: retrieve -> rank -> answer with citations -> chat UI -> CLI -> eval."""

__version__ = "0.1.0"
