import LoomModel

/// The study-spec parser on arbitrary text: it returns a spec or a `SpecError`, within its
/// node budget whatever the aliases.
enum SpecFuzz {
    static func run(_ data: [UInt8]) {
        _ = try? SpecParser.parse(String(decoding: data, as: UTF8.self), file: "fuzz.yaml")
    }

    static var seeds: [[UInt8]] {
        [
            """
            name: t
            metric: loss
            mode: min
            space:
              lr: {loguniform: [1e-5, 1e-1]}
              layers: {randint: [1, 8]}
              opt: {choice: [sgd, adam]}
            trial:
              command: [python3, train.py]
              config: &c {a: [1, 2], b: {c: d}}
            searcher: tpe
            budget:
              max_trials: 20
              max_concurrency: 4
            points_to_evaluate:
              - {lr: 0.01, layers: 2, opt: sgd}
            """,
            """
            name: g
            metric: acc
            mode: max
            space:
              x: {grid_search: [1, 2, 3]}
            trial: {command: [echo], retries: 2}
            scheduler: {asha: {max_resource: 27, reduction_factor: 3}}
            """,
        ].map { Array($0.utf8) }
    }
}
