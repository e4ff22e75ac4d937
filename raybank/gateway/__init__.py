"""The gateway: a long-lived actor serving thin clients over a private socket."""
