"""What both lifecycles share: the domain errors, the records and the text cleaning.

Neither `index` (build time) nor `bot` (query time) is imported from here.
"""
