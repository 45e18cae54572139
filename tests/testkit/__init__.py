"""Helpers shared by the test suites (`from tests.testkit... import ...`): real local services
started for a test, and the small waiting and port utilities they need."""
