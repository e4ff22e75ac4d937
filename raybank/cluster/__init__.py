"""raybank's own Ray cluster: start it, find it, attach to it, stop only it."""
