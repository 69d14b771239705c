import Foundation
import LoomPlot
import LoomWire

/// The dashboard's state behind a lock, shared by the feed loop (writer) and the HTTP handlers
/// (readers), with the charts cached per study.
///
/// **Threading.** Every access takes `lock`; `update` and `read` bodies must not block.
public final class DashboardModel: @unchecked Sendable {
    private let lock = NSLock()
    private var state: DashboardState
    private var charts: [String: Cached<Data>] = [:]
    /// Charts of a changing study are drawn again at most every 2 s, and no more often than
    /// keeps their drawing under 2% of a core: 10,000 trials make a chart set cost tens of
    /// milliseconds (about 100 ms in a release build), and a feed of 500 events/s changes the study constantly.
    public static let chartBudget = RefreshBudget(minimum: .seconds(2), share: 0.02)

    /// A cached answer: the study version it shows, when it was computed and what that cost.
    struct Cached<Value> {
        var version: UInt64
        var at: ContinuousClock.Instant
        var cost: Duration
        var value: Value

        /// Whether it may be served for a study at `version` at `now`.
        func serves(version current: UInt64, now: ContinuousClock.Instant, budget: RefreshBudget) -> Bool {
            version == current || !budget.isDue(computedAt: at, cost: cost, now: now)
        }
    }

    public init(state: DashboardState = DashboardState()) {
        self.state = state
    }

    /// Changes the state.
    public func update(_ body: (inout DashboardState) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&state)
    }

    /// Reads the state.
    public func read<T>(_ body: (DashboardState) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(state)
    }

    /// A study view is computed again at most every 500 ms while the study changes, and no more
    /// often than keeps it under 2% of a core: sorting and summarising 10,000 trials per request
    /// is the dashboard's main cost, and every open page asks after every push.
    public static let viewBudget = RefreshBudget(minimum: .milliseconds(500), share: 0.02)
    private var views: [String: Cached<DashboardResponse>] = [:]

    /// The study view for `query`, from the cache when the study did not change or `viewBudget`
    /// says the cached one is not due.
    func studyView(_ id: String, query: DashboardState.TrialQuery, now: ContinuousClock.Instant) -> DashboardResponse {
        let key = "\(id)\u{0}\(query.sort)\u{0}\(query.descending)\u{0}\(query.state ?? "")\u{0}\(query.offset)\u{0}\(query.limit)"
        lock.lock()
        defer { lock.unlock() }
        guard let study = state.studies[id] else { return .error(404, "no study \"\(id)\" on the feed") }
        if let cached = views[key], cached.serves(version: study.version, now: now, budget: Self.viewBudget) { return cached.value }
        let started = ContinuousClock.now
        let response = DashboardResponse.json(state.studyView(id, query: query) ?? .null)
        if views.count > 256 { views.removeAll() }
        views[key] = Cached(version: study.version, at: now, cost: started.duration(to: .now), value: response)
        return response
    }

    /// `(position, version)`: what the WebSocket pushes.
    public var clock: (position: UInt64, version: UInt64) { read { ($0.position, $0.version) } }

    /// The charts of a study as `[{"name","title","svg"}]` (LoomPlot), from the cache when the
    /// study did not change or `chartBudget` says the cached ones are not due; nil for an unknown
    /// study.
    func charts(_ id: String, now: ContinuousClock.Instant) -> Data? {
        lock.lock()
        guard let study = state.studies[id] else { lock.unlock(); return nil }
        if let cached = charts[id], cached.serves(version: study.version, now: now, budget: Self.chartBudget) {
            lock.unlock()
            return cached.value
        }
        let started = ContinuousClock.now
        let data = state.plotData(id)
        let version = study.version
        lock.unlock()
        var doc: JSONValue
        if let data {
            do {
                let (plots, skipped) = try StudyPlots.render(data)
                var o: [String: JSONValue] = [
                    "charts": .array(plots.map { .object(["name": .string($0.name), "title": .string($0.title), "svg": .string($0.svg)]) }),
                    "skipped": .array(skipped.map { .object(["name": .string($0.name), "reason": .string($0.reason)]) }),
                ]
                if data.trials.count < study.trials.count {
                    o["note"] = .string("charts of \(data.trials.count) of \(study.trials.count) trials: the \(DashboardState.chartBest) best and the latest")
                }
                doc = .object(o)
            } catch {
                doc = .object(["charts": .array([]), "note": .string("\(error)")])
            }
        } else {
            doc = .object(["charts": .array([]), "note": .string("the study's metric is not known yet (the optimizer's summary names it)")])
        }
        let json = Data(doc.jsonBytes ?? Array("{}".utf8))
        lock.lock()
        charts[id] = Cached(version: version, at: now, cost: started.duration(to: .now), value: json)
        lock.unlock()
        return json
    }
}

