import Foundation

/// A SentencePiece vocabulary as ft-dist's Tokenizer and GGUF's `tokenizer.ggml.*` keys hold
/// it: every piece with its score and type (SentencePiece's numbering: 1 normal, 2 unknown,
/// 3 control, 4 user-defined, 5 unused, 6 byte), the special ids, and whether `<bos>`/`<eos>`
/// are added. Read from a GGUF, or from an HF model directory the way llama.cpp's
/// convert_hf_to_gguf.py reads it (so both give the GGUF the converter would write):
/// - `tokenizer.model` (SentencePiece's ModelProto): pieces, scores, types — a user-defined
///   piece counts as normal unless the files below name it; then `added_tokens.json` (user
///   defined) and `tokenizer_config.json`'s `added_tokens_decoder` (special, or looking
///   special: control; else user-defined with ▁ as spaces), each scored −1000;
/// - else `tokenizer.json` (a tokenizers BPE model): the vocabulary and added tokens; as a BPE
///   file stores merges, not scores, a piece's score is minus the rank of the first merge that
///   makes it (pieces no merge makes rank after all merges), which orders SentencePiece's
///   merges as the file orders them.
/// Special ids come from `config.json` (`bos_token_id`, …), else `tokenizer_config.json`.
public struct TokenizerVocabulary {
    public var tokens: [String]
    public var scores: [Float]
    public var types: [Int32]
    public var special: SpecialTokens
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSEP: Bool?

