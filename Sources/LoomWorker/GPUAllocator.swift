import LoomWire

/// Places the GPU shares of a worker's attempts on its devices. Pure: the runner allocates when
/// an attempt starts and releases when its process has exited.
///
/// **Capacity.** Each device holds `capacity` thousandths, the unit the broker counts in
/// (`gpu_milli`); a share is rounded to thousandths as the broker rounds it.
///
/// **Placement.** A share of 1 or more takes `ceil(share)` devices that are entirely free, the
/// first ones in device order (1.5 takes two whole devices: a trial given part of a second device
/// could not tell which part). A share below 1 goes on one device, best fit: the device with the
/// least free thousandths that still holds it (ties: the first in order), so two 0.5 trials share
/// one GPU and whole devices stay free for whole-device trials.
///
/// **Fragmentation.** The broker counts a worker's GPUs in aggregate (`gpus × 1000` thousandths,
/// Docs/protocol.md), not per device, so it can assign a share that fits the total but no single
/// device: 0.6 when two devices have 0.4 free each, or 1 when two devices each still hold one 0.5
/// trial. `allocate` then returns nil and the runner fails the attempt at once, naming what is
/// free (`placementFailure(share:)`). A worker whose jobs all ask for the same whole number of
/// devices, or all for the same 1/k of a device, never sees it; mixed shares can, and so can a
/// share above 1 that is not whole (1.5 takes two devices while the broker counts 1.5).
///
/// **Invariants.** `free[i]` is `capacity` minus the thousandths held on `devices[i]`, within
/// `0...capacity`. A lease holds at most one allocation.
public struct GPUAllocator: Equatable, Sendable {
    /// Thousandths of one device.
    public static let capacity = 1000
    /// Appended to every placement failure: why it can happen and how to avoid it.
    static let fragmentationHint =
        "the broker counts a worker's GPUs in aggregate, so partly used devices can leave a share without a place; "
        + "whole-device or equal 1/k shares avoid this"

    /// The device ids, in the order allocations prefer them.
    public let devices: [String]
    /// Free thousandths of each device, in the order of `devices`.
    public private(set) var free: [Int]
    private var holdings: [UInt64: Holding] = [:]

    /// What one lease holds: the same thousandths on each of its devices (`capacity` on each for
    /// a whole-device share, the share itself on one device for a fraction).
    struct Holding: Equatable, Sendable {
        var indexes: [Int]
        var thousandths: Int
    }

    /// An allocator with every device entirely free.
    public init(devices: [String]) {
        self.devices = devices
        free = Array(repeating: Self.capacity, count: devices.count)
    }

    /// Leases that hold devices now.
    public var leases: [UInt64] { holdings.keys.sorted() }

    /// The devices `lease` holds, or nil when it holds none.
    public func devices(heldBy lease: UInt64) -> [String]? {
        holdings[lease].map { $0.indexes.map { devices[$0] } }
    }

    /// Places `share` (in devices: 0.5, 1, 2) for `lease` and returns the device ids, in device
    /// order; nil when the share cannot be placed now (see `placementFailure(share:)`) or is not
    /// a positive number. A lease that already holds devices gets them again, unchanged.
    public mutating func allocate(lease: UInt64, share: Double) -> [String]? {
        if let held = devices(heldBy: lease) { return held }
        guard let thousandths = Self.thousandths(share, devices: devices.count) else { return nil }
        let indexes: [Int]
        let each: Int
        if thousandths >= Self.capacity {
            let whole = (thousandths + Self.capacity - 1) / Self.capacity
            let entirelyFree = free.indices.filter { free[$0] == Self.capacity }
            guard entirelyFree.count >= whole else { return nil }
            indexes = Array(entirelyFree.prefix(whole))
            each = Self.capacity
        } else {
            let fitting = free.indices.filter { free[$0] >= thousandths }
            // `min` keeps the first of equal elements: ties go to the first device in order.
            guard let best = fitting.min(by: { free[$0] < free[$1] }) else { return nil }
            indexes = [best]
            each = thousandths
        }
        for index in indexes { free[index] -= each }
        holdings[lease] = Holding(indexes: indexes, thousandths: each)
        return indexes.map { devices[$0] }
    }

    /// Returns what `lease` holds; a lease that holds nothing is ignored.
    public mutating func release(lease: UInt64) {
        guard let holding = holdings.removeValue(forKey: lease) else { return }
        for index in holding.indexes { free[index] += holding.thousandths }
    }

    /// Why `allocate` cannot place `share` now, as one sentence for the attempt's FAILED payload:
    /// `cannot place gpu 0.6: free per device 0.4, 0.4 (devices 0, 1); the broker counts …`.
    public func placementFailure(share: Double) -> String {
        let asked = JSONValue.number(share).argument
        guard share.isFinite, share > 0 else { return "invalid gpu share \(asked): expected a positive number of devices" }
        if devices.isEmpty {
            return "this worker offers no GPU, but the job asks for gpu \(asked) (the broker should not have assigned it here)"
        }
        guard let thousandths = Self.thousandths(share, devices: devices.count) else {
            return "cannot place gpu \(asked): this worker has \(devices.count) GPU\(devices.count == 1 ? "" : "s")"
        }
        let freeText = free.map { JSONValue.number(Double($0) / Double(Self.capacity)).argument }.joined(separator: ", ")
        let whole = (thousandths + Self.capacity - 1) / Self.capacity
        let need = thousandths >= Self.capacity ? " it needs \(whole) entirely free device\(whole == 1 ? "" : "s");" : ""
        return "cannot place gpu \(asked):\(need) free per device \(freeText) (devices \(devices.joined(separator: ", "))); "
            + Self.fragmentationHint
    }

    /// The share in thousandths, as the broker rounds it (at least 1 for any positive share); nil
    /// when it is not a positive number or more than `devices` whole devices.
    static func thousandths(_ share: Double, devices: Int) -> Int? {
        // The bound first, so the conversion below cannot overflow.
        guard share.isFinite, share > 0, share <= Double(devices) + 1 else { return nil }
        let thousandths = max(1, Int((share * Double(capacity)).rounded()))
        return thousandths <= devices * capacity ? thousandths : nil
    }
}
