import Foundation
import LoomModel
import LoomStore
import LoomWire

/// The JSON documents that describe studies and trials, built from a store. The optimizer answers
/// REQUESTs with them and the CLI builds the same ones from a store file, so both paths print the
/// same thing.
public enum StudyDocuments {
    /// `{"studies": [summary…], "worker_events": [the latest 50, oldest first]}`.
    public static func studies(_ store: any StudyStore) throws(StoreError) -> JSONValue {
        try studies(store, visibleTo: nil)
    }

    /// The same, with only the studies `requester` may see (`StudyAccess`; nil: every study).
    static func studies(_ store: any StudyStore, visibleTo requester: String?) throws(StoreError) -> JSONValue {
        var list: [JSONValue] = []
        for study in StudyAccess.visible(try store.studies(), requester: requester) { list.append(try summary(study, store: store)) }
        let events = try store.workerEvents(limit: 50).map { e -> JSONValue in
            var o: [String: JSONValue] = ["time": .number(e.time), "worker": .string(e.worker), "event": .string(e.event)]
            o["detail"] = e.detail.map(JSONValue.string)
            return .object(o)
        }
        return .object(["studies": .array(list), "worker_events": .array(events)])
    }

    /// One study: state, counts by trial state, best trial, budget.
    public static func summary(_ study: StudyRecord, store: any StudyStore) throws(StoreError) -> JSONValue {
        let trials = try store.trials(study: study.id)
        let counts = trials.reduce(into: [TrialState: Int]()) { counts, t in counts[t.state, default: 0] += 1 }
        let spec = try? SpecParser.parse(study.specText, file: "\(study.id).yaml")
        return summary(study, spec: spec, counts: counts, best: spec.flatMap { best(trials, mode: $0.mode) },
                       rungs: rungs(trials))
    }

    /// The same document from what the caller already holds (the optimizer's running study):
    /// no store read, no spec parse.
    public static func summary(_ study: StudyRecord, spec: StudySpec?, counts: [TrialState: Int],
                               best: TrialRecord?, rungs: JSONValue?) -> JSONValue {
        var byState: [String: JSONValue] = [:]
        for state in TrialState.allCases { byState[state.rawValue] = .number(Double(counts[state] ?? 0)) }
        var doc: [String: JSONValue] = [
            "id": .string(study.id), "name": .string(study.name), "state": .string(study.state.rawValue),
            "created_at": .number(study.createdAt), "trials": .number(Double(counts.values.reduce(0, +))),
            "counts": .object(byState),
        ]
        doc["finished_at"] = study.finishedAt.map(JSONValue.number)
        doc["reason"] = study.reason.map(JSONValue.string)
        if let spec {
            doc["metric"] = .string(spec.metric)
            doc["mode"] = .string(spec.mode.rawValue)
            doc["max_trials"] = spec.budget.maxTrials.map { .number(Double($0)) }
            doc["max_concurrent"] = .number(Double(spec.budget.maxConcurrent))
            doc["scheduler"] = scheduler(spec.scheduler)
            if !spec.warnings.isEmpty { doc["warnings"] = .array(spec.warnings.map(JSONValue.string)) }
            if let rungs { doc["rungs"] = rungs }
            if let best { doc["best"] = trial(best) }
        }
        return .object(doc)
    }

    /// `{"study": summary, "trials": [trial…]}`; with `reports`, each trial carries its
    /// intermediate reports, attempts and kept checkpoints with their writers (the export).
    public static func trials(_ studyID: String, store: any StudyStore, reports: Bool = false) throws(StoreError) -> JSONValue {
        guard let study = try store.study(studyID) else { throw .notFound("study \(studyID)") }
        var list: [JSONValue] = []
        for t in try store.trials(study: studyID) {
            var doc = trial(t)
            if reports, case .object(var o) = doc {
                o["reports"] = .array(try store.reports(study: studyID, trial: t.number).map { r in
                    .object(["attempt": .number(Double(r.attempt)), "seq": .number(Double(r.seq)), "kind": .string(r.kind),
                             "time": .number(r.time), "metrics": r.metrics])
                })
                o["attempt_log"] = .array(try store.attempts(study: studyID, trial: t.number).map { a in
                    var e: [String: JSONValue] = ["attempt": .number(Double(a.attempt)), "state": .string(a.state.rawValue),
                                                  "started_at": .number(a.startedAt)]
                    e["worker"] = a.worker.map(JSONValue.string)
                    e["error"] = a.error.map(JSONValue.string)
                    e["finished_at"] = a.finishedAt.map(JSONValue.number)
                    return .object(e)
                })
                // The checkpoints kept, newest first, with the key of the worker that wrote each.
                if let index = store as? any CheckpointIndex {
                    o["checkpoints"] = .array(try index.checkpoints(study: studyID, trial: t.number).map { c in
                        var e: [String: JSONValue] = ["attempt": .number(Double(c.attempt)), "seq": .number(Double(c.seq)),
                                                      "files": .number(Double(c.files.count)), "bytes": .number(Double(c.bytes)),
                                                      "created_at": .number(c.createdAt)]
                        e["writer"] = c.writer.map(JSONValue.string)
                        return .object(e)
                    })
                }
                doc = .object(o)
            }
            list.append(doc)
        }
        return .object(["study": try summary(study, store: store), "trials": .array(list)])
    }