    /// The `tokenizer.*` keys as llama.cpp's converter writes them for a SentencePiece model.
    public var ggufMetadata: [(String, GGUFValue)] {
        var m: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
            ("tokenizer.ggml.scores", .array(scores.map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(types.map { .int32($0) })),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(special.bos))),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(special.eos))),
            ("tokenizer.ggml.unknown_token_id", .uint32(UInt32(special.unk))),
            ("tokenizer.ggml.padding_token_id", .uint32(UInt32(special.pad))),
        ]
        if let addBOS { m.append(("tokenizer.ggml.add_bos_token", .bool(addBOS))) }
        if let addSEP { m.append(("tokenizer.ggml.add_sep_token", .bool(addSEP))) }
        if let addEOS { m.append(("tokenizer.ggml.add_eos_token", .bool(addEOS))) }
        m.append(("tokenizer.ggml.add_space_prefix", .bool(false)))
        return m
    }

    public func tokenizer() throws -> Tokenizer {
        try Tokenizer(tokens: tokens, scores: scores, types: types, bos: special.bos, eos: special.eos, pad: special.pad, unk: special.unk)
    }

    public init(gguf: GGUFFile) throws { self.init(tokenizer: try Tokenizer(gguf: gguf), of: gguf) }

    /// The vocabulary `tokenizer` was built from out of `gguf` (its arrays, already validated,
    /// are not read from the file again), with the GGUF's add_bos/add_eos/add_sep flags.
    public init(tokenizer: Tokenizer, of gguf: GGUFFile) {
        (tokens, scores, types) = tokenizer.vocabulary
        special = tokenizer.special
        func flag(_ kind: String) -> Bool? {
            if case .bool(let b)? = gguf.metadata["tokenizer.ggml.add_\(kind)_token"] { return b }
            return nil
        }
        addBOS = flag("bos")
        addEOS = flag("eos")
        addSEP = flag("sep")
    }

    /// Whether an HF directory holds a tokenizer ft-dist reads.
    public static func isPresent(inHFDirectory dir: String) -> Bool {
        ["tokenizer.model", "tokenizer.json"].contains { FileManager.default.fileExists(atPath: dir + "/" + $0) }
    }

    /// The vocabulary of an HF model directory; `vocabularySize` is config.json's vocab_size.
    public init(hfDirectory dir: String, vocabularySize: Int) throws {
        let fm = FileManager.default
        let configJSON = Self.json(dir + "/tokenizer_config.json")
        // tokenizer.json (33 MB for Gemma) is parsed at most once, when it is needed
        let tokenizersPath = dir + "/tokenizer.json"
        var tokenizersRoot: OrderedJSON?
        func tokenizersJSON() throws -> OrderedJSON {
            if let tokenizersRoot { return tokenizersRoot }
            guard let data = fm.contents(atPath: tokenizersPath) else { throw ModelFileError(file: tokenizersPath, "cannot read") }
            let root = try OrderedJSON.parse([UInt8](data), file: tokenizersPath)
            tokenizersRoot = root
            return root
        }
        if fm.fileExists(atPath: dir + "/tokenizer.model") {
            (tokens, scores, types) = try Self.readSentencePiece(dir + "/tokenizer.model", vocabularySize: vocabularySize)
            if let added = Self.json(dir + "/added_tokens.json") {
                for (content, value) in added {
                    guard let id = value as? Int, id >= 0, id < tokens.count else { continue }
                    (tokens[id], scores[id], types[id]) = (content, -1000, 4)
                }
            }
            if let decoder = configJSON?["added_tokens_decoder"] as? [String: [String: Any]] {
                for (key, entry) in decoder {
                    guard let id = Int(key), id >= 0, id < tokens.count, let content = entry["content"] as? String else { continue }
                    let special = (entry["special"] as? Bool) ?? false
                    if special || Self.looksSpecial(content) {
                        (tokens[id], types[id]) = (content, 3)
                    } else {
                        (tokens[id], types[id]) = (content.replacingOccurrences(of: "\u{2581}", with: " "), 4)
                    }
                    scores[id] = -1000
                }
            }
        } else if fm.fileExists(atPath: tokenizersPath) {
            (tokens, scores, types) = try Self.readTokenizersJSON(try tokenizersJSON(), path: tokenizersPath, vocabularySize: vocabularySize)
        } else {
            throw ModelFileError(file: dir, "no tokenizer: an HF model directory needs tokenizer.model or tokenizer.json")
        }
        // special ids: config.json first (as the converter), then tokenizer_config.json's token names
        special = try Self.specialTokens(tokens: tokens, config: Self.json(dir + "/config.json") ?? [:], tokenizerConfig: configJSON ?? [:],
                                         directory: dir)
        addBOS = configJSON?["add_bos_token"] as? Bool
        addEOS = configJSON?["add_eos_token"] as? Bool
        addSEP = configJSON?["add_sep_token"] as? Bool
        if addBOS == nil, fm.fileExists(atPath: tokenizersPath), let single = try tokenizersJSON()["post_processor"]?["single"]?.array {
            // tokenizers' TemplateProcessing: a leading special token is the added <bos>
            addBOS = single.first?["SpecialToken"]?["id"]?.string == tokens[Int(special.bos)]
            addEOS = single.last?["SpecialToken"]?["id"]?.string == tokens[Int(special.eos)]
        }
    }

    /// The special ids: config.json's `*_token_id` (as the converter reads them), else the
    /// token tokenizer_config.json names, else Gemma's `<bos>`, `<eos>`, `<pad>`, `<unk>`.
    static func specialTokens(tokens: [String], config: [String: Any], tokenizerConfig: [String: Any], directory: String) throws -> SpecialTokens {
        let index = Dictionary(tokens.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        func id(_ kind: String, _ fallback: String) throws -> Int32 {
            if let v = config["\(kind)_token_id"] as? Int, v >= 0, v < tokens.count { return Int32(v) }
            let name = (tokenizerConfig["\(kind)_token"] as? String)
                ?? ((tokenizerConfig["\(kind)_token"] as? [String: Any])?["content"] as? String) ?? fallback
            guard let i = index[name] else { throw ModelFileError(file: directory, "the tokenizer has no \(kind) token (\(name))") }
            return Int32(i)
        }
        return SpecialTokens(bos: try id("bos", "<bos>"), eos: try id("eos", "<eos>"), pad: try id("pad", "<pad>"), unk: try id("unk", "<unk>"))
    }

    /// llama.cpp's does_token_look_special (the Gemma cases).
    static func looksSpecial(_ s: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(s) || (s.hasPrefix("<|") && s.hasSuffix("|>"))
            || (s.hasPrefix("<unused") && s.hasSuffix(">"))
    }

    static func json(_ path: String) -> [String: Any]? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }

    /// SentencePiece's ModelProto: pieces (field 1) with piece (1), score (2), type (3).
    /// Types as convert_hf_to_gguf.py reads them: unknown, control, unused and byte kept,
    /// anything else normal. Ids past the proto up to `vocabularySize` are unused `[PADn]`.
    static func readSentencePiece(_ path: String, vocabularySize: Int) throws -> ([String], [Float], [Int32]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelFileError(file: path, "cannot read") }
        var tokens: [String] = [], scores: [Float] = [], types: [Int32] = []
        let bytes = [UInt8](data)
        var reader = ProtoReader(bytes: bytes[...], file: path)
        while let (field, value) = try reader.next() {
            guard field == 1, case .bytes(let pieceBytes) = value else { continue }
            var piece = ProtoReader(bytes: pieceBytes, file: path)
            var text = "", score: Float = 0, type: UInt64 = 1
            while let (f, v) = try piece.next() {
                switch (f, v) {
                case (1, .bytes(let b)):
                    guard let s = String(validating: b, as: UTF8.self) else { throw ModelFileError(file: path, "piece \(tokens.count) is not UTF-8") }
                    text = s
                case (2, .fixed32(let bits)): score = Float(bitPattern: bits)
                case (3, .varint(let t)): type = t
                default: break
                }
            }
            tokens.append(text)
            scores.append(score)
            types.append([2, 3, 5, 6].contains(type) ? Int32(type) : 1)
        }
        guard !tokens.isEmpty else { throw ModelFileError(file: path, "no pieces: not a SentencePiece model") }
        guard tokens.count <= vocabularySize else {
            throw ModelFileError(file: path, "\(tokens.count) pieces for config.json's vocab_size \(vocabularySize)")
        }
        for i in tokens.count..<vocabularySize { tokens.append("[PAD\(i)]"); scores.append(-10000); types.append(5) }
        return (tokens, scores, types)
    }

    /// A tokenizers `tokenizer.json` with a BPE model (how transformers saves Gemma), parsed
    /// with OrderedJSON so that pieces differing only by Unicode normalization stay apart.
    static func readTokenizersJSON(_ root: OrderedJSON, path: String, vocabularySize: Int) throws -> ([String], [Float], [Int32]) {
        guard let model = root["model"], model["type"]?.string == "BPE", let vocab = model["vocab"]?.members else {
            throw ModelFileError(file: path, "model.type is \(root["model"]?["type"]?.string ?? "missing"), expected a BPE vocabulary (Gemma's)")
        }
        var tokens = [String?](repeating: nil, count: vocabularySize)
        var index: [[UInt8]: Int] = [:]
        for (piece, value) in vocab {
            guard let id = value.int else { throw ModelFileError(file: path, "model.vocab must map pieces to ids") }
            guard id >= 0, id < vocabularySize else { throw ModelFileError(file: path, "token id \(id) outside config.json's vocab_size \(vocabularySize)") }
            tokens[id] = piece
            let bytes = Array(piece.utf8)
            index[bytes] = min(index[bytes] ?? id, id)
        }
        var types = [Int32](repeating: 1, count: vocabularySize)
        for entry in root["added_tokens"]?.array ?? [] {
            guard let id = entry["id"]?.int, id >= 0, id < vocabularySize, let content = entry["content"]?.string else { continue }
            let special = entry["special"]?.bool ?? false
            tokens[id] = special ? content : content.replacingOccurrences(of: "\u{2581}", with: " ")
            types[id] = special ? 3 : 4
        }
        let byteFallback = model["byte_fallback"]?.bool ?? false
        for (i, t) in tokens.enumerated() where types[i] == 1 {
            guard let t, byteFallback, t.utf8.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"),
                  UInt8(String(decoding: t.utf8.dropFirst(3).prefix(2), as: UTF8.self), radix: 16) != nil else { continue }
            types[i] = 6
        }
        // scores: minus the rank of the first merge making a piece
        let merges = model["merges"]?.array ?? []
        var rank = [Int](repeating: Int.max, count: vocabularySize)
        for (r, m) in merges.enumerated() {
            var pair: [String] = []
            if let p = m.array, p.count == 2, let a = p[0].string, let b = p[1].string { pair = [a, b] } else if let s = m.string {
                pair = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            }
            guard pair.count == 2, let id = index[Array(pair[0].utf8) + Array(pair[1].utf8)], rank[id] == Int.max else { continue }
            rank[id] = r
        }
        var scores = [Float](repeating: 0, count: vocabularySize)
        for i in 0..<vocabularySize {
            if types[i] == 3 || types[i] == 4 { scores[i] = -1000 } else if types[i] == 1 {
                scores[i] = -Float(rank[i] == Int.max ? merges.count + i : rank[i])
            }
        }
        var out: [String] = []
        out.reserveCapacity(vocabularySize)
        for (i, t) in tokens.enumerated() {
            if let t { out.append(t) } else { out.append("[PAD\(i)]"); types[i] = 5 }
        }
        return (out, scores, types)
    }
}

