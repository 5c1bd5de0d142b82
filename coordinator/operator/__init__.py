"""The operator's side of the ``coordinator`` CLI: commands on the client, and their rendering."""
