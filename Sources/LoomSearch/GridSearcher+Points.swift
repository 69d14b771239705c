import LoomModel

extension GridSearcher {
    /// The grid points of `space` and the names of the grid parameters they fix.
    ///
    /// A parameter's value is *determined* by a grid point when its own activity is and it is a
    /// grid parameter or a constant. Grid parameters whose activity is determined are enumerated;
    /// the walk follows parameter order and branches on each active one, so a combination never
    /// holds a grid parameter its conditions switch off. Constants take part in the walk (a
    /// condition may name one) but are left out of the points.
    static func enumerate(_ space: SearchSpace) -> (points: [Config], enumerated: Set<String>) {
        var determined: Set<String> = []
        var walked: [Parameter] = []
        for parameter in space.parameters {
            if let condition = parameter.condition, !determined.contains(condition.parent) { continue }
            switch parameter.domain {
            case .grid, .constant:
                determined.insert(parameter.name)
                walked.append(parameter)
            default:
                break
            }
        }
        let enumerated = Set(walked.filter { if case .grid = $0.domain { true } else { false } }.map(\.name))
        var points: [Config] = []
        func walk(_ i: Int, _ partial: Config) {
            guard i < walked.count else {
                points.append(partial.filter { enumerated.contains($0.key) })
                return
            }
            let parameter = walked[i]
            guard space.isActive(parameter, in: partial) else { return walk(i + 1, partial) }
            for value in parameter.domain.categories ?? [] {
                var next = partial
                next[parameter.name] = value
                walk(i + 1, next)
            }
        }
        walk(0, [:])
        return (points, enumerated)
    }
}
