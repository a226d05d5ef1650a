"""Test-support modules; tests import helpers from here: `from support.services import ...`."""
