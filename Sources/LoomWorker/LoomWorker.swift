// The LoomWorker module; see Docs/architecture.md.
