// The LoomRuntime module; see Docs/architecture.md.
