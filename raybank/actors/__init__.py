"""The Ray actors: account actors, the transfer coordinator, the persistence pool."""
