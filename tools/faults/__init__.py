"""Fault-injection campaigns: real pipelines SIGKILLed at random, restarted, audited.

Run ``python -m tools.faults --kills N`` from the repository root.
"""
