import Foundation
import LoomStore
import Testing

/// Every `StudyStore` implementation: the contract suite runs once per case.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inMemory
    case sqlite

    var testDescription: String { rawValue }

    /// Runs `body` with a fresh, empty store of this kind (a SQLite file in its own temporary
    /// directory, removed afterwards).
    func withStore(_ body: (any StudyStore) throws -> Void) throws {
        switch self {
        case .inMemory:
            try body(InMemoryStore())
        case .sqlite:
            try withTemporaryDirectory { directory in
                try body(SQLiteStore(path: directory.appendingPathComponent("store.sqlite").path))
            }
        }
    }
}

/// Runs `body` with a new empty directory, removed afterwards.
func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("hyperloom-store-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}
