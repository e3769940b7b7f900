"""The work each job type does, one module per domain; actors call these functions."""
