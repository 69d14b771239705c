/// The permutation that sorts non-negative doubles ascending, stably (equal keys keep their
/// index order), by an LSD radix sort on the IEEE bit patterns, whose order is the numeric order
/// for non-negative values. O(n) per pass, 6 passes of 11 bits, passes on a digit all keys share
/// skipped; the Parzen estimators sort thousands of coordinates per proposal, where the
/// comparison sort dominated the cost.
///
/// - Precondition: every key is ≥ 0 (or −0) and not NaN.
func radixArgsort(_ keys: [Double]) -> [Int] {
    let n = keys.count
    var order = Array(0..<n)
    guard n > 1 else { return order }
    var scratch = [Int](repeating: 0, count: n)
    var counts = [Int](repeating: 0, count: 2048)
    let bits = keys.map { $0 == 0 ? 0 : $0.bitPattern }
    bits.withUnsafeBufferPointer { bits in
        counts.withUnsafeMutableBufferPointer { counts in
            for shift in stride(from: UInt64(0), to: 64, by: 11) {
                for i in 0..<2048 { counts[i] = 0 }
                for i in 0..<n { counts[Int((bits[i] >> shift) & 2047)] += 1 }
                if counts[Int((bits[0] >> shift) & 2047)] == n { continue }
                var total = 0
                for i in 0..<2048 {
                    let c = counts[i]
                    counts[i] = total
                    total += c
                }
                order.withUnsafeBufferPointer { source in
                    scratch.withUnsafeMutableBufferPointer { target in
                        for index in source {
                            let digit = Int((bits[index] >> shift) & 2047)
                            target[counts[digit]] = index
                            counts[digit] += 1
                        }
                    }
                }
                swap(&order, &scratch)
            }
        }
    }
    return order
}
