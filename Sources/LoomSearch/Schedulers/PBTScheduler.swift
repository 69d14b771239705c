import Foundation
import LoomModel
import LoomWire

/// Population Based Training (Jaderberg et al. 2017), with Ray Tune's rules.
///
/// **Ready.** A trial is judged when it reports at least `perturbation_interval` after its last
/// judgement (or after 0), and below `max_t` when the spec gives one (a trial at its end has
/// nothing left to train). The population is the live trials with a result; with fewer than two
/// nothing happens. Ranked by their latest score, the bottom and the top `k = ⌈n·q⌉` trials are
/// the quantiles (`q` = `quantile_fraction`; `k` falls to `⌊n/2⌋` when larger).
/// **Exploit.** A ready trial in the bottom quantile takes a donor drawn uniformly from the top:
/// it restarts from the donor's latest checkpoint with the donor's config, explored.
/// **Explore.** Each parameter of `hyperparam_mutations` (default: every non-constant parameter)
/// is, with probability `resample_probability`, drawn afresh from its domain; otherwise a
/// number is multiplied by 0.8 or 1.2 (an integer rounded; both kept inside the domain's
/// bounds, where Ray Tune lets them leave), and a categorical value moves to a neighbouring
/// category (clamped at the ends). Parameters inactive in the new config are left out.
/// **Randomness.** The `j`-th judgement of trial `n` that exploits draws from stream
/// `n·2³² + j` of the seed, so a replay after a restart makes the same choices.
public struct PBTScheduler: Scheduler {
    /// A live trial as PBT sees it.
    struct Member: Equatable, Sendable {
        var config: Config
        var score: Double?
        var lastJudged: Double = 0
        var exploits = 0
    }

    public let mode: Mode
    public let interval: Double
    public let quantileFraction: Double
    public let resampleProbability: Double
    public let maxT: Double?
    let space: SearchSpace
    let mutations: [String]
    let seed: UInt64
    let resourceName: String
    var members: [Int: Member] = [:]

    public init(spec: SchedulerSpec, space: SearchSpace, mode: Mode, seed: UInt64) {
        self.mode = mode
        self.space = space
        self.seed = seed
        interval = spec.resolvedPerturbationInterval
        quantileFraction = spec.resolvedQuantileFraction
        resampleProbability = spec.resolvedResampleProbability
        maxT = spec.maxT
        resourceName = spec.resource ?? "report"
        mutations = spec.hyperparamMutations ?? space.parameters.compactMap { parameter in
            if case .constant = parameter.domain { return nil }
            return parameter.name
        }
    }

    public mutating func onTrialAdd(trial: Int, config: Config) -> Double? {
        members[trial] = Member(config: config)
        return nil
    }

    public mutating func onTrialRemove(trial: Int) { members[trial] = nil }

    public mutating func onResult(trial: Int, time: Double, value: Double) -> SchedulerDecision {
        guard var member = members[trial] else { return .continue }
        member.score = mode.score(value)
        let ready = time - member.lastJudged >= interval && time < (maxT ?? .infinity)
        if ready { member.lastJudged = time }
        members[trial] = member
        guard ready, let (bottom, top) = quantiles(), bottom.contains(trial) else { return .continue }
        var random = Xoshiro256StarStar(seed: seed, stream: UInt64(max(0, trial)) << 32 | UInt64(member.exploits))
        let donor = top[random.index(below: top.count)]
        let config = explore(members[donor]!.config, &random)
        members[trial]!.config = config
        members[trial]!.score = members[donor]!.score
        members[trial]!.exploits += 1
        return .exploit(donor: donor, config: config, reason: "exploited trial \(donor) at \(resourceName) \(formatLevel(time))")
    }

    /// The bottom and top quantiles, by trial number; nil below two scored trials.
    func quantiles() -> (bottom: [Int], top: [Int])? {
        let scored = members.compactMap { entry in entry.value.score.map { (trial: entry.key, score: $0) } }
            .sorted { $0.score != $1.score ? $0.score < $1.score : $0.trial < $1.trial }
        guard scored.count >= 2 else { return nil }
        var k = Int((Double(scored.count) * quantileFraction).rounded(.up))
        if Double(k) > Double(scored.count) / 2 { k = scored.count / 2 }
        guard k > 0 else { return nil }
        return (scored.prefix(k).map(\.trial), scored.suffix(k).map(\.trial))
    }

    /// The donor's config, perturbed or resampled parameter by parameter.
    func explore(_ config: Config, _ random: inout Xoshiro256StarStar) -> Config {
        var out: Config = [:]
        for parameter in space.parameters where space.isActive(parameter, in: out) {
            let resample = random.unit() < resampleProbability
            let up = random.unit() < 0.5
            let fresh = parameter.domain.value(at: random.unit())
            guard let current = config[parameter.name] else {
                out[parameter.name] = fresh
                continue
            }
            guard mutations.contains(parameter.name) else {
                out[parameter.name] = current
                continue
            }
            out[parameter.name] = resample || !parameter.domain.contains(current) ? fresh
                : Self.perturb(current, in: parameter.domain, up: up)
        }
        return out
    }

    /// ×1.2 or ×0.8 for numbers, the next or previous category for categories.
    static func perturb(_ value: JSONValue, in domain: Domain, up: Bool) -> JSONValue {
        if let categories = domain.categories, let i = categories.firstIndex(of: value) {
            return categories[min(max(i + (up ? 1 : -1), 0), categories.count - 1)]
        }
        guard let x = value.double else { return value }
        let y = x * (up ? 1.2 : 0.8)
        switch domain {
        case .uniform(let low, let high, _), .logUniform(let low, let high, _):
            return .number(min(max(y, low), high))
        case .randInt(let low, let high, _):
            return .number(Double(min(max(Int(y.rounded()), low), high - 1)))
        case .logRandInt(let low, let high):
            return .number(Double(min(max(Int(y.rounded()), low), high - 1)))
        default:
            return .number(y)
        }
    }
}
