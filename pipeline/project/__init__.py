"""The model project as the steps see it: its Dockerfile (`dockerfile`; the shell commands of
its RUNs, `shell`; what they install, `installs`), what a build sends (`dockerignore`, read once
per command into a `buildcontext` value), its git checkout (`gitinfo`) and whether what the
build sends is exactly the commit (`worktree`)."""
