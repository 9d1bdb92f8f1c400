// Turns a labeled text into token ids and loss labels (docs/DESIGN.md, "Data"):
//   ids = <bos> + tok(prompt with {text} filled in) + tok(" " + intent) + <eos>
// The prompt and the target are tokenized separately, not as one string: that is what
// the reference did, and SentencePiece may merge differently across the seam.
// Labels are not shifted here: position t carries ids[t] when t is a target position
// and -100 (ignored) on prompt positions; the loss aligns logits[t-1] with labels[t].

import Model
import Report

public struct PromptTemplate: Equatable, Sendable {
    public static let placeholder = "{text}"
    public static let defaultTemplate =
        "Classify the banking customer message into one of 77 intents.\nMessage: {text}\nIntent:"
    /// Label of positions excluded from the loss (PyTorch's ignore_index).
    public static let ignoreLabel: Int32 = -100

    public let template: String
    // The template split at its single placeholder: substitution is then a plain
    // concatenation, immune to "{text}" appearing inside the message itself.
    private let prefix: String
    private let suffix: String

    /// Throws unless `template` contains `{text}` exactly once.
    public init(_ template: String = PromptTemplate.defaultTemplate) throws {
        let parts = Self.split(template)
        guard parts.count == 2 else {
            throw MessageError.invalidArgument("prompt template must contain \(Self.placeholder) exactly once, found \(parts.count - 1)")
        }
        self.template = template
        self.prefix = parts[0]
        self.suffix = parts[1]
    }

    /// The prompt for a message (no <bos>).
    public func prompt(for text: String) -> String { prefix + text + suffix }

    /// The ids generation starts from: <bos> + the prompt's tokens.
    public func promptIDs(for text: String, with tokenizer: Tokenizer) -> [Int32] {
        [tokenizer.bos] + tokenizer.encode(prompt(for: text))
    }

    /// The target string for an intent: a space then the intent name.
    public func target(for intent: String) -> String { " " + intent }

    /// Tokenizes one example with `encode` (which must not add <bos>/<eos> itself) and the
    /// tokenizer's special ids.
    public func tokenize(_ example: LabeledText, special: SpecialTokens, encode: (String) throws -> [Int32]) rethrows -> TokenizedExample {
        var ids: [Int32] = [special.bos]
        ids += try encode(prompt(for: example.text))
        let promptLength = ids.count
        ids += try encode(target(for: example.intent))
        ids.append(special.eos)
        return TokenizedExample(ids: ids, promptLength: promptLength, row: example.row, intentIndex: example.intentIndex)
    }

    /// Tokenizes examples in order.
    public func tokenize(_ examples: [LabeledText], special: SpecialTokens, encode: (String) throws -> [Int32]) rethrows -> [TokenizedExample] {
        try examples.map { try tokenize($0, special: special, encode: encode) }
    }

    /// Tokenizes examples in order with `tokenizer`.
    public func tokenize(_ examples: [LabeledText], with tokenizer: Tokenizer) -> [TokenizedExample] {
        tokenize(examples, special: tokenizer.special) { tokenizer.encode($0) }
    }

    // Splits at every occurrence of the placeholder, comparing UTF-8 bytes (no Unicode
    // normalization surprises, no Foundation).
    private static func split(_ s: String) -> [String] {
        let b = Array(s.utf8), p = Array(placeholder.utf8)
        var parts: [String] = [], start = 0, i = 0
        while i + p.count <= b.count {
            if b[i..<(i + p.count)].elementsEqual(p) {
                parts.append(String(decoding: b[start..<i], as: UTF8.self))
                i += p.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(String(decoding: b[start...], as: UTF8.self))
        return parts
    }
}
