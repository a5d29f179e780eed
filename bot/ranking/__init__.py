"""The learned ranking: word lists, lexical and cheap features, the linear ranker and
abstainer, and their training."""
