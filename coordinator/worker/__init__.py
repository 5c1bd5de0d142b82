"""The worker process: a faust app around the coordinator service (recovery, standby, writer)."""
