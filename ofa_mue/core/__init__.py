"""The MuE core: exit rules and policies, the exit session a forward pass carries, the
early-exit generator, exit profiles and the expected time reduction rate."""
