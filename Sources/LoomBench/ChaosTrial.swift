import Foundation

/// The chaos bench's trial: a shell script that counts `steps` steps of `pause` seconds, writes a
/// checkpoint (its step counter and a fresh 256 KiB `model`, so every checkpoint is uploaded) and
/// reports after each, resumes from its checkpoint directory, and ends with `loss` = its argument.
///
/// It keeps its own journal, `<journal dir>/<trial>.log`, appended before each thing it tells the
/// fabric, so the checker has ground truth of what each attempt computed:
///
///     begin <attempt> <lease> <resumed at step> <unix time>
///     checkpoint <attempt> <lease> <step>
///     final <attempt> <lease> <value>
///     exit <attempt> <lease>
public enum ChaosTrial {
    /// Arguments: steps, pause (seconds), value, journal directory.
    public static let script = #"""
        steps=$1; pause=$2; value=$3
        trial=${HYPERLOOM_TRIAL_ID##*/}
        journal="$4/$trial.log"
        me="$HYPERLOOM_ATTEMPT $HYPERLOOM_LEASE"
        dir="$HYPERLOOM_CHECKPOINT_DIR"
        step=0
        if [ -f "$dir/step" ]; then step=$(cat "$dir/step"); fi
        resumed=$step
        echo "begin $me $resumed $(date +%s.%N)" >> "$journal"
        while [ "$step" -lt "$steps" ]; do
          sleep "$pause"
          step=$((step + 1))
          head -c 262144 /dev/urandom > "$dir/model.tmp" && mv "$dir/model.tmp" "$dir/model"
          echo $step > "$dir/step.tmp" && mv "$dir/step.tmp" "$dir/step"
          echo "checkpoint $me $step" >> "$journal"
          echo "@hyperloom {\"step\": $step, \"resumed_at\": $resumed, \"checkpoint\": true}"
        done
        echo "final $me $value" >> "$journal"
        echo "@hyperloom {\"loss\": $value, \"step\": $step, \"resumed_at\": $resumed}"
        echo "exit $me" >> "$journal"
        """#

    /// One line of a trial's journal.
    public enum Entry: Equatable, Sendable {
        case begin(attempt: Int, lease: UInt64, resumedAt: Int, time: Double)
        case checkpoint(attempt: Int, lease: UInt64, step: Int)
        case final(attempt: Int, lease: UInt64, value: Double)
        case exit(attempt: Int, lease: UInt64)

        public var attempt: Int {
            switch self {
            case .begin(let a, _, _, _), .checkpoint(let a, _, _), .final(let a, _, _), .exit(let a, _): a
            }
        }
    }

    /// Parses a journal; a torn or unknown line (an attempt killed mid-write) is skipped.
    public static func parse(_ text: String) -> [Entry] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ").map(String.init)
            guard words.count >= 3, let attempt = Int(words[1]), let lease = UInt64(words[2]) else { return nil }
            switch (words[0], words.count) {
            case ("begin", 5):
                guard let resumed = Int(words[3]), let time = Double(words[4]) else { return nil }
                return .begin(attempt: attempt, lease: lease, resumedAt: resumed, time: time)
            case ("checkpoint", 4): return Int(words[3]).map { .checkpoint(attempt: attempt, lease: lease, step: $0) }
            case ("final", 4): return Double(words[3]).map { .final(attempt: attempt, lease: lease, value: $0) }
            case ("exit", 3): return .exit(attempt: attempt, lease: lease)
            default: return nil
            }
        }
    }

    /// Every trial's journal in `directory`, by trial number.
    public static func journals(in directory: URL) -> [Int: [Entry]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var out: [Int: [Entry]] = [:]
        for name in names where name.hasSuffix(".log") {
            guard let number = Int(name.dropLast(4)),
                  let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else { continue }
            out[number] = parse(text)
        }
        return out
    }
}
