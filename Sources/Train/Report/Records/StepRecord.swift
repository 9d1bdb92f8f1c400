/// One optimizer step as written to metrics.jsonl: enough to plot the run and to replay its
/// data order elsewhere (`rows` are 0-based train.csv rows of the global batch).
public struct StepRecord: Codable, Equatable {
    public var step: Int            // 1-based optimizer step
    public var epoch: Int           // 0-based
    public var loss: Double         // mean token cross-entropy over the global batch's label tokens
    public var gradNorm: Double     // pre-clip global L2 norm
    public var lr: Double
    public var tokens: Int          // tokens of the global batch
    public var labelTokens: Int
    public var packedRows: Int      // rows this rank computed after prefix sharing
    public var seconds: Double
    public var forwardSeconds: Double   // blocks, this rank
    public var headSeconds: Double      // tied head + cross-entropy, forward and backward
    public var backwardSeconds: Double  // blocks and embedding
    public var allReduceSeconds: Double // gradient reduction and, host-shared, the parameter slices copied back (includes waiting for slower ranks)
    public var optimizerSeconds: Double // gradient norm, clipping and AdamW
    public var rssBytes: Int            // this rank's resident memory after the step
    public var rows: [Int]
    public var gradNormSeconds: Double? = nil  // the gradient-norm part of optimizerSeconds (absent in older runs)
    public var waitSeconds: Double? = nil      // the part of allReduceSeconds spent waiting for the slowest rank (absent in older runs)
    public var adapterSeconds: Double? = nil   // the part of forward and backward in the adapters' own work (LoRA, QLoRA; absent otherwise)
    /// The exchange's time beyond this rank's compute and its wait: communication the backward
    /// did not hide.
    public var exposedExchangeSeconds: Double { max(0, allReduceSeconds - (waitSeconds ?? 0)) }

    public init(step: Int, epoch: Int, loss: Double, gradNorm: Double, lr: Double, tokens: Int, labelTokens: Int,
                packedRows: Int, seconds: Double, forwardSeconds: Double, headSeconds: Double, backwardSeconds: Double,
                allReduceSeconds: Double, optimizerSeconds: Double, rssBytes: Int, rows: [Int],
                gradNormSeconds: Double? = nil, waitSeconds: Double? = nil, adapterSeconds: Double? = nil) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.gradNorm = gradNorm
        self.lr = lr
        self.tokens = tokens
        self.labelTokens = labelTokens
        self.packedRows = packedRows
        self.seconds = seconds
        self.forwardSeconds = forwardSeconds
        self.headSeconds = headSeconds
        self.backwardSeconds = backwardSeconds
        self.allReduceSeconds = allReduceSeconds
        self.optimizerSeconds = optimizerSeconds
        self.rssBytes = rssBytes
        self.rows = rows
        self.gradNormSeconds = gradNormSeconds
        self.waitSeconds = waitSeconds
        self.adapterSeconds = adapterSeconds
    }

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, tokens, seconds, rows
        case gradNorm = "grad_norm", labelTokens = "label_tokens", packedRows = "packed_rows"
        case forwardSeconds = "forward_seconds", headSeconds = "head_seconds", backwardSeconds = "backward_seconds"
        case allReduceSeconds = "allreduce_seconds", optimizerSeconds = "optimizer_seconds", rssBytes = "rss_bytes"
        case gradNormSeconds = "grad_norm_seconds", waitSeconds = "wait_seconds", adapterSeconds = "adapter_seconds"
    }
}
