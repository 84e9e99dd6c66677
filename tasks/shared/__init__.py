"""What the stages' Prefect task modules share (retries, the flow run's identity, lakeFS links): see tasks.py."""