    /// One trial.
    public static func trial(_ t: TrialRecord) -> JSONValue {
        var doc: [String: JSONValue] = [
            "number": .number(Double(t.number)), "state": .string(t.state.rawValue), "config": .object(t.config),
            "source": .string(t.source), "attempts": .number(Double(t.attempts)), "created_at": .number(t.createdAt),
        ]
        doc["value"] = t.value.map(JSONValue.number)
        doc["metrics"] = t.metrics
        doc["worker"] = t.worker.map(JSONValue.string)
        doc["error"] = t.error.map(JSONValue.string)
        doc["started_at"] = t.startedAt.map(JSONValue.number)
        doc["finished_at"] = t.finishedAt.map(JSONValue.number)
        doc["budget"] = t.budget.map(JSONValue.number)
        doc["note"] = t.note.map(JSONValue.string)
        doc["restore_from"] = t.restoreFrom.map { .number(Double($0)) }
        if let s = t.startedAt, let f = t.finishedAt { doc["duration_s"] = .number(f - s) }
        return .object(doc)
    }

    /// The scheduler and its parameters, as the spec resolves them:
    /// `{"type": "asha", "variant": "promotion", "resource": "epoch", "max_t": 9, …}`.
    public static func scheduler(_ spec: SchedulerSpec) -> JSONValue {
        var doc: [String: JSONValue] = ["type": .string(spec.kind.rawValue)]
        doc["resource"] = spec.resource.map(JSONValue.string)
        switch spec.kind {
        case .fifo:
            break
        case .asha, .hyperband:
            doc["variant"] = spec.type.map { .string($0.rawValue) }
            doc["max_t"] = .number(spec.resolvedMaxT)
            doc["grace_period"] = .number(spec.resolvedGracePeriod)
            doc["reduction_factor"] = .number(spec.resolvedReductionFactor)
            doc["brackets"] = spec.brackets.map { .number(Double($0)) }
            if spec.keepSizeRatios { doc["keep_size_ratios"] = .bool(true) }
        case .medianStopping:
            doc["grace_period"] = .number(spec.resolvedGracePeriod)
            doc["min_samples_required"] = .number(Double(spec.resolvedMinSamplesRequired))
        case .pbt:
            doc["perturbation_interval"] = .number(spec.resolvedPerturbationInterval)
            doc["quantile_fraction"] = .number(spec.resolvedQuantileFraction)
            doc["resample_probability"] = .number(spec.resolvedResampleProbability)
        }
        return .object(doc)
    }

    /// For studies whose trials run to budgets: `[{"budget": 1, "trials": 60}, {"budget": 3,
    /// "trials": 20}, …]`, how many trials were given each budget or a larger one (a promotion
    /// raises a trial's budget); nil when no trial has a budget.
    public static func rungs(_ trials: [TrialRecord]) -> JSONValue? {
        let budgets = trials.compactMap(\.budget)
        guard !budgets.isEmpty else { return nil }
        return .array(Set(budgets).sorted().map { level in
            .object(["budget": .number(level), "trials": .number(Double(budgets.filter { $0 >= level }.count))])
        })
    }

    /// The best complete trial in `mode`.
    public static func best(_ trials: [TrialRecord], mode: Mode) -> TrialRecord? {
        var best: TrialRecord?
        for t in trials where t.state == .complete {
            guard let v = t.value, v.isFinite else { continue }
            if let b = best?.value, !mode.isBetter(v, than: b) { continue }
            best = t
        }
        return best
    }

    /// Encodes a document as a REPLY body.
    public static func encode(_ value: JSONValue) -> Frame { JSONCoding.encode(value) }

    /// `{"error": message}`.
    public static func error(_ message: String) -> Frame { JSONCoding.encode(JSONValue.object(["error": .string(message)])) }
}
