import Foundation

/// Colours that stay apart for colour-blind readers and in print.
public enum Palette {
    /// Okabe & Ito's eight colours (black last), for series that are told apart by name.
    static let categorical = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

    /// The n-th categorical colour (wrapping around).
    public static func series(_ n: Int) -> String { categorical[n % categorical.count] }

    /// Anchors of matplotlib's viridis, dark purple (0) to yellow (1).
    static let viridis: [(Double, Double, Double)] = [
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37),
    ]

    /// The viridis colour at `t` in [0, 1] (clamped), as `#rrggbb`.
    public static func sequential(_ t: Double) -> String {
        let x = Swift.min(Swift.max(t.isFinite ? t : 0, 0), 1) * Double(viridis.count - 1)
        let i = Swift.min(Int(x), viridis.count - 2)
        let f = x - Double(i)
        let a = viridis[i], b = viridis[i + 1]
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// The opacity of one line among `count` drawn over each other: 0.85 up to 100 lines, then
    /// falling as 1/√count (0.19 for 2,000) so that density shows instead of a solid block.
    static func lineOpacity(count: Int) -> Double {
        count <= 100 ? 0.85 : Swift.max(0.08, 0.85 * (100 / Double(count)).squareRoot())
    }

    static let axis = "#444444"
    static let grid = "#e6e6e6"
    static let muted = "#9a9a9a"
    static let text = "#222222"
}
