/// A group of query rows attending to key rows: keys are the shared prefix rows
/// [0, prefixRows) followed by the segment's own rows.
struct AttentionSegment {
    var rows: Range<Int>
    var prefixRows: Int
    var keyCount: Int { prefixRows + rows.count }
}

/// The packed activation layout of a batch: no padding; the longest common token prefix of
/// all sequences is computed once (rows [0, P)) and every sequence's own rows follow.
/// Exact: within a step the weights are fixed, and the prefix rows see only prefix keys.
struct PackedLayout {
    var tokens: [Int32] = []      // [rows]
    var positions: [Int32] = []   // position of each row within its sequence
    var segments: [AttentionSegment] = []
    var headRows: [Int] = []      // rows whose next-token logits carry a loss
    var targets: [Int32] = []     // target id for each head row
    /// Per row, a hash of its sequence's tokens up to and including the row: equal exactly for
    /// rows that compute the same thing (what prefix sharing merges), whatever the packing.
    var rowKeys: [UInt64] = []
    var prefixRows = 0
    var rows: Int { tokens.count }

    init(batch: LabelMaskedBatch, sharePrefix: Bool) {
        let seqs = batch.tokens
        var p = 0
        if sharePrefix && seqs.count > 1 {
            var limit = seqs.map(\.count).min()! - 1
            // a prefix row may not carry a loss: stop before the first labelled position's row
            for l in batch.labels {
                if let first = l.indices.dropFirst().first(where: { l[$0] != LabelMaskedBatch.ignoreIndex }) {
                    limit = min(limit, first - 1)
                }
            }
            p = commonPrefixLength(seqs, limit: limit)
        }
        prefixRows = p
        if p > 0 {
            tokens.append(contentsOf: seqs[0][0..<p])
            positions.append(contentsOf: (0..<p).map(Int32.init))
            segments.append(AttentionSegment(rows: 0..<p, prefixRows: 0))
            rowKeys.append(contentsOf: Self.prefixKeys(seqs[0]).prefix(p))
        }
        for (s, l) in zip(seqs, batch.labels) {
            let start = tokens.count
            tokens.append(contentsOf: s[p...])
            positions.append(contentsOf: (p..<s.count).map(Int32.init))
            rowKeys.append(contentsOf: Self.prefixKeys(s).dropFirst(p))
            if s.count > p { segments.append(AttentionSegment(rows: start..<tokens.count, prefixRows: p)) }
            for t in 1..<max(s.count, 1) where l[t] != LabelMaskedBatch.ignoreIndex {
                headRows.append(start + (t - 1 - p))
                targets.append(l[t])
            }
        }
    }

    /// keys[t] = hash of tokens[0...t].
    static func prefixKeys(_ tokens: [Int32]) -> [UInt64] {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        return tokens.map { t in
            h = CounterRandom.mix(h ^ UInt64(UInt32(bitPattern: t)))
            return h
        }
    }
}

/// The number of leading tokens all `sequences` share, at most `limit` (0 for a negative
/// limit or no sequences): the prefix a packed pass, evaluation's prompts or a batch's
/// work estimate computes once.
public func commonPrefixLength(_ sequences: [[Int32]], limit: Int) -> Int {
    guard let first = sequences.first else { return 0 }
    var n = max(limit, 0)
    for s in sequences.dropFirst() {
        var i = 0
        while i < n && s[i] == first[i] { i += 1 }
        n = i
    }
    return n
}
