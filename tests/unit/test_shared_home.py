"""Which nodes fail the shared-home check: pure logic, no Ray (the check itself runs in
tests/e2e/test_multinode.py through --address)."""

from raybank.cluster.shared_home import unseen


def test_a_node_that_read_the_token_sees_the_home():
    assert unseen({"a": "t0ken", "b": "t0ken"}, "t0ken") == []


def test_a_node_that_found_no_marker_or_another_one_is_named():
    assert unseen({"b": None, "a": "stale", "c": "t0ken"}, "t0ken") == ["a", "b"]
