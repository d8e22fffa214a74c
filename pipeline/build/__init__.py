"""The build step: backends, stage graph, labels, progress parsing and the report."""
