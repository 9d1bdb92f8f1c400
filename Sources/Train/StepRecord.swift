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
    public var forwardBackwardSeconds: Double
    public var allReduceSeconds: Double
    public var optimizerSeconds: Double
    public var rows: [Int]

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, tokens, seconds, rows
        case gradNorm = "grad_norm", labelTokens = "label_tokens", packedRows = "packed_rows"
        case forwardBackwardSeconds = "forward_backward_seconds", allReduceSeconds = "allreduce_seconds"
        case optimizerSeconds = "optimizer_seconds"
    }
}
