import LoomModel
/// Durations as people write them: `250ms`, `1s`, `1.5s`, `2m`, `1h30m`, or a plain number of
/// seconds (`0.5`, `30`). Millisecond precision, like every timer of the fabric.
public enum DurationText {
    /// The duration `text` names; nil when it names none or a negative one. The grammar is the
    /// study spec's (`SpecParser.parseDuration`), rounded to milliseconds.
    public static func parse(_ text: String) -> Duration? {
        guard let seconds = SpecParser.parseDuration(text), seconds >= 0, seconds < 1e12 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The shortest of `500ms`, `5s`, `2m`, `1h` that is exact; `parse` reads it back.
    public static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        for (suffix, scale) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % scale == 0 {
            return "\(ms / scale)\(suffix)"
        }
        return ms == 0 ? "0s" : "\(ms)ms"
    }
}
