"""A boto3 MTurk client configured for the product: endpoint, environment, retries."""
