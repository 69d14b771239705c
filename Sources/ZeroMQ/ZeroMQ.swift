// The ZeroMQ module; see Docs/architecture.md.
