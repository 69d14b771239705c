// The LoomBroker module; see Docs/architecture.md.
