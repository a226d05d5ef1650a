"""A faithful local MTurk Requester API (JSON 1.1 + SigV4) for the demo, tests and benchmarks.

Pipeline code never imports this package: it talks to it over HTTP through boto3, like to MTurk.
"""

DEFAULT_CLIENT_TIMEOUT = 60.0
"""Seconds a connection may stay idle, and a request take to arrive once begun (`server`); here,
not in `server`, so the command line's `--client-timeout` default does not import botocore."""
