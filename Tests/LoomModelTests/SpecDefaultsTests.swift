import Foundation
@testable import LoomModel
import LoomWire
import Testing

@Suite struct SpecDefaultsTests {
    @Test func minimalSpecGetsEveryDefault() throws {
        let spec = try parse(minimalSpec)
        #expect(spec.searcher == SearcherSpec(kind: .random, seed: 0, sequence: "sobol"))
        #expect(spec.scheduler == SchedulerSpec(kind: .fifo))
        #expect(spec.trial == TrialSpec(command: ["python3", "t.py"], env: [:], cwd: nil, cpu: 1, gpu: 0,
                                        timeoutSeconds: nil, maxRetries: 0, checkpointing: false))
        #expect(spec.budget == Budget(maxTrials: 1, maxConcurrent: 4, maxWallclockSeconds: nil, stopAt: nil, failFast: false))
        #expect(spec.pointsToEvaluate.isEmpty)
    }

    @Test func aSpecWithoutTrialCommandIsAskOnly() throws {
        let noSection = try parse("""
            name: a
            metric: loss
            mode: min
            space: {x: {uniform: [0, 1]}}
            scheduler: {type: asha, resource: epoch, max_t: 9}
            budget: {max_trials: 5}
            """)
        #expect(noSection.trial.isAskOnly && noSection.trial.command.isEmpty)
        let noCommand = try parse("""
            name: a
            metric: loss
            mode: min
            space: {x: {uniform: [0, 1]}}
            trial: {max_retries: 2}
            budget: {max_trials: 5}
            """)
        #expect(noCommand.trial.isAskOnly && noCommand.trial.maxRetries == 2)
        #expect(!(try parse(minimalSpec)).trial.isAskOnly)
    }

    @Test func everySectionIsRead() throws {
        let spec = try parse("""
            name: full.study-1
            metric: accuracy
            mode: max
            space: {x: {uniform: [0, 1]}}
            searcher: {type: quasi_random, sequence: halton, seed: 9}
            scheduler: {type: fifo, resource: epoch, max_t: 100, grace_period: 5, reduction_factor: 3}
            trial:
              command: [python3, t.py, --epochs, 5]
              env: {OMP_NUM_THREADS: 1, DEBUG: true, NAME: x}
              cwd: ../runs
              resources: {cpu: 0.5, gpu: 0.25}
              timeout: 1h30m
              stall_timeout: 10m
              max_retries: 3
              checkpointing: true
            budget:
              max_trials: 20
              max_concurrent: 2
              max_wallclock: 2h
              stop_at: 0.95
              fail_fast: true
            """)
        #expect(spec.name == "full.study-1")
        #expect(spec.mode == .max)
        #expect(spec.searcher == SearcherSpec(kind: .quasiRandom, seed: 9, sequence: "halton"))
        #expect(spec.scheduler == SchedulerSpec(kind: .fifo, resource: "epoch", maxT: 100, gracePeriod: 5, reductionFactor: 3))
        #expect(spec.trial == TrialSpec(command: ["python3", "t.py", "--epochs", "5"],
                                        env: ["OMP_NUM_THREADS": "1", "DEBUG": "true", "NAME": "x"], cwd: "../runs",
                                        cpu: 0.5, gpu: 0.25, timeoutSeconds: 5400, stallTimeoutSeconds: 600, maxRetries: 3,
                                        checkpointing: true))
        #expect(spec.budget == Budget(maxTrials: 20, maxConcurrent: 2, maxWallclockSeconds: 7200, stopAt: 0.95, failFast: true))
    }

    @Test func aStringCommandRunsUnderTheShell() throws {
        let spec = try parse(minimalSpec.replacingOccurrences(of: "command: [python3, t.py]",
                                                              with: #"command: 'echo "@hyperloom {\"loss\": {lr}}"'"#))
        #expect(spec.trial.command == ["/bin/sh", "-c", #"echo "@hyperloom {\"loss\": {lr}}""#])
    }

    @Test func everySchedulerReadsItsParametersInUsersWords() throws {
        let promotion = try parse(minimalSpec + """

            scheduler: {type: promotion, resource: epoch, max_t: 27, grace_period: 1, reduction_factor: 3, brackets: 2,
                        keep_size_ratios: true}
            """)
        #expect(promotion.scheduler == SchedulerSpec(kind: .asha, resource: "epoch", maxT: 27, gracePeriod: 1, reductionFactor: 3,
                                                     brackets: 2, type: .promotion, keepSizeRatios: true))
        #expect(promotion.scheduler.pausesTrials)
        let asha = try parse(minimalSpec + "\nscheduler: asha")
        #expect(asha.scheduler.type == .stopping && !asha.scheduler.pausesTrials && asha.scheduler.resolvedReductionFactor == 4)
        let hyperband = try parse(minimalSpec + "\nscheduler: {type: hyperband, max_t: 81}")
        #expect(hyperband.scheduler.resolvedReductionFactor == 3 && hyperband.scheduler.pausesTrials)
        let median = try parse(minimalSpec + "\nscheduler: {type: median_stopping, grace_period: 5, min_samples_required: 4}")
        #expect(median.scheduler == SchedulerSpec(kind: .medianStopping, gracePeriod: 5, minSamplesRequired: 4))
        let pbt = try parse(minimalSpec + """

            scheduler: {type: pbt, perturbation_interval: 4, quantile_fraction: 0.5, resample_probability: 0.1,
                        hyperparam_mutations: {lr: {loguniform: [0.0001, 0.1]}}}
            """)
        #expect(pbt.scheduler == SchedulerSpec(kind: .pbt, perturbationInterval: 4, quantileFraction: 0.5, resampleProbability: 0.1,
                                               hyperparamMutations: ["lr"]))
    }

    @Test func searcherAndSchedulerMayBeWrittenAsTheirType() throws {
        let spec = try parse(minimalSpec + "\nsearcher: quasi_random\nscheduler: fifo")
        #expect(spec.searcher.kind == .quasiRandom)
        #expect(spec.scheduler.kind == .fifo)
    }

    @Test func gridSearcherNeedsNoMaxTrialsAndReadsItAsPasses() throws {
        let once = try parse("""
            name: g
            metric: loss
            mode: min
            space: {lr: {grid_search: [0.1, 1]}}
            searcher: grid
            trial: {command: [t]}
            """)
        #expect(once.budget.maxTrials == nil)
        let twice = try parse("""
            name: g
            metric: loss
            mode: min
            space: {lr: {grid_search: [0.1, 1]}}
            searcher: {type: grid}
            trial: {command: [t]}
            budget: {max_trials: 2}
            points_to_evaluate: [{lr: 0.1}, {lr: 1}, {lr: 0.1}]
            """)
        // Passes, not trials: the three points run on top of the grid, as in Ray Tune.
        #expect(twice.budget.maxTrials == 2)
        #expect(twice.pointsToEvaluate.count == 3)
    }

    @Test func parseContentsOfReadsAFileAndNamesItInErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.yaml").path
        try minimalSpec.replacingOccurrences(of: "mode: min", with: "mode: best").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: SpecError(file: path, line: 3, column: 7, field: "mode", message: "expected min or max, found string \"best\"")) {
            try SpecParser.parse(contentsOf: path)
        }
        let missing = directory.appendingPathComponent("missing.yaml").path
        do {
            _ = try SpecParser.parse(contentsOf: missing)
            Issue.record("a missing file parsed")
        } catch {
            #expect(error.field == "file")
            #expect(error.line == 0)
            #expect(error.description.hasPrefix("\(missing): file: cannot read the spec"))
        }
    }

    @Test func descriptionReadsLikeACompilerDiagnostic() {
        let error = SpecError(file: "s.yaml", line: 12, column: 3, field: "budget.max_trial", message: "unknown key")
        #expect(error.description == "s.yaml:12:3: budget.max_trial: unknown key")
    }

    @Test func editDistanceCountsTranspositionsAsOneEdit() {
        #expect(Spelling.editDistance("max_trails", "max_trials") == 1)
        #expect(Spelling.editDistance("kitten", "sitting") == 3)
        #expect(Spelling.editDistance("", "abc") == 3)
        #expect(Spelling.suggestion(for: "loguniformm", among: SpecParser.domainKeys) == "loguniform")
        #expect(Spelling.suggestion(for: "banana", among: SpecParser.topLevelKeys) == nil)
    }
}

