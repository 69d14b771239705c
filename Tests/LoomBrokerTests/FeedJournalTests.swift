import Foundation
@testable import LoomBroker
import LoomWire
import Testing

/// The feed journal on real files in a scratch directory.
@Suite struct FeedJournalTests {
    static func scratch(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hyperloom-journal-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("\(name).journal").path
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    static func event(_ seq: UInt64, topic: String? = nil, payload: Bool = false) -> FeedEvent {
        FeedEvent(topic: topic ?? "job/s/\(seq)/queued", seq: seq, body: Array("{\"event\":\"queued\",\"n\":\(seq)}".utf8),
                  payload: payload ? Array("{\"config\":{\"x\":\(seq)}}".utf8) : nil)
    }

    @Test func reopenedJournalContinuesTheSequenceAndKeepsTheHistory() throws {
        let path = Self.scratch("reopen")
        let first = try FeedJournal(path: path)
        let id = first.id
        for seq in 1...1_000 as ClosedRange<UInt64> { first.append(Self.event(seq, payload: seq % 3 == 0)) }
        first.close()
        let second = try FeedJournal(path: path)
        #expect(second.id == id && second.lastSeq == 1_000)
        second.append(Self.event(1_001))
        let (events, through) = try second.read(after: 0, limit: 5_000)
        #expect(events.map(\.seq) == Array(1...1_001))
        #expect(through == 1_001)
        #expect(events[2] == Self.event(3, payload: true))
    }

    @Test func readStartsAnywhereAcrossIndexStrides() throws {
        let journal = try FeedJournal(path: Self.scratch("strides"))
        for seq in 1...2_000 as ClosedRange<UInt64> { journal.append(Self.event(seq)) }
        for after in [0, 1, 255, 256, 257, 511, 1_999, 2_000] as [UInt64] {
            let (events, _) = try journal.read(after: after, limit: 10)
            #expect(events.first?.seq == (after < 2_000 ? after + 1 : nil), "after \(after)")
        }
    }

    @Test func readHonoursLimitAndPrefixes() throws {
        let journal = try FeedJournal(path: nil)
        for seq in 1...100 as ClosedRange<UInt64> { journal.append(Self.event(seq, topic: seq % 2 == 0 ? "job/a/\(seq)/x" : "worker/w/joined")) }
        let (limited, through) = try journal.read(after: 0, limit: 10)
        #expect(limited.map(\.seq) == Array(1...10) && through == 10)
        let (filtered, all) = try journal.read(after: 50, prefixes: ["job/a/"], limit: 1_000)
        #expect(filtered.map(\.seq) == Array(stride(from: 52, through: 100, by: 2)) && all == 100)
        let (scanned, scannedThrough) = try journal.read(after: 0, prefixes: ["nothing/"], limit: 1_000, scanLimit: 30)
        #expect(scanned.isEmpty && scannedThrough == 30)
    }

    @Test func tornLastRecordIsCutWhenOpened() throws {
        let path = Self.scratch("torn")
        let journal = try FeedJournal(path: path)
        for seq in 1...10 as ClosedRange<UInt64> { journal.append(Self.event(seq)) }
        journal.close()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        // Half a record: a length promising more bytes than follow.
        handle.write(Data([0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 11, 1, 2]))
        try handle.close()
        let reopened = try FeedJournal(path: path)
        #expect(reopened.lastSeq == 10 && reopened.repairedBytes == 14)
        reopened.append(Self.event(11))
        let (events, _) = try reopened.read(after: 9, limit: 10)
        #expect(events.map(\.seq) == [10, 11])
    }

    @Test func secondBrokerCannotOpenAJournalInUse() throws {
        let path = Self.scratch("locked")
        let journal = try FeedJournal(path: path)
        #expect(throws: FeedJournal.Failure.self) { try FeedJournal(path: path) }
        journal.close()
    }

    @Test func fileThatIsNotAJournalIsRefusedWithItsPath() throws {
        let path = Self.scratch("other")
        try Data("hello, not a journal at all".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try FeedJournal(path: path)
            Issue.record("opened a file that is not a journal")
        } catch {
            #expect(error.description.contains(path) && error.description.contains("not a feed journal"))
        }
    }
}
