"""The model project as the steps see it: its Dockerfile (`dockerfile`), its git checkout
(`gitinfo`) and whether what the build sends is exactly the commit (`worktree`)."""
