import Foundation

/// CPU time and memory of a process, read from `/proc/PID/stat` and `/proc/PID/status` (Linux).
public struct ProcessSample: Sendable {
    /// User + system CPU seconds used so far.
    public let cpuSeconds: Double
    /// Resident set size and its peak, in bytes.
    public let residentBytes: Int
    public let peakResidentBytes: Int

    /// Reads the sample; nil when the process is gone or /proc is not there.
    public init?(pid: Int32) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let ticks = Self.cpuTicks(stat: stat) else { return nil }
        cpuSeconds = Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
        residentBytes = Self.kilobytes("VmRSS:", in: status) * 1024
        peakResidentBytes = Self.kilobytes("VmHWM:", in: status) * 1024
    }

    /// utime + stime (fields 14 and 15). The command name (field 2) may hold spaces and
    /// parentheses, so fields are counted after its closing parenthesis.
    static func cpuTicks(stat: String) -> Int? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ")": field 3 (state) is fields[0], so field n is fields[n - 3].
        guard fields.count > 12, let utime = Int(fields[11]), let stime = Int(fields[12]) else { return nil }
        return utime + stime
    }

    static func kilobytes(_ key: String, in status: String) -> Int {
        for line in status.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
        }
        return 0
    }
}
