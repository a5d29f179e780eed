"""`articlebot bench`: speed and memory, beside the LangChain tutorial default (`run`)."""
