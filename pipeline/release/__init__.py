"""The release: the steps in sequence, resumable from a state file, with CI outputs."""