@Suite struct DurationTests {
    @Test(arguments: [
        ("500ms", 0.5), ("30s", 30), ("1.5s", 1.5), ("10m", 600), ("1h", 3600), ("2d", 172_800),
        ("1h30m", 5400), ("2m30s", 150), ("90", 90), ("0.25", 0.25), ("1m500ms", 60.5),
    ])
    func durationsParse(_ text: String, _ seconds: Double) {
        #expect(SpecParser.parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "10 minutes", "1y", "m", "-5s", "+5", "1h-30m", "5 s", "1..5s", "ms"])
    func malformedDurationsAreRejected(_ text: String) {
        #expect(SpecParser.parseDuration(text) == nil)
    }

    @Test(arguments: [0.5, 0.001, 1, 1.5, 59, 60, 61, 90, 3600, 5400, 86_400, 90_061, 7322.25])
    func formattedDurationsParseBack(_ seconds: Double) throws {
        let text = SpecParser.formatDuration(seconds)
        let back = try #require(SpecParser.parseDuration(text), "\(text)")
        #expect(abs(back - seconds) < 1e-9, "\(text)")
    }

    @Test func formattedDurationsAreShort() {
        #expect(SpecParser.formatDuration(0.5) == "500ms")
        #expect(SpecParser.formatDuration(90) == "1m30s")
        #expect(SpecParser.formatDuration(5400) == "1h30m")
        #expect(SpecParser.formatDuration(1.5) == "1.5s")
        #expect(SpecParser.formatDuration(0) == "0s")
    }

    @Test func specDurationsAcceptNumbersOfSeconds() throws {
        let spec = try parse(minimalSpec.replacingOccurrences(of: "command: [python3, t.py]",
                                                              with: "command: [python3, t.py]\n  timeout: 2.5"))
        #expect(spec.trial.timeoutSeconds == 2.5)
    }
}

@Suite struct SpecWarningTests {
    @Test func aPausingSchedulerWithoutCheckpointsIsWarnedAbout() throws {
        let promotion = try parse(minimalSpec + "\nscheduler: {type: promotion, resource: epoch, max_t: 9}")
        #expect(promotion.warnings.count == 1 && promotion.warnings[0].contains("a resumed trial retrains from its first epoch"))
        let hyperband = try parse(minimalSpec + "\nscheduler: {type: hyperband, resource: epoch, max_t: 9}")
        #expect(hyperband.warnings.first?.hasPrefix("hyperband pauses trials") == true)
        let checkpointed = try parse(minimalSpec.replacingOccurrences(of: "  command: [python3, t.py]",
                                                                      with: "  command: [python3, t.py]\n  checkpointing: true")
                                     + "\nscheduler: {type: promotion, resource: epoch, max_t: 9}")
        #expect(checkpointed.warnings.isEmpty)
        #expect(try parse(minimalSpec + "\nscheduler: {type: asha, resource: epoch, max_t: 9}").warnings.isEmpty, "stopping ASHA never resumes")
    }
}
