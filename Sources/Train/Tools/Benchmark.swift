import Distributed
import Foundation
import Model
import Report

/// `ft-dist bench`: K training steps on the recipe's first global batches, reported as medians
/// over steps 2…K (step 1 warms caches and allocations), beside the sgemm peak and a plain
/// MPI all-reduce of the whole gradient measured in the same run.
public enum Benchmark {
    public static func run(trainer: Trainer, steps: Int, comm: Communicator, blasThreads: Int,
                           log: (String) -> Void) throws -> BenchmarkReport? {
        let work = StepWork(config: trainer.config, method: trainer.options.method, trainedParameters: trainer.trainable.count)
        let peak = sgemmPeak(base: trainer.base)
        log(String(format: "sgemm peak on this rank: %.1f GFLOP/s with %d BLAS thread(s); resident memory before the first step %.2f GB",
                   peak, blasThreads, Double(ResourceUsage.currentRSSBytes()) / 1e9))

        var records: [StepRecord] = []
        var computedRows: [Double] = []
        var longestWaits: [Double] = []
        let sentBefore = NetworkCounters.bytesSent()
        for i in 0..<steps {
            let r = try trainer.step()
            // rows computed by all ranks (after prefix sharing) for the computed-work figure
            var rows = [Double(r.packedRows)]
            try comm.allReduceSum(&rows)
            // the fastest rank's wait is what the uneven shards cost this step (rank 0 may be
            // the slow one and wait for nobody)
            var wait = [r.waitSeconds ?? 0]
            try comm.allReduceMax(&wait)
            records.append(r)
            computedRows.append(rows[0])
            longestWaits.append(wait[0])
            let adapters = r.adapterSeconds.map { String(format: " (adapters %.3f of forward + backward)", $0) } ?? ""
            log(String(format: "bench step %d/%d: %.3f s (forward %.3f, head %.3f, backward %.3f", i + 1, steps, r.seconds,
                       r.forwardSeconds, r.headSeconds, r.backwardSeconds) + adapters
                + String(format: ", exchange %.3f of which exposed %.3f, optimizer %.3f; longest wait for the slowest rank %.3f); %d rows on this rank, %d label positions in the batch; RSS %.2f GB",
                         r.allReduceSeconds, r.exposedExchangeSeconds, r.optimizerSeconds, wait[0], r.packedRows, r.labelTokens,
                         Double(r.rssBytes) / 1e9))
        }
        var networkBytesPerStep: Double?
        if comm.size > 1, let before = sentBefore, let after = NetworkCounters.bytesSent() {
            networkBytesPerStep = Double(after - before) / Double(steps)
        }
        var plain: Double?, exchanged: Double?
        if comm.size > 1 {
            func timed(_ body: () throws -> Void) throws -> Double {
                var times: [Double] = []
                for _ in 0..<3 {
                    try comm.barrier()
                    let t = Date()
                    try body()
                    times.append(Date().timeIntervalSince(t))
                }
                return median(times)
            }
            exchanged = try timed { try trainer.exchange.allReduceWholeGradient() }
            plain = try timed { try comm.allReduceSum(trainer.gradients.buffer) }
        }
        // step 1 warms caches and allocations (kept when it is the only step)
        func afterWarmUp<T>(_ perStep: [T]) -> [T] { Array(perStep.dropFirst(min(1, perStep.count - 1))) }
        let measured = afterWarmUp(records)
        let rowsMeasured = afterWarmUp(computedRows)
        let stepSeconds = median(measured.map(\.seconds))
        let useful = measured.map { work.flops(blockRows: Double($0.tokens), labels: Double($0.labelTokens)) }
        let computed = zip(measured, rowsMeasured).map { work.flops(blockRows: $1, labels: Double($0.labelTokens)) }
        var split = BenchmarkReport.Split()
        split.forward = median(measured.map(\.forwardSeconds))
        split.head = median(measured.map(\.headSeconds))
        split.backward = median(measured.map(\.backwardSeconds))
        let adapterTimes = measured.compactMap(\.adapterSeconds)
        if !adapterTimes.isEmpty { split.adapters = median(adapterTimes) }
        split.allReduce = median(measured.map(\.allReduceSeconds))
        split.optimizer = median(measured.map(\.optimizerSeconds))
        split.wait = median(afterWarmUp(longestWaits))
        if comm.size > 1 { split.exposedExchange = median(measured.map(\.exposedExchangeSeconds)) }
        split.gradNorm = median(measured.map { $0.gradNormSeconds ?? 0 })
        split.adamW = median(measured.map { $0.optimizerSeconds - ($0.gradNormSeconds ?? 0) })
        // per step, then the median (medians of the parts do not add up to the median step)
        split.other = median(measured.map {
            max(0, $0.seconds - $0.forwardSeconds - $0.headSeconds - $0.backwardSeconds - $0.allReduceSeconds - $0.optimizerSeconds)
        })
        // every rank's figure, on rank 0 (nil elsewhere)
        func gathered(_ value: Int) throws -> [Int]? {
            try comm.gather(Array(String(value).utf8), root: 0)?.map { Int(String(decoding: $0, as: UTF8.self)) ?? 0 }
        }
        // both gathers on every rank (collectives), before the guard that only rank 0 passes
        let peaks = try gathered(ResourceUsage.peakRSSBytes()), files = try gathered(ResourceUsage.residentFileBytes())
        guard let peaks, let files else { return nil }
        let usefulGF = median(useful) / 1e9, computedGF = median(computed) / 1e9
        return BenchmarkReport(
            ranks: comm.size, transport: comm.transport, blasThreadsPerRank: blasThreads, steps: steps,
            medianStepSeconds: stepSeconds,
            examplesPerSecond: median(measured.map { Double($0.rows.count) / $0.seconds }),
            tokensPerSecond: median(measured.map { Double($0.tokens) / $0.seconds }),
            usefulGFLOPPerStep: usefulGF, computedGFLOPPerStep: computedGF,
            usefulGFLOPPerSecond: usefulGF / stepSeconds, computedGFLOPPerSecond: computedGF / stepSeconds,
            sgemmPeakGFLOPPerSecond: peak, fractionOfPeak: computedGF / stepSeconds / (peak * Double(comm.size)),
            medianSplit: split, gradientExchange: trainer.exchange.description,
            exchangeAllReduceSeconds: exchanged, plainMPIAllReduceSeconds: plain,
            peakRSSBytesPerRank: peaks, residentFileBytesPerRank: files,
            method: trainer.options.method.rawValue, trainableParameters: trainer.trainable.count,
            stepSeconds: records.map(\.seconds),
            networkBytesPerStep: networkBytesPerStep)
    }

