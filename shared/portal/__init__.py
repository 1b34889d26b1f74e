"""What the web portal shows and takes: a person's space, their export, one-time links, the
registry, the media directory, the figures."""
