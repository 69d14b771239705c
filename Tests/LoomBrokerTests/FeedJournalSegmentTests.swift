import Foundation
@testable import LoomBroker
import LoomWire
import Testing

/// The journal's segments, retention, and recovery from a crash in the middle of a rotation.
@Suite struct FeedJournalSegmentTests {
    static func event(_ seq: UInt64) -> FeedEvent { FeedJournalTests.event(seq, payload: seq % 2 == 0) }

    /// A fresh scratch path whose sealed segments and lock file are removed too.
    static func scratch(_ name: String) -> String {
        let path = FeedJournalTests.scratch(name)
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasPrefix(base + ".") {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
        }
        return path
    }

    static func fill(_ journal: FeedJournal, through last: UInt64) throws {
        for seq in (journal.lastSeq + 1)...last {
            journal.append(event(seq))
            if seq % 50 == 0 { try journal.flush() }
        }
        try journal.flush()
    }

    @Test func fullSegmentsAreSealedAndReadsCrossThem() throws {
        let path = Self.scratch("segments")
        let journal = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        try Self.fill(journal, through: 2_000)
        #expect(journal.segmentCount > 5)
        #expect(FileManager.default.fileExists(atPath: FeedJournal.sealedPath(path, firstSeq: 1)))
        let (all, through) = try journal.read(after: 0, limit: 5_000)
        #expect(all.map(\.seq) == Array(1...2_000) && through == 2_000)
        #expect(all[1] == Self.event(2))
        // Any start, in the middle of a segment or at its first record.
        for segment in journal.segments {
            for after in [segment.firstSeq - 1, segment.firstSeq, segment.lastSeq - 1] where after < 2_000 {
                #expect(try journal.read(after: after, limit: 3).events.first?.seq == after + 1, "after \(after)")
            }
        }
        let id = journal.id, segments = journal.segmentCount
        journal.close()
        let reopened = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        #expect(reopened.id == id && reopened.lastSeq == 2_000 && reopened.segmentCount == segments && reopened.firstSeq == 1)
        try Self.fill(reopened, through: 2_100)
        #expect(try reopened.read(after: 1_990, limit: 200).events.map(\.seq) == Array(1_991...2_100))
    }

    @Test func retentionBySizeDropsTheOldestSegmentsAndReadsStartAtTheFirstKept() throws {
        let path = Self.scratch("bysize")
        let journal = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096, maxBytes: 16_384))
        try Self.fill(journal, through: 3_000)
        let dropped = try journal.enforceRetention(wallNow: FeedJournal.wallClock())
        #expect(dropped > 0 && journal.bytes <= 16_384 + 4_096 * 2)
        #expect(journal.firstSeq > 1)
        #expect(!FileManager.default.fileExists(atPath: FeedJournal.sealedPath(path, firstSeq: 1)))
        let (events, through) = try journal.read(after: 0, limit: 5_000)
        #expect(events.first?.seq == journal.firstSeq && events.last?.seq == 3_000 && through == 3_000)
        let first = journal.firstSeq
        journal.close()
        let reopened = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096, maxBytes: 16_384))
        #expect(reopened.firstSeq == first && reopened.lastSeq == 3_000)
    }

    @Test func retentionByAgeDropsSegmentsWhoseNewestEventIsOlderThanTheAge() throws {
        let journal = try FeedJournal(path: Self.scratch("byage"), retention: FeedRetention(segmentBytes: 4_096, maxAge: .seconds(3_600)))
        try Self.fill(journal, through: 1_000)
        let segments = journal.segmentCount
        #expect(try journal.enforceRetention(wallNow: FeedJournal.wallClock()) == 0)
        // Two hours later every sealed segment is too old; the one being written stays.
        #expect(try journal.enforceRetention(wallNow: FeedJournal.wallClock() + 7_200) == segments - 1)
        #expect(journal.segmentCount == 1 && journal.firstSeq == journal.segments[0].firstSeq)
        journal.append(Self.event(1_001))
        #expect(try journal.read(after: 0, limit: 5_000).events.last?.seq == 1_001)
    }

    @Test func crashAfterSealingBeforeTheNewSegmentIsCompletedOnOpen() throws {
        let path = Self.scratch("midrotation")
        let journal = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        // Write until a rotation has just happened: the new segment holds nothing yet.
        var seq: UInt64 = 0
        repeat {
            seq += 1
            journal.append(Self.event(seq))
            try journal.flush()
        } while journal.segmentCount < 3 || journal.segments[journal.segmentCount - 1].lastSeq >= journal.segments[journal.segmentCount - 1].firstSeq
        let id = journal.id
        journal.close()
        // The crash came after the rename, before the new segment was created ...
        try FileManager.default.removeItem(atPath: path)
        var reopened = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        #expect(reopened.id == id && reopened.lastSeq == seq)
        reopened.close()
        // ... or while its header was written.
        try Data("HLFJ0".utf8).write(to: URL(fileURLWithPath: path))
        reopened = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        #expect(reopened.id == id && reopened.lastSeq == seq)
        reopened.append(Self.event(seq + 1))
        #expect(try reopened.read(after: 0, limit: 5_000).events.map(\.seq) == Array(1...(seq + 1)))
    }

    @Test func aSingleFileJournalOfTheFirstFormatIsReadAndContinued() throws {
        let path = Self.scratch("legacy")
        var bytes: [UInt8] = Array("HLFJ0001".utf8) + BigEndian.frame(UInt64(0xABCD))
        for seq in 1...3 as ClosedRange<UInt64> {
            let event = Self.event(seq)
            var record: [UInt8] = BigEndian.frame(seq)
            for frame in [Array(event.topic.utf8), event.body] + (event.payload.map { [$0] } ?? []) {
                record += BigEndian.frame(UInt32(frame.count)) + frame
            }
            bytes += BigEndian.frame(UInt32(record.count)) + record
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let journal = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        #expect(journal.id == 0xABCD && journal.lastSeq == 3)
        try Self.fill(journal, through: 300)
        #expect(journal.segmentCount > 1)
        #expect(try journal.read(after: 0, limit: 5_000).events.map(\.seq) == Array(1...300))
    }

    @Test func aSealedSegmentOfAnotherJournalIsRefusedWithItsPath() throws {
        let path = Self.scratch("foreign")
        let journal = try FeedJournal(path: path, retention: FeedRetention(segmentBytes: 4_096))
        try Self.fill(journal, through: 200)
        journal.close()
        let sealed = FeedJournal.sealedPath(path, firstSeq: 1)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: sealed)))
        bytes[15] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: sealed))
        do {
            _ = try FeedJournal(path: path)
            Issue.record("opened a journal whose segments carry two ids")
        } catch {
            #expect(error.description.contains(sealed) || error.description.contains(path))
        }
    }

    @Test func anonymousJournalRotatesAndDropsToo() throws {
        let journal = try FeedJournal(path: nil, retention: FeedRetention(segmentBytes: 4_096, maxBytes: 8_192))
        try Self.fill(journal, through: 1_000)
        try journal.enforceRetention(wallNow: FeedJournal.wallClock())
        #expect(journal.firstSeq > 1)
        #expect(try journal.read(after: 0, limit: 5_000).events.last?.seq == 1_000)
    }
}
