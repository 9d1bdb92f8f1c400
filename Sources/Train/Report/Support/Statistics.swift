/// The median of `values` (the mean of the two middle ones for an even count; 0 when empty):
/// how the benchmark and the report summarise per-step times, which a few slow steps would
/// drag in a mean.
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
