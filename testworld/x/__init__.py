"""A local double of X: the few endpoints of its OAuth 2.0 that "Sign in with X" uses."""