/// One HTTP answer, before FlyingFox writes it.
public struct DashboardResponse: Equatable, Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data

    static func json(_ value: JSONValue, status: Int = 200) -> DashboardResponse {
        DashboardResponse(status: status, contentType: "application/json", body: Data(value.jsonBytes ?? Array("null".utf8)))
    }

    static func error(_ status: Int, _ message: String) -> DashboardResponse {
        json(.object(["error": .string(message)]), status: status)
    }
}

/// The dashboard's routes (Docs/dashboard.md): the page and its JSON API. Apart from the
/// server: a path and query in, a response out, so the routes are tested without sockets.
public enum DashboardRoutes {
    public static func respond(path: String, query: [String: String], model: DashboardModel,
                               now: ContinuousClock.Instant = .now) -> DashboardResponse {
        switch path {
        case "/", "/index.html":
            return DashboardResponse(status: 200, contentType: "text/html; charset=utf-8", body: Data(DashboardPage.html.utf8))
        case "/api/studies":
            return .json(model.read { $0.studiesView() })
        case "/api/fabric":
            return .json(model.read { $0.fabricView() })
        case "/api/study":
            guard let id = query["id"], !id.isEmpty else { return .error(400, "/api/study needs ?id=<study id>") }
            let trialQuery: DashboardState.TrialQuery
            do {
                trialQuery = DashboardState.TrialQuery(sort: query["sort"] ?? "number", descending: query["desc"] == "1",
                                                       state: query["state"].flatMap { $0.isEmpty ? nil : $0 },
                                                       offset: try integer(query, "offset") ?? 0, limit: try integer(query, "limit") ?? 100)
            } catch {
                return .error(400, error.message)
            }
            return model.studyView(id, query: trialQuery, now: now)
        case "/api/trial":
            guard let id = query["study"], !id.isEmpty else { return .error(400, "/api/trial needs ?study=<study id>&trial=<number>") }
            do {
                guard let number = try integer(query, "trial") else { return .error(400, "/api/trial needs ?trial=<number>") }
                let after = try integer(query, "logs_after") ?? 0
                guard let view = model.read({ $0.trialView(study: id, trial: number, logsAfter: after) }) else {
                    return .error(404, "no trial \(number) of study \"\(id)\" on the feed")
                }
                return .json(view)
            } catch {
                return .error(400, error.message)
            }
        case "/api/charts":
            guard let id = query["id"], !id.isEmpty else { return .error(400, "/api/charts needs ?id=<study id>") }
            guard let json = model.charts(id, now: now) else { return .error(404, "no study \"\(id)\" on the feed") }
            return DashboardResponse(status: 200, contentType: "application/json", body: json)
        case "/api/position":
            let (position, version) = model.clock
            return .json(.object(["position": .number(Double(position)), "version": .number(Double(version))]))
        default:
            return .error(404, "no page \(path)")
        }
    }

    struct BadParameter: Error { var message: String }

    static func integer(_ query: [String: String], _ name: String) throws(BadParameter) -> Int? {
        guard let text = query[name], !text.isEmpty else { return nil }
        guard let n = Int(text), n >= 0 else { throw BadParameter(message: "?\(name)= must be a non-negative integer, not \"\(text)\"") }
        return n
    }

    /// Whether a request may see the dashboard: always without a token; with one, when it
    /// carries it as `Authorization: Bearer <token>` or `?token=<token>`.
    public static func authorized(token: String?, header: String?, queryToken: String?) -> Bool {
        guard let token else { return true }
        if let header, header == "Bearer \(token)" { return true }
        return queryToken == token
    }
}
