/// Why a study spec was rejected, located like a compiler diagnostic.
///
/// `description` reads `FILE:LINE:COL: FIELD: MESSAGE`, for example
///
///     logreg.yaml:14:3: budget.max_trial: unknown key "max_trial" in budget; expected one of
///     max_trials, max_concurrent, max_wallclock, stop_at, fail_fast (did you mean "max_trials"?)
///
/// **Position.** `line` and `column` count from 1 and point at the YAML node at fault: the key of
/// an unknown or misplaced entry, the value of a bad one, the list element of a bad bound, the
/// mapping that lacks a required key. They are 0 only when there is no text to point into (the
/// file could not be read); `description` then leaves them out.
/// **Field.** A dotted path of the YAML keys leading to the fault (`space.lr.loguniform`,
/// `trial.resources.cpu`), list positions in brackets (`points_to_evaluate[1].lr`,
/// `trial.command[0]`); `syntax` for YAML that does not parse, `file` for a file that cannot be read.
public struct SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The spec's file name as given to the parser (shown as is, like a compiler does).
    public var file: String
    public var line: Int
    public var column: Int
    public var field: String
    /// What was expected and what was found.
    public var message: String

    public init(file: String, line: Int, column: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public var description: String {
        let position = line > 0 ? "\(file):\(line):\(column)" : file
        return "\(position): \(field): \(message)"
    }
}

/// "Did you mean" suggestions for misspelt keys and names.
enum Spelling {
    /// The candidate closest to `word` by edit distance, when it is close enough to be a likely
    /// typo: at most 1 edit for words up to 4 characters, 2 up to 8, 3 beyond (case ignored).
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        let allowed = lowered.count <= 4 ? 1 : lowered.count <= 8 ? 2 : 3
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance <= allowed, distance < (best?.distance ?? .max) {
                best = (candidate, distance)
            }
        }
        return best?.candidate
    }

    /// `" (did you mean \"x\"?)"`, or an empty string when nothing is close.
    static func hint(for word: String, among candidates: [String]) -> String {
        suggestion(for: word, among: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and transpositions
    /// of adjacent characters each cost 1 (`max_trails` is one edit from `max_trials`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = Swift.min(current[j], previous2[j - 2] + 1)
                }
            }
            (previous2, previous, current) = (previous, current, previous2)
        }
        return previous[b.count]
    }
}
