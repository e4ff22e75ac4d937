"""What each command means: the Bank."""
