"""The learned ranking: word lists, lexical and cheap features, the linear ranker and
abstainer, the cross-encoder reranker that rescores their best sentences, and the training of
both."""
