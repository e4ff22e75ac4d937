"""Driver-side routing: where an account lives and how to call it (the only private Ray API user)."""
