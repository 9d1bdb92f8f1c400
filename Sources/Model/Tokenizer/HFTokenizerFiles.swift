import Foundation

/// The tokenizer files of an HF model directory, made from a GGUF's `tokenizer.ggml.*` keys
/// so that transformers (GemmaTokenizer) and llama.cpp's convert_hf_to_gguf.py read the very
/// vocabulary ft-dist trains with:
/// - tokenizer.model: SentencePiece's ModelProto (BPE, byte fallback, identity normalizer,
///   no dummy prefix) with every piece, score and type;
/// - tokenizer_config.json: add_bos/add_eos/add_sep as the GGUF says, the special tokens, and
///   `added_tokens_decoder` for every control and user-defined piece — the converter takes
///   those pieces' types from there (special → control, else user-defined), as it did for
///   the GGUF we read;
/// - special_tokens_map.json.
public struct HFTokenizerFiles {
    public static let modelFile = "tokenizer.model"
    public static let configFile = "tokenizer_config.json"
    public static let specialTokensFile = "special_tokens_map.json"

    public let model: Data
    public let config: Data
    public let specialTokens: Data
    /// The special ids (config.json takes them from here).
    public let special: SpecialTokens

    public init(gguf: GGUFFile) throws { try self.init(vocabulary: TokenizerVocabulary(gguf: gguf)) }

    public init(vocabulary v: TokenizerVocabulary) throws {
        let (tokens, scores, types, special) = (v.tokens, v.scores, v.types.map { Int($0) }, v.special)
        self.special = special
        model = Data(Self.modelProto(tokens: tokens, scores: scores, types: types, special: special))

        func name(_ id: Int32) -> String { tokens[Int(id)] }
        var decoder: [String: Any] = [:]
        for (i, type) in types.enumerated() where type == 3 || type == 4 || i == Int(special.unk) {
            decoder[String(i)] = ["content": tokens[i], "lstrip": false, "normalized": false, "rstrip": false,
                                  "single_word": false, "special": type != 4]
        }
        var dict: [String: Any] = [
            "added_tokens_decoder": decoder,
            "bos_token": name(special.bos), "eos_token": name(special.eos), "pad_token": name(special.pad), "unk_token": name(special.unk),
            "clean_up_tokenization_spaces": false, "spaces_between_special_tokens": false, "sp_model_kwargs": [String: Any](),
            "tokenizer_class": "GemmaTokenizer", "use_default_system_prompt": false,
        ]
        for (kind, flag) in [("bos", v.addBOS), ("eos", v.addEOS), ("sep", v.addSEP)] {
            if let flag { dict["add_\(kind)_token"] = flag }
        }
        config = try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
        specialTokens = try JSONSerialization.data(withJSONObject: [
            "bos_token": name(special.bos), "eos_token": name(special.eos), "pad_token": name(special.pad), "unk_token": name(special.unk),
        ], options: [.prettyPrinted, .sortedKeys])
    }

    /// Write the three files into `directory`.
    public func write(to directory: URL) throws {
        try model.write(to: directory.appendingPathComponent(Self.modelFile))
        try config.write(to: directory.appendingPathComponent(Self.configFile))
        try specialTokens.write(to: directory.appendingPathComponent(Self.specialTokensFile))
    }

    /// SentencePiece's ModelProto (sentencepiece_model.proto): pieces (1: piece, 2: score,
    /// 3: type), trainer_spec (2) and normalizer_spec (3). GGUF token types are SentencePiece's
    /// numbering; `<unk>` must be of type UNKNOWN for SentencePiece to load the model.
    static func modelProto(tokens: [String], scores: [Float], types: [Int], special: SpecialTokens) -> [UInt8] {
        var out = ProtoWriter()
        for i in 0..<tokens.count {
            var piece = ProtoWriter()
            // SentencePiece keeps spaces of user-defined pieces as ▁ (the GGUF has spaces)
            piece.string(1, types[i] == 4 ? tokens[i].replacingOccurrences(of: " ", with: "\u{2581}") : tokens[i])
            piece.float(2, scores[i])
            piece.varint(3, UInt64(i == Int(special.unk) ? 2 : types[i]))
            out.message(1, piece)
        }
        var trainer = ProtoWriter()
        trainer.varint(3, 2)                      // model_type BPE
        trainer.varint(4, UInt64(tokens.count))   // vocab_size
        trainer.varint(25, 1)                     // split_digits
        trainer.varint(26, 1)                     // allow_whitespace_only_pieces
        trainer.varint(35, types.contains(6) ? 1 : 0)  // byte_fallback
        trainer.varint(40, UInt64(special.unk))
        trainer.varint(41, UInt64(special.bos))
        trainer.varint(42, UInt64(special.eos))
        trainer.varint(43, UInt64(special.pad))
        trainer.string(45, tokens[Int(special.unk)])
        trainer.string(46, tokens[Int(special.bos)])
        trainer.string(47, tokens[Int(special.eos)])
        trainer.string(48, tokens[Int(special.pad)])
        out.message(2, trainer)
        var normalizer = ProtoWriter()
        normalizer.string(1, "identity")
        normalizer.varint(3, 0)                   // add_dummy_prefix
        normalizer.varint(4, 0)                   // remove_extra_whitespaces
        normalizer.varint(5, 1)                   // escape_whitespaces
        out.message(3, normalizer)
        return out.bytes
    }
}

/// Protocol-buffer encoding of the few wire types a ModelProto needs.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ field: Int, _ v: UInt64) {
        rawVarint(UInt64(field << 3))
        rawVarint(v)
    }

    mutating func float(_ field: Int, _ v: Float) {
        rawVarint(UInt64(field << 3 | 5))
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ field: Int, _ s: String) { lengthDelimited(field, Array(s.utf8)) }

    mutating func message(_ field: Int, _ m: ProtoWriter) { lengthDelimited(field, m.bytes) }

    private mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
        rawVarint(UInt64(field << 3 | 2))
        rawVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }
}
