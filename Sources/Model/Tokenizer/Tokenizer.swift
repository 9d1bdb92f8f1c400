import Foundation

/// Gemma's SentencePiece BPE tokenizer, rebuilt from the GGUF metadata
/// (`tokenizer.ggml.tokens`, `tokenizer.ggml.scores`, `tokenizer.ggml.token_type`). docs/DESIGN.md, "Tokenizer":
/// - no normalization, no dummy prefix; every space becomes `▁` (U+2581) before BPE;
/// - user-defined pieces (type 4: runs of spaces/newlines/tabs, a few HTML tags) are matched
///   whole first, leftmost and longest first; the text between them goes through BPE;
/// - BPE starts from Unicode scalars (SentencePiece's UTF-8 characters) and repeatedly merges
///   the adjacent pair whose concatenation is a vocabulary piece with the highest score
///   (ties: leftmost); a final symbol with no piece falls back to `<0xXX>` byte tokens;
/// - `encode` adds no `<bos>`; control-token text (`<bos>`, `<start_of_turn>`) is only turned into
///   control ids with `parseSpecial: true`, so a customer message cannot inject them.
///
/// All lookups work on UTF-8 bytes (never on `String` equality, which would conflate canonically
/// equivalent pieces: the Gemma vocabulary holds hundreds of non-NFC pieces).
public final class Tokenizer: Sendable {
    /// SentencePiece piece types as stored in `tokenizer.ggml.token_type`.
    public enum PieceType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// The special ids every other part of ft-dist takes from here: `<bos>` starts a prompt,
    /// `<eos>` ends a target and stops generation, `<pad>` and `<unk>` go into config.json.
    public var bos: Int32 { special.bos }
    public var eos: Int32 { special.eos }
    public var pad: Int32 { special.pad }
    /// The id used when a byte has no `<0xXX>` token (`<unk>`).
    public var unk: Int32 { special.unk }
    public let special: SpecialTokens

    private let pieces: [String]
    private let scores: [Float]
    private let types: [PieceType]
    /// UTF-8 of every piece, concatenated; piece `i` is `pieceBytes[pieceStart[i]..<pieceStart[i+1]]`.
    /// User-defined pieces are stored here with spaces as `▁` (their SentencePiece form).
    private let pieceBytes: [UInt8]
    private let pieceStart: [Int32]
    /// Open-addressing hash table (power-of-two size) from piece bytes to id, holding the pieces
    /// BPE may produce: normal, user-defined and unused ones (SentencePiece's `pieces_`).
    /// An entry is (upper 32 hash bits) << 32 | (id + 1); 0 is an empty slot. The hash tag lets
    /// a probe skip other pieces without touching their bytes (most BPE lookups miss).
    private let table: [UInt64]
    private let tableMask: Int
    /// Byte value of each byte token, -1 for other pieces.
    private let byteValue: [Int16]
    /// Id of `<0xXX>` for each byte (or `unk`).
    private let byteToken: [Int32]
    /// Prefix tries for the whole-piece matching before BPE: user-defined pieces only, and
    /// user-defined plus control pieces (for `parseSpecial`).
    private let userTrie: PieceTrie
    private let specialTrie: PieceTrie

    public var vocabularySize: Int { pieces.count }

    /// Load the tokenizer of a GGUF file.
    public convenience init(gguf: GGUFFile) throws {
        let file = gguf.path
        if let model = gguf.metadata["tokenizer.ggml.model"] {
            guard model.string == "llama" else {
                throw ModelFileError(file: file, "tokenizer.ggml.model is \(model), expected \"llama\" (SentencePiece)")
            }
        }
        let tokens = try gguf.stringArray("tokenizer.ggml.tokens")
        let scores = try gguf.numberArray("tokenizer.ggml.scores")
        let rawTypes = try gguf.numberArray("tokenizer.ggml.token_type")
        var types: [Int32] = []
        types.reserveCapacity(rawTypes.count)
        for (i, t) in rawTypes.enumerated() {
            guard t == t.rounded(), t >= Double(Int32.min), t <= Double(Int32.max) else {
                throw ModelFileError(file: file, "tokenizer.ggml.token_type[\(i)] = \(t) is not an integer")
            }
            types.append(Int32(t))
        }
        func id(_ key: String) throws -> Int32? {
            guard let v = gguf.metadata[key] else { return nil }
            guard let i = v.int, i >= 0, i < tokens.count else {
                throw ModelFileError(file: file, "\(key) = \(v) is no token id of the \(tokens.count)-piece vocabulary")
            }
            return Int32(i)
        }
        let declared = (bos: try id("tokenizer.ggml.bos_token_id"), eos: try id("tokenizer.ggml.eos_token_id"),
                        pad: try id("tokenizer.ggml.padding_token_id"), unk: try id("tokenizer.ggml.unknown_token_id"))
        do {
            try self.init(tokens: tokens, scores: scores.map { Float($0) }, types: types,
                          bos: declared.bos, eos: declared.eos, pad: declared.pad, unk: declared.unk)
        } catch let error as ModelFileError {
            throw ModelFileError(file: file, error.message)
        }
    }

