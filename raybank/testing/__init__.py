"""Testing aids that ship with raybank: fault injection."""
