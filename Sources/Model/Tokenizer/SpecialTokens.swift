/// The ids of a vocabulary's special pieces (Gemma: `<pad>` 0, `<eos>` 1, `<bos>` 2, `<unk>` 3).
/// They come from the tokenizer's file; checkpoints write them into config.json.
public struct SpecialTokens: Codable, Equatable, Sendable {
    public var bos: Int32
    public var eos: Int32
    public var pad: Int32
    public var unk: Int32

    public init(bos: Int32, eos: Int32, pad: Int32, unk: Int32) {
        self.bos = bos
        self.eos = eos
        self.pad = pad
        self.unk = unk
    }
}
