import Foundation

/// The benchmark as a short table for a terminal and the README.
public enum BenchmarkTable {
    public static func render(_ r: BenchmarkReport) -> String {
        let s = r.medianSplit
        var out = String(format: "ft-dist bench: %d rank(s) × %d BLAS thread(s), %d steps (medians of steps 2–%d)\n",
                         r.ranks, r.blasThreadsPerRank, r.steps, r.steps)
        if let method = r.method, let n = r.trainableParameters { out += "  method \(method), \(n) trained parameters\n" }
        out += String(format: "  seconds per global batch of 16  %.3f\n", r.medianStepSeconds)
        out += String(format: "  examples/s                      %.2f\n", r.examplesPerSecond)
        out += String(format: "  tokens/s                        %.0f\n", r.tokensPerSecond)
        out += String(format: "  useful GFLOP per step           %.0f (%.1f GFLOP/s)\n", r.usefulGFLOPPerStep, r.usefulGFLOPPerSecond)
        out += String(format: "  computed GFLOP per step         %.0f (%.1f GFLOP/s, %.0f%% of %d × %.1f sgemm peak)\n",
                      r.computedGFLOPPerStep, r.computedGFLOPPerSecond, 100 * r.fractionOfPeak, r.ranks, r.sgemmPeakGFLOPPerSecond)
        out += String(format: "  split: forward %.3f, head %.3f, backward %.3f, gradient exchange %.3f, norm %.3f + AdamW %.3f, other %.3f s\n",
                      s.forward, s.head, s.backward, s.allReduce, s.gradNorm, s.adamW, s.other)
        if let adapters = s.adapters {
            out += String(format: "  of forward + backward, the adapters' own work (dropout, rank-r products): %.3f s\n", adapters)
        }
        if r.ranks > 1 {
            out += String(format: "  longest wait of a rank for the slowest one: %.3f s per step (shards differ in tokens)\n", s.wait)
            if let exposed = s.exposedExchange {
                out += String(format: "  exposed communication (exchange beyond compute and wait, rank 0): %.3f s per step, %.0f%% of the step\n",
                              exposed, 100 * exposed / r.medianStepSeconds)
            }
            if let bytes = r.networkBytesPerStep {
                out += String(format: "  sent on rank 0's network interfaces: %.3f GB per step\n", bytes / 1e9)
            }
        }
        out += "  gradients: " + r.gradientExchange + "\n"
        if let e = r.exchangeAllReduceSeconds, let p = r.plainMPIAllReduceSeconds {
            out += String(format: "  all-reduce of the whole gradient: %.3f s through %@, %.3f s plain MPI_Allreduce (same run)\n",
                          e, r.gradientExchange, p)
        }
        out += "  peak RSS per rank: " + r.peakRSSBytesPerRank.map { String(format: "%.2f GB", Double($0) / 1e9) }.joined(separator: ", ")
        if let files = r.residentFileBytesPerRank {
            out += " (file-backed at the end: " + files.map { String(format: "%.2f GB", Double($0) / 1e9) }.joined(separator: ", ") + ")"
        }
        return out
    }
}
