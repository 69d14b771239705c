import Foundation
@testable import LoomModel
import LoomWire
import Testing

@Suite struct SearcherSpecTests {
    @Test func tpeTakesOptunasWords() throws {
        let spec = try parse(minimalSpec + """

            searcher:
              type: tpe
              seed: 4
              multivariate: false
              n_startup_trials: 5
              n_ei_candidates: 48
              prior_weight: 0.5
              gamma_cap: 10
              consider_endpoints: true
              random_fraction: 0.1
            """)
        #expect(spec.searcher == SearcherSpec(kind: .tpe, seed: 4, options: SearcherOptions(
            randomFraction: 0.1, nStartupTrials: 5, nEICandidates: 48, multivariate: false, priorWeight: 0.5, gammaCap: 10,
            considerEndpoints: true)))
    }

    @Test func bayesoptIsTheGPSearcher() throws {
        #expect(try parse(minimalSpec + "\nsearcher: bayesopt").searcher.kind == .gp)
        #expect(try parse(minimalSpec + "\nsearcher: {type: gp, n_startup_trials: 0}").searcher
                    == SearcherSpec(kind: .gp, options: SearcherOptions(nStartupTrials: 0)))
    }

    @Test func bohbTakesHpBandStersWords() throws {
        let spec = try parse(minimalSpec + """

            searcher: {type: bohb, top_n_percent: 20, min_points_in_model: 4, num_samples: 32, bandwidth_factor: 2,
                       min_bandwidth: 0.01, random_fraction: 0}
            """)
        #expect(spec.searcher.options == SearcherOptions(randomFraction: 0, nEICandidates: 32, topNPercent: 20, minPointsInModel: 4,
                                                         bandwidthFactor: 2, minBandwidth: 0.01))
    }

    @Test func modelOptionsLeftOutStayNil() throws {
        #expect(try parse(minimalSpec + "\nsearcher: tpe").searcher.options == SearcherOptions())
    }
}
