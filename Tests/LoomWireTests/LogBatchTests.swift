import Foundation
import Testing
@testable import LoomWire

/// LOG (0x0A): the frames round-trip, every kind of damage is rejected with its category, and
/// the feed body is JSON a Python client can read.
@Suite struct LogBatchTests {
    let ref = AttemptRef(job: "mnist/3", attempt: 2, lease: 0xDEAD_BEEF_0000_0001)

    @Test func logRoundTripsThroughTheBrokerDecoder() throws {
        let batches = [
            LogBatch(attempt: ref, stream: .stdout, firstLine: 1, lines: ["epoch 1", "", "@hyperloom {\"loss\": 0.5}", "ünï \"q\" \t"]),
            LogBatch(attempt: ref, stream: .stderr, firstLine: 41, lines: ["Traceback (most recent call last):"]),
            LogBatch(attempt: ref, stream: .stdout, firstLine: 7, lines: [""]),
        ]
        for batch in batches {
            let frames = WorkerMessage.log(batch).frames
            #expect(frames[1] == [0x0A])
            #expect(try WireDecoder.inbound(frames) == .worker(.log(batch)))
        }
    }

    @Test func malformedLogIsRejectedWithItsCategory() {
        let w = Wire.workerHeader, log: Frame = [Command.log.rawValue]
        let head = [Array("mnist/3".utf8), BigEndian.frame(UInt32(1)), BigEndian.frame(UInt64(9))]
        let cases: [([Frame], String)] = [
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64(1))], "frames"),
            ([w, log] + head + [Array("stdin".utf8), BigEndian.frame(UInt64(1)), Array("x".utf8)], "value"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64(0)), Array("x".utf8)], "value"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt32(1)), Array("x".utf8)], "field-size"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64(1)), [0xFF, 0xFE]], "text"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64(1)), Frame(repeating: 0x0A, count: LogBatch.maxLines)], "value"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64.max), Array("a\nb".utf8)], "value"),
            ([w, log] + head + [Array("stdout".utf8), BigEndian.frame(UInt64(1)), Frame(repeating: 0x61, count: LogBatch.maxBytes + 1)], "text"),
        ]
        for (frames, category) in cases {
            do {
                _ = try WireDecoder.inbound(frames)
                Issue.record("accepted \(frames.map(\.count))")
            } catch {
                #expect(error.category == category, "\(error)")
                #expect(error.description.contains("LOG"), "\(error)")
            }
        }
    }

    @Test func feedBodyIsJSONWithTheLinesAsAnArray() throws {
        let batch = LogBatch(attempt: ref, stream: .stderr, firstLine: 5, lines: ["a \"b\"", "\u{1}ctl", ""])
        let object = try #require(JSONSerialization.jsonObject(with: Data(BrokerEvent.log(batch, worker: "w-1").body)) as? [String: Any])
        #expect(object["job"] as? String == "mnist/3")
        #expect(object["attempt"] as? Int == 2)
        #expect(object["stream"] as? String == "stderr")
        #expect(object["first"] as? Int == 5)
        #expect(object["lines"] as? [String] == ["a \"b\"", "\u{1}ctl", ""])
        #expect(object["worker"] as? String == "w-1")
    }
}
