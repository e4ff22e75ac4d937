"""The domain: money, names, errors, accounts and transfers. Standard library only."""