/// Protocol-buffer decoding of the wire types a ModelProto uses, bounds-checked.
struct ProtoReader {
    enum Value { case varint(UInt64), fixed32(UInt32), fixed64(UInt64), bytes(ArraySlice<UInt8>) }
    var bytes: ArraySlice<UInt8>
    let file: String

    init(bytes: ArraySlice<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while let b = bytes.first {
            bytes = bytes.dropFirst()
            guard shift < 64 else { break }
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        throw ModelFileError(file: file, "damaged protocol buffer (bad varint)")
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count else { throw ModelFileError(file: file, "damaged protocol buffer (truncated)") }
        let out = bytes.prefix(n)
        bytes = bytes.dropFirst(n)
        return out
    }

    /// The next (field number, value), nil at the end.
    mutating func next() throws -> (Int, Value)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3)
        switch key & 7 {
        case 0: return (field, .varint(try varint()))
        case 1:
            let b = try take(8)
            return (field, .fixed64(b.reversed().reduce(0) { $0 << 8 | UInt64($1) }))
        case 2:
            let n = try varint()
            guard n <= UInt64(bytes.count) else { throw ModelFileError(file: file, "damaged protocol buffer (truncated)") }
            return (field, .bytes(try take(Int(n))))
        case 5:
            let b = try take(4)
            return (field, .fixed32(b.reversed().reduce(0) { $0 << 8 | UInt32($1) }))
        default: throw ModelFileError(file: file, "damaged protocol buffer (wire type \(key & 7))")
        }
    }
}
