"""Today's live visitor count: the count modes, the fast loop and the published figure."""
