import Foundation

/// What `ft-dist bench` measured (printed by BenchmarkTable, written with --json).
public struct BenchmarkReport: Codable {
    public struct Split: Codable {
        public var forward = 0.0, head = 0.0, backward = 0.0, allReduce = 0.0, optimizer = 0.0, other = 0.0
        /// The two parts of `optimizer`: the clipping norm and the AdamW update.
        public var gradNorm = 0.0, adamW = 0.0
        /// The longest any rank waited for the slowest one before the exchange (the cost of
        /// unequal shards; the other figures are rank 0's, which may be the slow rank).
        public var wait = 0.0
        /// Rank 0's exchange time beyond its own compute and its wait for the slowest rank:
        /// the communication the backward pass did not hide (`allReduce` − its own wait).
        public var exposedExchange: Double? = nil
        /// The part of forward and backward spent in the adapters' own work (dropout and the
        /// rank-r products; LoRA and QLoRA only).
        public var adapters: Double? = nil
    }
    public var ranks: Int
    public var transport: String
    public var blasThreadsPerRank: Int
    public var steps: Int
    public var medianStepSeconds: Double
    public var examplesPerSecond: Double
    public var tokensPerSecond: Double
    /// Matmul work of a step (StepWork; docs/DESIGN.md, "Speed"): every token through the blocks
    /// (6 × block weights; a frozen base 4 × base + 6 × adapters), every label position through
    /// the tied head (6 × embedding; 4 × when frozen).
    public var usefulGFLOPPerStep: Double
    /// The same, counting the rows actually computed after prompt-prefix sharing.
    public var computedGFLOPPerStep: Double
    public var usefulGFLOPPerSecond: Double
    public var computedGFLOPPerSecond: Double
    /// Best sgemm rate of this rank's BLAS on the model's shapes, measured just before.
    public var sgemmPeakGFLOPPerSecond: Double
    /// computed GFLOP/s over the whole job ÷ (ranks × per-rank sgemm peak).
    public var fractionOfPeak: Double
    public var medianSplit: Split
    /// How gradients were combined ("MPI_Allreduce", the host-shared reduction, or one rank).
    public var gradientExchange: String
    /// Whole-gradient all-reduce through `gradientExchange` and through plain `MPI_Allreduce`,
    /// each the median of 3, timed after the steps (under mpirun only).
    public var exchangeAllReduceSeconds: Double?
    public var plainMPIAllReduceSeconds: Double?
    public var peakRSSBytesPerRank: [Int]
    /// The file-backed part of each rank's resident memory at the end (a quantized base).
    public var residentFileBytesPerRank: [Int]?
    /// full, lora or qlora, and how many parameters were trained.
    public var method: String?
    public var trainableParameters: Int?
    public var stepSeconds: [Double]
    /// Bytes rank 0's host (or network namespace) sent over its network interfaces per step
    /// (NetworkCounters: the traffic between hosts; about zero on one host).
    public var networkBytesPerStep: Double? = nil
}

