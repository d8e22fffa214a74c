"""The build step: buildx, stage graph, labels, progress parsing and the report."""
