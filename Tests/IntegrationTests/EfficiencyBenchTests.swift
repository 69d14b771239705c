import Foundation
import LoomWire
import Testing

/// `hyperloom bench efficiency` through the real executable: per-seed regrets in its JSON lines,
/// the same figures for the same seeds, and `--against` (the comparison with a reference run
/// such as Docs/benchmarks/optuna_efficiency.py's) with its rank-sum verdicts and its errors.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EfficiencyBench {
    static let arguments = ["bench", "efficiency", "--searcher", "random", "tpe", "--functions", "branin",
                            "--seeds", "12", "--first-seed", "3", "--at", "5,15"]

    /// The JSON objects of the lines whose `bench` is `name`.
    static func objects(_ output: String, bench name: String) -> [[String: JSONValue]] {
        output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), let object = (try? JSONValue(parsing: String(line)))?.object,
                  object["bench"]?.argument == name else { return nil }
            return object
        }
    }

    /// A reference file: the run's lines for `searcher`, renamed `reference`, every regret moved
    /// by `shift`.
    static func reference(from output: String, searcher: String, shift: Double) throws -> String {
        var lines: [String] = []
        for object in objects(output, bench: "efficiency") where object["searcher"]?.argument == searcher {
            var moved = object
            moved["searcher"] = .string("reference")
            guard case .array(let regrets)? = object["regrets"] else {
                Issue.record("no regrets in \(object)")
                continue
            }
            moved["regrets"] = .array(regrets.map { .number(($0.double ?? 0) + shift) })
            lines.append(String(decoding: try #require(JSONValue.object(moved).jsonBytes), as: UTF8.self))
        }
        let path = Harness.scratch.appendingPathComponent("reference-\(UUID().uuidString.prefix(6)).jsonl").path
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func eachFigureCarriesItsSeedsRegretsAndRepeatsExactlyOnAnyNumberOfThreads() throws {
        let first = try Harness.run([Harness.binary.path] + Self.arguments)
        #expect(first.status == 0, "\(first.output)")
        let figures = Self.objects(first.output, bench: "efficiency")
        #expect(figures.count == 4)  // 2 searchers × 2 trial counts
        for figure in figures {
            guard case .array(let regrets)? = figure["regrets"] else {
                Issue.record("no regrets in \(figure)")
                continue
            }
            let values = regrets.compactMap(\.double).sorted()
            #expect(values.count == 12)
            #expect(values.allSatisfy { $0 >= 0 })
            #expect(figure["median_regret"]?.double == (values[5] + values[6]) / 2)
            #expect(figure["first_seed"]?.double == 3)
        }
        // The same figures whatever the number of threads sharing the seeds.
        let single = try Harness.run([Harness.binary.path] + Self.arguments + ["--threads", "1"])
        let several = try Harness.run([Harness.binary.path] + Self.arguments + ["--threads", "5"])
        #expect(single.output == first.output)
        #expect(several.output == first.output)
    }

    @Test func againstAReferenceItCountsBetterTiedAndWorseCells() throws {
        let run = try Harness.run([Harness.binary.path] + Self.arguments)
        try #require(run.status == 0, "\(run.output)")
        // The reference is tpe itself: tpe ties in every cell; a reference 100 higher loses every cell.
        for (shift, expected) in [(0.0, "tied"), (100.0, "significantly_better")] {
            let path = try Self.reference(from: run.output, searcher: "tpe", shift: shift)
            let compared = try Harness.run([Harness.binary.path] + Self.arguments + ["--against", path])
            #expect(compared.status == 0, "\(compared.output)")
            let verdicts = Self.objects(compared.output, bench: "efficiency_against")
            #expect(verdicts.count == 2)
            for verdict in verdicts {
                #expect(verdict["reference"]?.argument == "reference")
                #expect(verdict["cells"]?.double == 2)
                if verdict["searcher"]?.argument == "tpe" || shift > 0 {
                    #expect(verdict[expected]?.double == 2, "\(compared.output)")
                    #expect(verdict["median_at_least_as_low"]?.double == 2)
                }
            }
        }
        let worse = try Self.reference(from: run.output, searcher: "tpe", shift: -100)
        let behind = try Harness.run([Harness.binary.path] + Self.arguments + ["--against", worse])
        #expect(behind.output.contains("significantly worse in 2 (branin@5, branin@15)"), "\(behind.output)")
    }

    @Test func aReferenceOnOtherSeedsOrWithoutRegretsIsRefusedByName() throws {
        let run = try Harness.run([Harness.binary.path] + Self.arguments)
        try #require(run.status == 0, "\(run.output)")
        let path = try Self.reference(from: run.output, searcher: "tpe", shift: 0)
        let otherSeeds = try Harness.run([Harness.binary.path] + Self.arguments.dropLast(4) + ["--first-seed", "4", "--at", "5,15", "--against", path])
        #expect(otherSeeds.status != 0)
        #expect(otherSeeds.output.contains("is over seeds 3..<15, this run over 4..<16"), "\(otherSeeds.output)")
        let bare = Harness.scratch.appendingPathComponent("bare-\(UUID().uuidString.prefix(6)).jsonl").path
        try #"{"bench": "efficiency", "function": "branin", "searcher": "x", "trials": 5, "seeds": 12, "first_seed": 3, "median_regret": 1}"#
            .write(toFile: bare, atomically: true, encoding: .utf8)
        let noRegrets = try Harness.run([Harness.binary.path] + Self.arguments + ["--against", bare])
        #expect(noRegrets.status != 0)
        #expect(noRegrets.output.contains("line 1 lacks function, searcher, trials, seeds, first_seed or regrets"), "\(noRegrets.output)")
        let missing = try Harness.run([Harness.binary.path] + Self.arguments + ["--against", "/nonexistent/reference.jsonl"])
        #expect(missing.status != 0)
        #expect(missing.output.contains("cannot read /nonexistent/reference.jsonl"), "\(missing.output)")
    }
}
