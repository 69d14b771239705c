import LoomPlot
import Testing

@Suite struct StatisticsTests {
    @Test func ranksShareTiesAndSpearmanUsesThem() {
        #expect(Statistics.ranks([10, 30, 20, 30]) == [1, 3.5, 2, 3.5])
        #expect(Statistics.spearman([1, 2, 3, 4], [10, 100, 1000, 10000]) == 1)
        #expect(Statistics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        #expect(Statistics.spearman([1, 2], [1, 2]) == nil, "fewer than three pairs")
        #expect(Statistics.spearman([1, 1, 1], [1, 2, 3]) == nil, "constant side")
        // ranks x 1 2 3 4 5, y 2 1 4 3 5: ρ = 1 − 6·Σd²/(n(n²−1)) = 1 − 6·4/120 = 0.8.
        let rho = Statistics.spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50])
        #expect(abs((rho ?? 0) - 0.8) < 1e-12)
    }

    @Test func etaSquaredIsTheShareOfVarianceBetweenGroups() {
        // Means 2 and 6 around 4: between 3·4 + 3·4 = 24; total 24 + within (2 + 2) = 28.
        let eta = Statistics.etaSquared(groups: ["a", "a", "a", "b", "b", "b"], values: [1, 2, 3, 5, 6, 7])
        #expect(abs((eta ?? 0) - 24.0 / 28.0) < 1e-12)
        #expect(Statistics.etaSquared(groups: ["a", "a"], values: [1, 2]) == nil, "one group")
        #expect(Statistics.etaSquared(groups: ["a", "b"], values: [3, 3]) == nil, "no variance")
    }

    @Test func quantileBinsKeepTiesTogether() {
        #expect(Statistics.quantileBins([5, 1, 3, 2, 4, 6], bins: 3) == ["2", "0", "1", "0", "1", "2"])
        #expect(Statistics.quantileBins([1, 1, 1, 2], bins: 2) == ["0", "0", "0", "1"])
    }

    @Test func bestSoFarFollowsTheGoal() {
        #expect(Statistics.bestSoFar([3, 4, 1, 2], goal: .min) == [3, 3, 1, 1])
        #expect(Statistics.bestSoFar([3, 4, 1, 5], goal: .max) == [3, 4, 4, 5])
    }

    @Test func fourLevelsAreKeptLogSpacedFromTheSharedOnes() {
        #expect(ResourceLevels.chosen(in: Fixtures.study()) == [1, 2, 4, 9])
        #expect(ResourceLevels.shared(in: Fixtures.study()) == (1...9).map(Double.init))
    }

    @Test func theImportanceOfTheDecidingParameterIsHighAndOfNoiseLow() {
        let importances = ParameterImportance.estimate(Fixtures.study())
        #expect(importances.map(\.parameter) == ["lr", "noise", "opt"])
        let lr = importances[0]
        // Nine results, two bins of lr by rank ({1…5}, {6…9}): means 3 and 7.5 around 5.
        #expect(abs(lr.etaSquared - 45.0 / 60.0) < 1e-12)
        #expect(lr.spearman == 1, "larger lr, larger loss in the fixture")
        #expect(lr.groups == 2 && lr.trials == 9 && lr.noiseLevel == 1.0 / 8.0)
        #expect(importances.first { $0.parameter == "opt" }?.spearman == nil, "categorical")
    }

    @Test func runningCountsRiseAndFallWithTheAttempts() {
        var study = Fixtures.study()
        study.trials = [
            TrialData(number: 1, config: [:], outcome: .complete, value: 1, finishedAt: 4, runs: [RunInterval(start: 0, end: 4)], curve: []),
            TrialData(number: 2, config: [:], outcome: .complete, value: 1, finishedAt: 6,
                      runs: [RunInterval(start: 1, end: 2), RunInterval(start: 2, end: 6)], curve: []),
            TrialData(number: 3, config: [:], outcome: .running, value: nil, finishedAt: nil, runs: [RunInterval(start: 3, end: nil)], curve: []),
        ]
        study.startedAt = 0
        let counts = study.runningAttempts()
        #expect(counts.map(\.time) == [0, 1, 2, 3, 4, 6])
        #expect(counts.map(\.running) == [1, 2, 2, 3, 2, 0], "back to back at 2: still two; the open attempt ends with the study")
    }
}
