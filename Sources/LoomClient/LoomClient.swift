// The LoomClient module; see Docs/architecture.md.
