"""Scenarios that run on a real bank: the guided demo and the simulator."""
