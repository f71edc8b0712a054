"""The web console: its built files (static/, made from the repository's console/ folder) and how /ui serves them."""
