"""A faithful local MTurk Requester API (JSON 1.1 + SigV4) for the demo, tests and benchmarks.

Pipeline code never imports this package: it talks to it over HTTP through boto3, like to MTurk.
"""
