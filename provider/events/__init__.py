"""Registry events: who is told when the registry changes (`mrgov:events:*`)."""
