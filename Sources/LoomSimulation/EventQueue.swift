/// Simulated time: nanoseconds since the start of the schedule.
public typealias SimTime = Int64

extension SimTime {
    static func of(_ d: Duration) -> SimTime {
        let (s, atto) = d.components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}

/// The simulation's one queue of future events, ordered by (time, insertion order): two events
/// at the same instant run in the order they were scheduled, so a schedule is a pure function of
/// its seed. A binary heap.
struct EventQueue<Event> {
    private struct Entry {
        var time: SimTime
        var order: UInt64
        var event: Event
        func precedes(_ other: Entry) -> Bool { (time, order) < (other.time, other.order) }
    }

    private var heap: [Entry] = []
    private var inserted: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func schedule(_ event: Event, at time: SimTime) {
        inserted += 1
        heap.append(Entry(time: time, order: inserted, event: event))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// The earliest event, removed.
    mutating func pop() -> (time: SimTime, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && heap[l].precedes(heap[m]) { m = l }
            if r < heap.count && heap[r].precedes(heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.event)
    }
}
