/// How a rank's shard of a global batch is cut into forward/backward passes whose memory is
/// bounded. Activation memory grows with the packed rows of a pass (0.75 MB each for the
/// 270M model) and the head's logits with its label positions (1 MB each). Passes are capped
/// so that a rank's peak memory stays under 5 GB whatever the batch: a shard over the caps is
/// cut into consecutive parts. Exact: the gradients of the parts add up, each scaled by the
/// global label count. A typical shard of 16 (≈420 rows, ≈110 labels) is one pass. The label
/// cap is for a trained head's logits only: a frozen head (LoRA, QLoRA, passes without a
/// backward) holds a slice of them (FrozenTiedHead.swift) and passes `maxLabels: nil`.
///
/// The row count mirrors PackedLayout: each part shares the common token prefix of its
/// sequences (up to the first labelled position), so its rows are the prefix once plus every
/// sequence's remainder.
extension LabelMaskedBatch {
    public static let maxRowsPerPass = 512
    public static let maxLabelsPerPass = 128

    /// Consecutive parts of this batch, each within the caps (a single sequence over them
    /// still forms a part of its own); `maxLabels` nil: rows only.
    public func memoryBoundedPasses(maxLabels: Int? = maxLabelsPerPass) -> [LabelMaskedBatch] {
        let maxLabels = maxLabels ?? Int.max
        var parts: [LabelMaskedBatch] = []
        var current: [Int] = []  // indices of the sequences in the part being built
        var rows = 0, labels = 0, prefix = 0
        for s in tokens.indices {
            let ids = tokens[s], promptLength = firstLabelPosition(s)
            let l = ids.count - promptLength
            var p = prefix
            if let first = current.first {
                p = min(prefix, firstLabelPosition(first) - 1, promptLength - 1)
                var i = 0
                while i < p && tokens[first][i] == ids[i] { i += 1 }
                p = i
            }
            // rows after sharing the common prefix (an upper bound of PackedLayout's count)
            let partRows = rows + ids.count - current.count * p
            if !current.isEmpty && (partRows > Self.maxRowsPerPass || labels + l > maxLabels) {
                parts.append(subset(current))
                current = []
                rows = 0
                labels = 0
            }
            prefix = current.isEmpty ? ids.count : p
            current.append(s)
            rows += ids.count
            labels += l
        }
        if !current.isEmpty { parts.append(subset(current)) }
        return parts
    }

    /// Index of the first position of sequence s that carries a label (its prompt length);
    /// the sequence's length when none does.
    private func firstLabelPosition(_ s: Int) -> Int {
        labels[s].firstIndex { $0 != Self.ignoreIndex } ?? labels[s].count
    }

    private func subset(_ sequences: [Int]) -> LabelMaskedBatch {
        LabelMaskedBatch(tokens: sequences.map { tokens[$0] }, labels: sequences.map { labels[$0] })
    }
}
