"""Activities, grouped by the adapter they call. ``build_activities`` wires them for a worker."""