    /// Build from the three parallel arrays. Throws a `ModelFileError` (file `"tokenizer"`)
    /// when they are empty, differ in length, or hold an unknown piece type. The special ids
    /// are the GGUF's `tokenizer.ggml.*_token_id` when given, else the ids of the pieces
    /// `<bos>`, `<eos>` and `<pad>` (else `<unk>`'s); `<unk>` is the declared one, else the first
    /// piece of type unknown, else the piece `<unk>`.
    public init(tokens: [String], scores: [Float], types rawTypes: [Int32],
                bos: Int32? = nil, eos: Int32? = nil, pad: Int32? = nil, unk declaredUnk: Int32? = nil) throws {
        func fail(_ message: String) -> ModelFileError { ModelFileError(file: "tokenizer", message) }
        let n = tokens.count
        guard n > 0 else { throw fail("the vocabulary (tokenizer.ggml.tokens) is empty") }
        guard n < Int(Int32.max) else { throw fail("the vocabulary has \(n) pieces, too many") }
        guard scores.count == n else {
            throw fail("tokenizer.ggml.scores has \(scores.count) entries, tokenizer.ggml.tokens \(n)")
        }
        guard rawTypes.count == n else {
            throw fail("tokenizer.ggml.token_type has \(rawTypes.count) entries, tokenizer.ggml.tokens \(n)")
        }
        var types: [PieceType] = []
        types.reserveCapacity(n)
        for (i, t) in rawTypes.enumerated() {
            guard let type = PieceType(rawValue: t) else {
                throw fail("tokenizer.ggml.token_type[\(i)] = \(t) (piece \(tokens[i].debugDescription)) is not a piece type 1...6")
            }
            types.append(type)
        }
        for (i, s) in scores.enumerated() where !s.isFinite {
            throw fail("tokenizer.ggml.scores[\(i)] = \(s) is not finite")
        }

        // Piece bytes (user-defined spaces as ▁) and byte tokens.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n * 8)
        var starts: [Int32] = []
        starts.reserveCapacity(n + 1)
        var byteValue = [Int16](repeating: -1, count: n)
        var byteToken = [Int32](repeating: -1, count: 256)
        for i in 0..<n {
            starts.append(Int32(truncatingIfNeeded: bytes.count))
            if types[i] == .userDefined {
                for b in tokens[i].utf8 {
                    if b == 0x20 { bytes.append(contentsOf: [0xE2, 0x96, 0x81]) } else { bytes.append(b) }
                }
            } else {
                bytes.append(contentsOf: tokens[i].utf8)
            }
            if types[i] == .byte {
                guard let v = Tokenizer.parseByteToken(tokens[i]) else {
                    throw fail("byte token \(i) is \(tokens[i].debugDescription), expected <0xXX>")
                }
                byteValue[i] = Int16(v)
                if byteToken[Int(v)] < 0 { byteToken[Int(v)] = Int32(i) }
            }
        }
        guard bytes.count < Int(Int32.max) else { throw fail("the vocabulary is too large") }
        starts.append(Int32(bytes.count))

        var unk: Int32 = -1
        if let u = declaredUnk {
            unk = u
        } else if let u = types.firstIndex(of: .unknown) {
            unk = Int32(u)
        } else if let u = tokens.firstIndex(where: { $0.utf8.elementsEqual("<unk>".utf8) }) {
            unk = Int32(u)
        }
        if byteToken.contains(-1) {
            guard unk >= 0 else {
                throw fail("the vocabulary has neither all 256 byte tokens <0xXX> nor an <unk> piece")
            }
            for b in 0..<256 where byteToken[b] < 0 { byteToken[b] = unk }
        }
        if unk < 0 { unk = 0 }   // no <unk> anywhere: never emitted (every byte has a token), 0 names it
        // a vocabulary without the piece (no Gemma vocabulary) still tokenizes: <unk> stands in
        func named(_ piece: String, _ declared: Int32?) -> Int32 {
            declared ?? tokens.firstIndex { $0.utf8.elementsEqual(piece.utf8) }.map(Int32.init) ?? unk
        }
        special = SpecialTokens(bos: named("<bos>", bos), eos: named("<eos>", eos), pad: named("<pad>", pad), unk: unk)

        // Hash table of the mergeable pieces; the first id wins for duplicate pieces.
        var size = 16
        while size < 2 * n { size <<= 1 }
        var table = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        bytes.withUnsafeBufferPointer { b in
            table.withUnsafeMutableBufferPointer { t in
                for i in 0..<n {
                    switch types[i] {
                    case .normal, .userDefined, .unused: break
                    default: continue
                    }
                    let s = Int(starts[i]), e = Int(starts[i + 1])
                    if e == s { continue }   // an empty piece can never be produced
                    let h = Tokenizer.hash(b.baseAddress! + s, e - s)
                    let tag = h & 0xFFFF_FFFF_0000_0000
                    var slot = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let entry = t[slot]
                        if entry == 0 { t[slot] = tag | UInt64(i + 1); break }
                        if entry & 0xFFFF_FFFF_0000_0000 == tag {
                            let other = Int(entry & 0xFFFF_FFFF) - 1
                            let os = Int(starts[other]), oe = Int(starts[other + 1])
                            if oe - os == e - s && memcmp(b.baseAddress! + s, b.baseAddress! + os, e - s) == 0 { break }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }

        var user = PieceTrie()
        var special = PieceTrie()
        for i in 0..<n {
            let s = Int(starts[i]), e = Int(starts[i + 1])
            guard e > s else { continue }
            switch types[i] {
            case .userDefined:
                user.insert(bytes[s..<e], id: Int32(i))
                special.insert(bytes[s..<e], id: Int32(i))
            case .control, .unknown:
                special.insert(bytes[s..<e], id: Int32(i))
            default: break
            }
        }

        self.pieces = tokens
        self.scores = scores
        self.types = types
        self.pieceBytes = bytes
        self.pieceStart = starts
        self.table = table
        self.tableMask = mask
        self.byteValue = byteValue
        self.byteToken = byteToken
        self.userTrie = user
        self.specialTrie = special
    }

    /// The vocabulary as it was given: every piece, its score and its SentencePiece type.
    public var vocabulary: (pieces: [String], scores: [Float], types: [Int32]) { (pieces, scores, types.map(\.rawValue)) }

    /// The piece of an id as stored in the vocabulary ("" for an id out of range).
    public func piece(_ id: Int32) -> String {
        guard id >= 0, Int(id) < pieces.count else { return "" }
        return pieces[Int(id)]
    }

    /// The type of an id's piece (nil for an id out of range).
    public func pieceType(_ id: Int32) -> PieceType? {
        guard id >= 0, Int(id) < pieces.count else { return nil }
        return types[Int(id)]
    }

    /// The id of a piece given exactly as stored in the vocabulary (any type), if any.
    public func id(ofPiece piece: String) -> Int32? {
        var bytes = Array(piece.utf8)
        if let id = lookup(bytes), types[Int(id)] != .userDefined { return id }
        // user-defined pieces are stored with ▁ for spaces; try that form too
        bytes = Tokenizer.escapeSpaces(piece)
        if let id = lookup(bytes) { return id }
        for i in pieces.indices where pieces[i].utf8.elementsEqual(piece.utf8) { return Int32(i) }
        return nil
    }

    // MARK: Encoding

    /// Token ids of `text` (no `<bos>`). With `parseSpecial`, the text of control pieces
    /// (`<start_of_turn>`, `<bos>`, ...) becomes their ids; by default it is tokenized literally.
    public func encode(_ text: String, parseSpecial: Bool = false) -> [Int32] {
        let bytes = Tokenizer.escapeSpaces(text)
        var output: [Int32] = []
        output.reserveCapacity(bytes.count / 3 + 4)
        var work = BPEWork()
        let trie = parseSpecial ? specialTrie : userTrie
        bytes.withUnsafeBufferPointer { text in
            let n = text.count
            var segmentStart = 0
            var pos = 0
            while pos < n {
                if let (length, id) = trie.longestMatch(text, at: pos) {
                    if segmentStart < pos { bpe(text, segmentStart, pos, &work, &output) }
                    output.append(id)
                    pos += length
                    segmentStart = pos
                } else {
                    pos += 1
                }
            }
            if segmentStart < n { bpe(text, segmentStart, n, &work, &output) }
        }
        return output
    }

    /// Scratch buffers of one `encode` call, reused across its segments.
    private struct BPEWork {
        var start: [Int32] = []
        var length: [Int32] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var heap = MergeHeap()
        /// Resegmentation of merged unused pieces: (start << 32 | length) -> length of the left part.
        var unusedSplits: [Int: Int32] = [:]
    }

    /// SentencePiece BPE of `text[from..<to]` (a segment without user-defined pieces).
    private func bpe(_ text: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int,
                     _ work: inout BPEWork, _ output: inout [Int32]) {
        work.start.removeAll(keepingCapacity: true)
        work.length.removeAll(keepingCapacity: true)
        work.heap.removeAll()
        // Symbols: one per Unicode scalar.
        var p = from
        while p < to {
            let lead = text[p]
            var len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
            if lead >= 0x80 && lead < 0xC0 { len = 1 }     // (never for valid UTF-8)
            len = min(len, to - p)
            work.start.append(Int32(p))
            work.length.append(Int32(len))
            p += len
        }
        let count = work.start.count
        if count == 1 {
            emit(text, Int(work.start[0]), Int(work.length[0]), &work, &output)
            return
        }
        work.prev.removeAll(keepingCapacity: true)
        work.next.removeAll(keepingCapacity: true)
        for i in 0..<count {
            work.prev.append(Int32(i - 1))
            work.next.append(i + 1 < count ? Int32(i + 1) : -1)
        }
        for i in 0..<(count - 1) {
            let s = Int(work.start[i])
            let len = Int(work.length[i] + work.length[i + 1])
            if let id = lookup(text.baseAddress! + s, len) {
                work.heap.push(MergeCandidate(score: scores[Int(id)], left: Int32(i), right: Int32(i + 1), length: Int32(len)))
            }
        }
        while let top = work.heap.pop() {
            let l = Int(top.left), r = Int(top.right)
            // Stale candidates: a side was merged away or grew since this pair was queued.
            guard work.length[l] > 0, work.length[r] > 0, work.next[l] == top.right,
                  work.length[l] + work.length[r] == top.length else { continue }
            let merged = Int(top.length)
            if let id = lookup(text.baseAddress! + Int(work.start[l]), merged), types[Int(id)] == .unused {
                work.unusedSplits[Int(work.start[l]) << 32 | merged] = work.length[l]
            }
            work.length[l] = top.length
            work.length[r] = 0
            let after = work.next[r]
            work.next[l] = after
            if after >= 0 { work.prev[Int(after)] = top.left }
            // New candidates with the neighbours.
            let before = work.prev[l]
            if before >= 0 {
                let b = Int(before)
                let len = Int(work.length[b]) + merged
                if let id = lookup(text.baseAddress! + Int(work.start[b]), len) {
                    work.heap.push(MergeCandidate(score: scores[Int(id)], left: before, right: top.left, length: Int32(len)))
                }
            }
            if after >= 0 {
                let len = merged + Int(work.length[Int(after)])
                if let id = lookup(text.baseAddress! + Int(work.start[l]), len) {
                    work.heap.push(MergeCandidate(score: scores[Int(id)], left: top.left, right: after, length: Int32(len)))
                }
            }
        }
        var i: Int32 = 0
        while i >= 0 {
            emit(text, Int(work.start[Int(i)]), Int(work.length[Int(i)]), &work, &output)
            i = work.next[Int(i)]
        }
    }

    /// Output the id of one final symbol: its piece, the parts of a merged unused piece,
    /// or byte tokens when no piece matches.
    private func emit(_ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int,
                      _ work: inout BPEWork, _ output: inout [Int32]) {
        if let id = lookup(text.baseAddress! + start, length) {
            if types[Int(id)] == .unused, !work.unusedSplits.isEmpty,
               let left = work.unusedSplits[start << 32 | length] {
                emit(text, start, Int(left), &work, &output)
                emit(text, start + Int(left), length - Int(left), &work, &output)
            } else {
                output.append(id)
            }
        } else {
            for k in start..<(start + length) { output.append(byteToken[Int(text[k])]) }
        }
    }

    /// Id of the mergeable piece with these bytes.
    @inline(__always)
    private func lookup(_ key: UnsafePointer<UInt8>, _ length: Int) -> Int32? {
        table.withUnsafeBufferPointer { t in
            pieceBytes.withUnsafeBufferPointer { b in
                pieceStart.withUnsafeBufferPointer { starts in
                    let h = Tokenizer.hash(key, length)
                    let tag = h & 0xFFFF_FFFF_0000_0000
                    var slot = Int(truncatingIfNeeded: h) & tableMask
                    while true {
                        let entry = t[slot]
                        if entry == 0 { return nil }
                        if entry & 0xFFFF_FFFF_0000_0000 == tag {
                            let id = Int(entry & 0xFFFF_FFFF) - 1
                            let s = Int(starts[id])
                            if Int(starts[id + 1]) - s == length && memcmp(b.baseAddress! + s, key, length) == 0 {
                                return Int32(id)
                            }
                        }
                        slot = (slot + 1) & tableMask
                    }
                }
            }
        }
    }

    private func lookup(_ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { lookup($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }

    @inline(__always)
    private static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3 }
        h ^= h >> 32
        h = h &* 0xd6e8_feb8_6659_fd93
        return h ^ (h >> 32)
    }

    /// UTF-8 of `text` with every space (U+0020) replaced by `▁` (U+2581).
    private static func escapeSpaces(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        for b in text.utf8 {
            if b == 0x20 { out.append(0xE2); out.append(0x96); out.append(0x81) } else { out.append(b) }
        }
        return out
    }

    private static func parseByteToken(_ s: String) -> UInt8? {
        let u = Array(s.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    // MARK: Decoding

    /// Text of `ids`: `▁` becomes a space, byte tokens become raw bytes (the assembled bytes are
    /// decoded as UTF-8, invalid sequences replaced by U+FFFD), control tokens and ids out of
    /// range give nothing.
    public func decode(_ ids: [Int32]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 6)
        for id in ids {
            guard id >= 0, Int(id) < pieces.count else { continue }
            let i = Int(id)
            switch types[i] {
            case .control: continue
            case .byte:
                out.append(UInt8(truncatingIfNeeded: byteValue[i]))
            default:
                let s = Int(pieceStart[i]), e = Int(pieceStart[i + 1])
                var k = s
                while k < e {
                    if k + 2 < e, pieceBytes[k] == 0xE2, pieceBytes[k + 1] == 0x96, pieceBytes[k + 2] == 0x81 {
                        out.append(0x20)
                        k += 3
                    } else {
                        out.append(pieceBytes[k])
                        k += 1
                    }
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A merge candidate: the pair (left, right) whose concatenation (`length` bytes) is a piece.
private struct MergeCandidate {
    var score: Float
    var left: Int32
    var right: Int32
    var length: Int32

    /// Pops first: higher score, then leftmost.
    @inline(__always)
    func before(_ other: MergeCandidate) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }
}

/// Binary max-heap of merge candidates (lazy invalidation happens at pop time in the caller).
private struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ c: MergeCandidate) {
        items.append(c)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < n && items[l].before(items[best]) { best = l }
            if r < n && items[r].before(items[best]) { best = r }
            if best == i { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}

/// A byte trie of whole pieces (user-defined and, for `parseSpecial`, control pieces),
/// for leftmost-longest matching before BPE.
private struct PieceTrie: Sendable {
    /// (node << 8 | byte) -> child node.
    private var children: [Int: Int32] = [:]
    /// Piece id ending at each node, -1 if none. Node 0 is the root.
    private var terminal: [Int32] = [-1]
    /// Bytes that can start a piece.
    private var firstBytes = [Bool](repeating: false, count: 256)

    mutating func insert(_ bytes: ArraySlice<UInt8>, id: Int32) {
        guard let first = bytes.first else { return }
        firstBytes[Int(first)] = true
        var node = 0
        for b in bytes {
            let key = node << 8 | Int(b)
            if let child = children[key] {
                node = Int(child)
            } else {
                terminal.append(-1)
                let child = terminal.count - 1
                children[key] = Int32(child)
                node = child
            }
        }
        if terminal[node] < 0 { terminal[node] = id }   // the first id wins for duplicates
    }

    /// Length and id of the longest piece starting at `pos`, if any.
    @inline(__always)
    func longestMatch(_ text: UnsafeBufferPointer<UInt8>, at pos: Int) -> (Int, Int32)? {
        guard firstBytes[Int(text[pos])] else { return nil }
        var node = 0
        var best: (Int, Int32)? = nil
        var p = pos
        while p < text.count, let child = children[node << 8 | Int(text[p])] {
            node = Int(child)
            p += 1
            if terminal[node] >= 0 { best = (p - pos, terminal[node]) }
        }
        return best
    }
}
