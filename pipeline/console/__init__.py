"""How a command talks to people and to the process around it: results and notes (`output`),
the live step list (`progress`), closed pipes (`streams`) and SIGTERM as Ctrl-C (`interrupts`)."""
