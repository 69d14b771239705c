import LoomRuntime

/// The process-wide stop latch of a command, wired to SIGTERM and SIGINT.
enum LoomRuntimeStop {
    static func latch() -> StopLatch {
        let latch = StopLatch()
        latch.stopOnSignals()
        return latch
    }
}
