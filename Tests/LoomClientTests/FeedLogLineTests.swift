import Foundation
import LoomClient
import LoomWire
import Testing

@Suite struct FeedLogLineTests {
    /// A body as the broker journals it: `time` first (`FeedPublisher.stamped`), then the event's.
    func journaled(_ event: BrokerEvent, seq: UInt64, payload: Frame? = nil) -> FeedEvent {
        let body = event.body
        return FeedEvent(topic: event.topic, seq: seq, body: Array("{\"time\":12.5,".utf8) + body.dropFirst(), payload: payload)
    }

    @Test func aReportLineCarriesTheFeedSeqAndTheUpdateSeqUnderTheirOwnKeys() throws {
        let ref = AttemptRef(job: "mnist/3", attempt: 1, lease: 0xFFFF_0000_0000_0001)
        let event = journaled(.update(.report, ref, worker: "w1", updateSeq: 4, backup: false), seq: 17,
                              payload: Array(#"{"loss":0.5}"#.utf8))
        let line = String(decoding: FeedLogFile.jsonLine(event), as: UTF8.self)
        #expect(line.components(separatedBy: "\"seq\":").count == 2, "one seq key: \(line)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["seq"] as? Int == 17)
        #expect(object["update_seq"] as? Int == 4)
        #expect(object["lease"] as? String == "18446462598732840961")
        #expect((object["payload"] as? [String: Any])?["loss"] as? Double == 0.5)
    }

    @Test func everyLoggerLineKeyAppearsOnce() {
        let ref = AttemptRef(job: "s/1", attempt: 2, lease: 9)
        let events: [BrokerEvent] = [
            .queued(job: "s/1", client: "c", attempt: 1, cpu: 1, gpu: 0, resync: false, held: false),
            .update(.checkpoint, ref, worker: "w", updateSeq: 2, backup: true),
            .stale(ref, worker: "w", updateSeq: 3, kind: "REPORT"),
            .speculated(job: "s/1", attempt: 2, worker: "w", backup: ref, backupWorker: "w2", ranS: 1, peerMedianS: 1, peers: 2),
            .log(LogBatch(attempt: ref, stream: .stdout, firstLine: 1, lines: ["x"]), worker: "w"),
            .workerJoined(worker: "w", host: "h", pid: 1, slots: 1, gpus: 0, heartbeatMs: 1000, rejoined: false, holds: 0),
        ]
        for (i, event) in events.enumerated() {
            let line = String(decoding: FeedLogFile.jsonLine(journaled(event, seq: UInt64(i + 1), payload: Array("{}".utf8))), as: UTF8.self)
            // Top-level keys: every `"key":` at depth 1.
            var depth = 0, keys: [String] = [], inString = false, escaped = false, current = ""
            for ch in line {
                if inString {
                    if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false } else { current.append(ch) }
                    continue
                }
                switch ch {
                case "\"": inString = true; current = ""
                case "{", "[": depth += 1
                case "}", "]": depth -= 1
                case ":": if depth == 1 { keys.append(current) }
                default: break
                }
            }
            #expect(Set(keys).count == keys.count, "\(line)")
            #expect(keys.prefix(4) == ["seq", "topic", "time", "event"], "\(line)")
        }
    }
}
