"""Single-node Kubernetes on the Spark, planned from facts.

`facts/` reads a host, the Kubernetes API and Helm without changing anything; `steps/` turn those facts
into the exact commands, files and API calls that would bring the host to the wanted state; `plan.py`
orders the steps, says which are done and why, and applies the rest, re-reading the facts before each.
"""
