"""sparkctl digest: the daily summary of a window of git commits (collect, summarise, store, publish)."""