    /// Best of a few sgemm calls at the shapes the passes use: the gate projection (128 rows ×
    /// 2048 × 640) and the tied head (80 rows × vocab × 640), on the model's own weights. A
    /// quantized base has no fp32 weights to multiply: then the head's shape is taken over
    /// 32,768 rows of a stand-in matrix (the same throughput, an eighth of the memory).
    static func sgemmPeak(base: GemmaBase) -> Double {
        let c = base.config
        let model = base as? GemmaModel
        var best = 0.0
        for (rows, outputs, offset, reps) in [(128, c.intermediate, model?.layout.layers[0].gate, 30),
                                              (80, model == nil ? min(c.vocabSize, 32768) : c.vocabSize, model?.layout.embedding, 3)] {
            var standIn: FloatBuffer?
            if offset == nil {
                let w = FloatBuffer(count: outputs * c.hidden, zeroed: false)
                for i in 0..<w.count { w[i] = Float(i % 13) * 0.001 }
                standIn = w
            }
            let weight = offset.map { UnsafePointer(model!.pointer($0)) } ?? UnsafePointer(standIn!.pointer)
            let projection = DenseProjection(weight: weight, inputs: c.hidden, outputs: outputs)
            let x = FloatBuffer(count: rows * c.hidden), out = FloatBuffer(count: rows * outputs, zeroed: false)
            for i in 0..<x.count { x[i] = Float(i % 7) * 0.01 }
            projection.forward(out.pointer, x.pointer, rows: rows)
            for _ in 0..<reps {
                let t = Date()
                projection.forward(out.pointer, x.pointer, rows: rows)
                best = max(best, 2 * Double(rows * outputs * c.hidden) / Date().timeIntervalSince(t) / 1e9)
            }
            withExtendedLifetime(standIn) {}
        }
        return best
    }
}
