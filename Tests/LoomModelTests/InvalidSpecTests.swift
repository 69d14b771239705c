import Foundation
import LoomModel
import Testing

/// Each invalid spec is rejected with its own error: the line (and where it matters the column)
/// of the node at fault, the dotted field, and a fragment of what was expected.
///
/// Most cases change one line of `minimalSpec`, whose lines are:
///
///     1 name: t                4 space:                  7   command: [python3, t.py]
///     2 metric: loss           5   lr: {uniform: [0, 1]} 8 budget:
///     3 mode: min              6 trial:                  9   max_trials: 1
@Suite struct InvalidSpecTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let yaml: String
        let line: Int
        var column: Int?
        let field: String
        let fragment: String
        var testDescription: String { label }
    }

    /// `minimalSpec` with the line holding `old` replaced by `new` (which may span lines).
    static func changing(_ old: String, to new: String) -> String {
        precondition(minimalSpec.contains(old), old)
        return minimalSpec.replacingOccurrences(of: old, with: new)
    }

    static func space(_ lines: String) -> String { changing("  lr: {uniform: [0, 1]}", to: lines) }

    static let cases: [Case] = [
        // YAML itself
        Case(label: "YAML syntax error", yaml: space("  lr: {uniform: [0, 1]\n  l2: 3"),
             line: 6, field: "syntax", fragment: "did not find expected ',' or '}'"),
        Case(label: "tab indentation", yaml: space("\tlr: 1"), line: 5, column: 1, field: "syntax",
             fragment: "found character that cannot start any token (while scanning for the next token at line 5, column 1); YAML indents with spaces, not tabs"),
        Case(label: "duplicate key", yaml: minimalSpec + "\nmetric: accuracy", line: 10, column: 1, field: "syntax",
             fragment: "duplicate key \"metric\" in the same mapping (first at line 2)"),
        Case(label: "duplicate nested key", yaml: changing("  max_trials: 1", to: "  max_trials: 1\n  # again\n\n  max_trials: 2"),
             line: 12, column: 3, field: "syntax", fragment: "duplicate key \"max_trials\" in the same mapping (first at line 9)"),
        Case(label: "duplicate key in a flow mapping", yaml: space("  lr: {uniform: [0, 1], uniform: [0, 2]}"),
             line: 5, column: 8, field: "syntax", fragment: "duplicate key \"uniform\" in the same mapping (first written here)"),
        Case(label: "empty document", yaml: "# nothing here\n", line: 1, field: "syntax", fragment: "the spec is empty"),
        Case(label: "list at the top level", yaml: "- name: t\n", line: 1, field: "spec",
             fragment: "expected a mapping of study settings"),

        // Top level
        Case(label: "missing name", yaml: changing("name: t\n", to: ""), line: 1, column: 1, field: "name",
             fragment: "missing required key \"name\""),
        Case(label: "missing metric", yaml: changing("metric: loss\n", to: ""), line: 1, field: "metric",
             fragment: "missing required key \"metric\""),
        Case(label: "missing mode", yaml: changing("mode: min\n", to: ""), line: 1, field: "mode",
             fragment: "missing required key \"mode\" (min or max)"),
        Case(label: "missing space", yaml: changing("space:\n  lr: {uniform: [0, 1]}\n", to: ""), line: 1, field: "space",
             fragment: "missing required key \"space\""),
        Case(label: "bad mode", yaml: changing("mode: min", to: "mode: minimize"), line: 3, column: 7, field: "mode",
             fragment: "expected min or max, found string \"minimize\""),
        Case(label: "unknown top-level key with a suggestion", yaml: minimalSpec + "\nsearchr: grid", line: 10, column: 1,
             field: "searchr", fragment: "unknown key \"searchr\" at the top level; expected one of name, metric, mode, metrics, constraints, space, searcher, scheduler, trial, budget, points_to_evaluate (did you mean \"searcher\"?)"),
        Case(label: "name with spaces", yaml: changing("name: t", to: "name: my study"), line: 1, column: 7, field: "name",
             fragment: "expected letters, digits, \"_\", \".\" or \"-\" only (the name prefixes job ids), found \"my study\""),
        Case(label: "name too long", yaml: changing("name: t", to: "name: " + String(repeating: "a", count: 65)), line: 1,
             field: "name", fragment: "expected at most 64 characters, found 65"),
        Case(label: "metric named checkpoint", yaml: changing("metric: loss", to: "metric: checkpoint"), line: 2,
             field: "metric", fragment: "checkpoint flag"),

        // Domains
        Case(label: "uniform low not below high", yaml: space("  lr: {uniform: [1, 0.5]}"), line: 5, column: 17,
             field: "space.lr.uniform", fragment: "expected low < high, found low 1 and high 0.5"),
        Case(label: "loguniform low not positive", yaml: space("  lr: {loguniform: [0, 1]}"), line: 5, column: 21,
             field: "space.lr.loguniform", fragment: "expected low > 0 (the scale is logarithmic), found 0"),
        Case(label: "non-integer randint bound", yaml: space("  epochs: {randint: [5.5, 11]}"), line: 5, column: 22,
             field: "space.epochs.randint", fragment: "expected an integer for low, found 5.5"),
        Case(label: "randint high not above low", yaml: space("  epochs: {randint: [5, 5]}"), line: 5,
             field: "space.epochs.randint", fragment: "expected high > low (high is exclusive"),
        Case(label: "q not positive", yaml: space("  lr: {quniform: [0, 1, 0]}"), line: 5, column: 25,
             field: "space.lr.quniform", fragment: "expected q > 0, found 0"),
        Case(label: "lograndint low below 1", yaml: space("  units: {lograndint: [0, 512]}"), line: 5,
             field: "space.units.lograndint", fragment: "expected low ≥ 1"),
        Case(label: "randn sd not positive", yaml: space("  bias: {randn: [0, 0]}"), line: 5,
             field: "space.bias.randn", fragment: "expected sd > 0"),
        Case(label: "infinite bound", yaml: space("  lr: {uniform: [0, .inf]}"), line: 5,
             field: "space.lr.uniform", fragment: "expected a finite number for high, found .inf"),
        Case(label: "wrong number of bounds", yaml: space("  lr: {uniform: [0]}"), line: 5,
             field: "space.lr.uniform", fragment: "expected [low, high], found a list of 1 value"),
        Case(label: "empty choice", yaml: space("  bs: {choice: []}"), line: 5, field: "space.bs.choice",
             fragment: "expected at least one value, found an empty list"),
        Case(label: "duplicate choice values", yaml: space("  bs: {choice: [16, 32, 16]}"), line: 5, column: 25,
             field: "space.bs.choice", fragment: "duplicate value 16 (positions 0 and 2)"),
        Case(label: "unknown domain key", yaml: space("  lr: {loguniformm: [0.001, 1]}"), line: 5, column: 8,
             field: "space.lr.loguniformm", fragment: "unknown domain \"loguniformm\"; expected one of uniform, quniform, loguniform"),
        Case(label: "unknown domain key suggestion", yaml: space("  lr: {loguniformm: [0.001, 1]}"), line: 5,
             field: "space.lr.loguniformm", fragment: "(did you mean \"loguniform\"?)"),
        Case(label: "two domains", yaml: space("  lr: {uniform: [0, 1], choice: [1]}"), line: 5,
             field: "space.lr.choice", fragment: "expected one domain per parameter, found uniform and choice"),
        Case(label: "bare list", yaml: space("  bs: [16, 32]"), line: 5, column: 7, field: "space.bs",
             fragment: "a bare list is ambiguous"),
        Case(label: "null parameter", yaml: space("  bs:\n  lr: 1"), line: 5, field: "space.bs",
             fragment: "expected a domain such as {uniform: [0, 1]}"),
        Case(label: "reserved parameter name", yaml: space("  trial_id: 3"), line: 5, column: 3, field: "space.trial_id",
             fragment: "built-in placeholder"),
        Case(label: "parameter name with a dot", yaml: space("  my.lr: 3"), line: 5, field: "space.my.lr",
             fragment: "\".\" is reserved for nested options"),
        Case(label: "empty space", yaml: space("  {}"), line: 5, field: "space",
             fragment: "expected at least one parameter"),

        // Conditions and nesting
        Case(label: "condition on an unknown parent",
             yaml: space("  optimizer: {choice: [sgd, adam]}\n  momentum: {uniform: [0, 1], when: {optimiser: sgd}}"),
             line: 6, column: 38, field: "space.momentum.when.optimiser",
             fragment: "unknown parameter \"optimiser\"; a parent must be defined before \"momentum\" (defined so far: optimizer) (did you mean \"optimizer\"?)"),
        Case(label: "condition on a later parent",
             yaml: space("  momentum: {uniform: [0, 1], when: {optimizer: sgd}}\n  optimizer: {choice: [sgd, adam]}"),
             line: 5, field: "space.momentum.when.optimizer",
             fragment: "parameter \"optimizer\" is defined after \"momentum\"; a parent must come before"),
        Case(label: "condition value not among the parent's values",
             yaml: space("  optimizer: {choice: [sgd, adam]}\n  momentum: {uniform: [0, 1], when: {optimizer: sgdd}}"),
             line: 6, column: 49, field: "space.momentum.when.optimizer",
             fragment: "\"sgdd\" is not a value of \"optimizer\"; expected one of \"sgd\", \"adam\" (did you mean \"sgd\"?)"),
        Case(label: "condition on a numeric parent",
             yaml: space("  lr: {uniform: [0, 1]}\n  warm: {uniform: [0, 1], when: {lr: 0.5}}"),
             line: 6, field: "space.warm.when.lr", fragment: "parent \"lr\" is numeric ({uniform: [0, 1]})"),
        Case(label: "condition with two parents",
             yaml: space("  a: {choice: [x, y]}\n  b: {choice: [x, y]}\n  c: {uniform: [0, 1], when: {a: x, b: y}}"),
             line: 7, field: "space.c.when", fragment: "expected exactly one parent, found 2"),
        Case(label: "condition on itself", yaml: space("  a: {choice: [x], when: {a: x}}"), line: 5,
             field: "space.a.when.a", fragment: "a parameter cannot depend on itself"),
        Case(label: "when inside an option naming an outer parameter",
             yaml: space("  scale: {choice: [on, off]}\n  model: {choice: {svm: {C: {uniform: [1, 2], when: {scale: on}}}}}"),
             line: 6, field: "space.model.choice.svm.C.when.scale", fragment: "may only name a parameter of the same option"),
        Case(label: "options of two nested choices with the same name",
             yaml: space("  clf: {choice: {svm: {C: 1}}}\n  pre: {choice: {svm: {C: 2}}}"),
             line: 6, field: "space.pre.choice.svm.C", fragment: "parameter \"svm.C\" is defined twice (first at line 5)"),
        Case(label: "option that is not a mapping", yaml: space("  clf: {choice: {svm: 3}}"), line: 5,
             field: "space.clf.choice.svm", fragment: "expected the option's parameters as a mapping"),

        // Searcher and scheduler
        Case(label: "unknown searcher type", yaml: minimalSpec + "\nsearcher: {type: randm}", line: 10, column: 18,
             field: "searcher.type", fragment: "unknown searcher type \"randm\"; expected one of random, grid, quasi_random, tpe, gp, bohb, nsga2 (did you mean \"random\"?)"),
        Case(label: "searcher of a later version", yaml: minimalSpec + "\nsearcher: hyperopt", line: 10, field: "searcher",
             fragment: "searcher \"hyperopt\" is not available in this version"),
        Case(label: "sequence for the random searcher", yaml: minimalSpec + "\nsearcher: {type: random, sequence: sobol}",
             line: 10, field: "searcher.sequence", fragment: "sequence applies only to the quasi_random searcher"),
        Case(label: "TPE option given to another searcher", yaml: minimalSpec + "\nsearcher: {type: gp, multivariate: true}", line: 10,
             column: 22, field: "searcher.multivariate", fragment: "multivariate applies only to the tpe searcher, not gp"),
        Case(label: "model option given to random search", yaml: minimalSpec + "\nsearcher: {type: random, random_fraction: 0.2}", line: 10,
             field: "searcher.random_fraction", fragment: "random_fraction applies only to the tpe, gp, bohb searchers, not random"),
        Case(label: "random fraction above one", yaml: minimalSpec + "\nsearcher: {type: tpe, random_fraction: 1.5}", line: 10,
             field: "searcher.random_fraction", fragment: "expected a fraction in [0, 1], found 1.5"),
        Case(label: "no EI candidates", yaml: minimalSpec + "\nsearcher: {type: tpe, n_ei_candidates: 0}", line: 10,
             field: "searcher.n_ei_candidates", fragment: "expected an integer ≥ 1, found 0"),
        Case(label: "multivariate not a boolean", yaml: minimalSpec + "\nsearcher: {type: tpe, multivariate: maybe}", line: 10,
             field: "searcher.multivariate", fragment: "expected true or false"),
        Case(label: "top_n_percent out of range", yaml: minimalSpec + "\nsearcher: {type: bohb, top_n_percent: 100}", line: 10,
             field: "searcher.top_n_percent", fragment: "expected a percentage in (0, 100), found 100"),
        Case(label: "misspelt searcher option", yaml: minimalSpec + "\nsearcher: {type: tpe, n_startup_trial: 5}", line: 10,
             field: "searcher.n_startup_trial", fragment: "(did you mean \"n_startup_trials\"?)"),
        Case(label: "negative seed", yaml: minimalSpec + "\nsearcher: {seed: -1}", line: 10, field: "searcher.seed",
             fragment: "expected a non-negative integer, found -1"),
        Case(label: "unknown scheduler type", yaml: minimalSpec + "\nscheduler: {type: ashaa, max_t: 10}", line: 10,
             column: 19, field: "scheduler.type",
             fragment: "unknown scheduler type \"ashaa\"; expected one of fifo, asha, hyperband, median_stopping, pbt, stopping, promotion (did you mean \"asha\"?)"),
        Case(label: "another library's scheduler name", yaml: minimalSpec + "\nscheduler: successive_halving", line: 10,
             field: "scheduler", fragment: "unknown scheduler type \"successive_halving\"; write hyperband with brackets: 1"),
        Case(label: "parameter of another scheduler", yaml: minimalSpec + "\nscheduler: {type: asha, perturbation_interval: 2}",
             line: 10, column: 25, field: "scheduler.perturbation_interval",
             fragment: "perturbation_interval applies to the pbt scheduler, not asha"),
        Case(label: "keep_size_ratios without promotion", yaml: minimalSpec + "\nscheduler: {type: asha, keep_size_ratios: true}",
             line: 10, field: "scheduler.keep_size_ratios", fragment: "keep_size_ratios applies only to ASHA with type: promotion"),
        Case(label: "quantile fraction above one half", yaml: minimalSpec + "\nscheduler: {type: pbt, quantile_fraction: 0.7}",
             line: 10, field: "scheduler.quantile_fraction", fragment: "expected a number in [0, 0.5]"),
        Case(label: "mutation of an unknown parameter", yaml: minimalSpec + "\nscheduler: {type: pbt, hyperparam_mutations: [lrr]}",
             line: 10, field: "scheduler.hyperparam_mutations",
             fragment: "\"lrr\" is not a parameter of the space; expected one of lr (did you mean \"lr\"?)"),
        Case(label: "zero brackets", yaml: minimalSpec + "\nscheduler: {type: hyperband, brackets: 0}", line: 10,
             field: "scheduler.brackets", fragment: "expected an integer ≥ 1, found 0"),
        Case(label: "reduction factor below 2", yaml: minimalSpec + "\nscheduler: {type: fifo, reduction_factor: 1}", line: 10,
             field: "scheduler.reduction_factor", fragment: "expected a number ≥ 2"),
        Case(label: "grace period not positive", yaml: minimalSpec + "\nscheduler:\n  grace_period: 0", line: 11,
             field: "scheduler.grace_period", fragment: "expected a positive number, found 0"),
        Case(label: "grace period beyond max_t", yaml: minimalSpec + "\nscheduler: {max_t: 10, grace_period: 20}", line: 10,
             field: "scheduler.grace_period", fragment: "expected grace_period ≤ max_t (10), found 20"),

        // Trial
        Case(label: "ask-only study with a pausing scheduler", yaml: changing("  command: [python3, t.py]", to: "  cwd: .")
                + "\nscheduler: {type: hyperband, resource: epoch, max_t: 9}", line: 10, column: 1,
             field: "scheduler", fragment: "an ask-only study (no trial.command) can only prune asked trials"),
        Case(label: "empty command list", yaml: changing("command: [python3, t.py]", to: "command: []"), line: 7, column: 12,
             field: "trial.command", fragment: "expected the program and its arguments, found an empty list"),
        Case(label: "empty command string", yaml: changing("command: [python3, t.py]", to: "command: \"  \""), line: 7,
             field: "trial.command", fragment: "expected a shell command line, found an empty string"),
        Case(label: "command argument that is a mapping", yaml: changing("command: [python3, t.py]", to: "command: [python3, {a: 1}]"),
             line: 7, field: "trial.command[1]", fragment: "expected a string argument, found a mapping"),
        Case(label: "bad duration", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  timeout: 10 minutes"),
             line: 8, column: 12, field: "trial.timeout",
             fragment: "expected a duration such as 500ms, 30s, 10m, 1h or a number of seconds, found string \"10 minutes\""),
        Case(label: "zero duration", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  timeout: 0s"),
             line: 8, field: "trial.timeout", fragment: "expected a positive duration"),
        Case(label: "zero stall_timeout", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  stall_timeout: 0"),
             line: 8, column: 18, field: "trial.stall_timeout", fragment: "expected a positive duration"),
        Case(label: "stall_timeout that is not a duration", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  stall_timeout: soon"),
             line: 8, column: 18, field: "trial.stall_timeout", fragment: "expected a duration such as 500ms"),
        Case(label: "negative max_retries", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  max_retries: -1"),
             line: 8, column: 16, field: "trial.max_retries", fragment: "expected an integer from 0 to 1000, found -1"),
        Case(label: "negative cpu", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  resources: {cpu: -1}"),
             line: 8, column: 20, field: "trial.resources.cpu", fragment: "expected a number ≥ 0 (fractions allowed), found -1"),
        Case(label: "gpu not a number", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  resources:\n    gpu: half"),
             line: 9, column: 10, field: "trial.resources.gpu", fragment: "expected a number ≥ 0 (fractions allowed), found string \"half\""),
        Case(label: "no cpu and no gpu", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  resources: {cpu: 0}"),
             line: 8, column: 3, field: "trial.resources", fragment: "expected cpu > 0 or gpu > 0"),
        Case(label: "worker variable in env", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  env: {HYPERLOOM_CONFIG: x}"),
             line: 8, field: "trial.env.HYPERLOOM_CONFIG", fragment: "set by the worker"),
        Case(label: "unknown key in trial", yaml: changing("  command: [python3, t.py]", to: "  command: [python3, t.py]\n  max_retry: 2"),
             line: 8, field: "trial.max_retry", fragment: "(did you mean \"max_retries\"?)"),

        // Budget
        Case(label: "unknown key in budget", yaml: changing("  max_trials: 1", to: "  max_trial: 1"), line: 9, column: 3,
             field: "budget.max_trial", fragment: "unknown key \"max_trial\" in budget; expected one of max_trials, max_concurrent, max_wallclock, stop_at, fail_fast (did you mean \"max_trials\"?)"),
        Case(label: "missing max_trials for random", yaml: changing("  max_trials: 1", to: "  max_concurrent: 2"), line: 8,
             field: "budget.max_trials", fragment: "missing required key \"max_trials\" in budget"),
        Case(label: "missing budget for random", yaml: changing("budget:\n  max_trials: 1", to: ""), line: 1,
             field: "budget.max_trials", fragment: "only the grid searcher derives it"),
        Case(label: "max_concurrent 0", yaml: changing("  max_trials: 1", to: "  max_trials: 1\n  max_concurrent: 0"), line: 10,
             column: 19, field: "budget.max_concurrent", fragment: "expected a positive integer, found 0"),
        Case(label: "quoted max_trials", yaml: changing("  max_trials: 1", to: "  max_trials: \"40\""), line: 9,
             field: "budget.max_trials", fragment: "expected a positive integer, found string \"40\""),
        Case(label: "YAML 1.1 boolean", yaml: changing("  max_trials: 1", to: "  max_trials: 1\n  fail_fast: yes"), line: 10,
             field: "budget.fail_fast", fragment: "expected true or false, found string \"yes\""),
        Case(label: "stop_at not a number", yaml: changing("  max_trials: 1", to: "  max_trials: 1\n  stop_at: low"), line: 10,
             field: "budget.stop_at", fragment: "expected a finite number"),
        Case(label: "grid too large",
             yaml: space("  a: {grid_search: [\(Array(0..<100).map(String.init).joined(separator: ", "))]}\n  b: {grid_search: [\(Array(0..<100).map(String.init).joined(separator: ", "))]}\n  c: {grid_search: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}")
                 + "\nsearcher: grid",
             line: 4, field: "space", fragment: "would enumerate more than 100000 points"),

        // Points to evaluate
        Case(label: "point with an unknown parameter", yaml: minimalSpec + "\npoints_to_evaluate:\n  - {lr: 0.5}\n  - {lr: 0.5, momentum: 0.9}",
             line: 12, column: 15, field: "points_to_evaluate[1].momentum", fragment: "unknown parameter \"momentum\"; the space has lr"),
        Case(label: "point with an out-of-domain value", yaml: minimalSpec + "\npoints_to_evaluate:\n  - {lr: 2}",
             line: 11, column: 10, field: "points_to_evaluate[0].lr", fragment: "parameter \"lr\": 2 is outside its domain {uniform: [0, 1]}"),
        Case(label: "point with an inactive parameter",
             yaml: space("  opt: {choice: [sgd, adam]}\n  momentum: {uniform: [0, 1], when: {opt: sgd}}")
                 + "\npoints_to_evaluate:\n  - opt: adam\n    momentum: 0.9",
             line: 13, column: 5, field: "points_to_evaluate[0].momentum",
             fragment: "parameter \"momentum\" is given but inactive in this config (it is active only when opt is \"sgd\")"),
        Case(label: "point missing a parameter", yaml: space("  lr: {uniform: [0, 1]}\n  bs: {choice: [16, 32]}") + "\npoints_to_evaluate:\n  - {lr: 0.5}",
             line: 12, column: 5, field: "points_to_evaluate[0].bs", fragment: "parameter \"bs\" is missing"),
        Case(label: "more points than trials", yaml: minimalSpec + "\npoints_to_evaluate: [{lr: 0.1}, {lr: 0.2}]", line: 9,
             field: "budget.max_trials", fragment: "expected at least the 2 points_to_evaluate (they count as trials), found 1"),
        Case(label: "points not a list", yaml: minimalSpec + "\npoints_to_evaluate: {lr: 0.1}", line: 10,
             field: "points_to_evaluate", fragment: "expected a list of configs"),
    ]

    @Test(arguments: cases)
    func invalidSpecIsRejectedWithItsPosition(_ c: Case) throws {
        let error = try #require(parseError(c.yaml))
        #expect(error.file == "test.yaml")
        #expect(error.field == c.field, "\(error)")
        #expect(error.line == c.line, "\(error)")
        if let column = c.column { #expect(error.column == column, "\(error)") }
        #expect(error.message.contains(c.fragment), "\(error)")
        #expect(error.description == "test.yaml:\(error.line):\(error.column): \(error.field): \(error.message)")
    }

    @Test func everyCaseHasItsOwnLabel() {
        #expect(Set(Self.cases.map(\.label)).count == Self.cases.count)
    }
}
