import ArgumentParser
import Foundation
import Report
import Train

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Print the intent of customer messages (arguments, or one message per line on stdin).",
        discussion: """
        Without --top-k the model generates the intent (greedy); an output that is no intent is \
        followed by a tab and "(not an intent)". With --top-k K the 77 intents are ranked by the \
        model's log-probability of each intent's tokens after the prompt, and the best K are \
        printed as "intent log-probability" pairs separated by tabs. A checkpoint is prompted with \
        its run's --prompt-template.
        Output is exactly one line per message, in input order, so a file of messages pairs line \
        for line with the answers: a newline, carriage return, tab or backslash inside an output is \
        printed as \\n, \\r, \\t or \\\\. With --json each line is one JSON object instead.
        Generation runs --batch-size messages at a time, after the prompt prefix they share \
        (computed once), as eval does; each batch's lines are printed as soon as it is done.
        """)

    @Argument(help: "Messages (none: read one per line from stdin).") var texts: [String] = []
    @Option(help: "A GGUF file, an HF model or checkpoint directory, or an adapter checkpoint (default: the newest checkpoint of runs/banking77, else the installed model; stderr names the one used).") var model: String?
    @Option(help: "Banking77 directory (for categories.json).") var data: String?
    @Option(help: "Rank the intents and print the best K.") var topK: Int?
    @Flag(help: "Print one JSON object per message.") var json = false
    @Option(help: "Messages generated together.") var batchSize = Evaluator.defaultBatchSize
    @Flag(help: "Print load, prompt and per-token timings to stderr.") var timing = false
    @OptionGroup var weights: WeightsOption

    func validate() throws {
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1") }
        try validateGenerationBatchSize(batchSize)
        if topK != nil && (batchSize != Evaluator.defaultBatchSize) { throw ValidationError("--batch-size applies to generation, not to --top-k") }
    }

    func run() throws {
        try runReportingErrors {
            let intentsFile = TrainingData.files(in: data ?? DefaultPaths.data).intents
            let intents = try IntentList.load(intentsFile)
            if let topK, topK > intents.count {
                throw MessageError.invalidArgument("--top-k \(topK) is more than the \(intents.count) intents of \(intentsFile.path)")
            }
            let predictor = try IntentPredictor(modelPath: chosenModel(model), intents: intents, weights: weights.weights,
                                                generates: topK == nil)
            let messages = texts.isEmpty ? try readStdinLines() : texts
            let start = Date()
            if let k = topK {
                for text in messages {
                    let ranked = try predictor.rank(text, k: k)
                    if json {
                        printJSON(["text": text, "ranking": ranked.map { ["intent": $0.intent, "log_probability": $0.logProbability] }] as [String: Any])
                    } else {
                        print(ranked.map { String(format: "%@ %.3f", $0.intent, $0.logProbability) }.joined(separator: "\t"))
                    }
                    fflushStdout()
                }
            } else {
                _ = try predictor.generate(messages, batchSize: batchSize) { first, outputs in
                    for (text, intent) in zip(messages[first...], outputs) {
                        let valid = intents.index(of: intent) != nil
                        if json {
                            printJSON(["text": text, "intent": intent, "valid": valid] as [String: Any])
                        } else {
                            print(valid ? intent : "\(oneLine(intent))\t(not an intent)")
                        }
                    }
                    fflushStdout()
                }
            }
            if timing { reportTiming(predictor, messages: messages.count, seconds: Date().timeIntervalSince(start)) }
        }
    }

    private func reportTiming(_ predictor: IntentPredictor, messages: Int, seconds: Double) {
        let t = predictor.timing
        var line = String(format: "model loaded in %.2f s; %d messages in %.2f s (%.2f messages/s)", predictor.loadSeconds, messages, seconds, Double(messages) / seconds)
        if t.prefixTokens > 0 {
            line += String(format: "; shared prompt prefix: %d tokens in %.3f s", t.prefixTokens, t.prefixSeconds)
        }
        if t.promptTokens > 0 {
            line += String(format: "; the rest of the prompts: %d tokens in %.2f s (%.0f tokens/s)", t.promptTokens, t.prefillSeconds, Double(t.promptTokens) / t.prefillSeconds)
            line += String(format: "; decoding: %d steps, %d tokens in %.2f s (%.1f ms per step, %.1f tokens/s)", t.decodeSteps, t.decodedTokens, t.decodeSeconds,
                           1000 * t.decodeSeconds / Double(max(t.decodeSteps, 1)), Double(t.decodedTokens) / max(t.decodeSeconds, 1e-9))
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    private func readStdinLines() throws -> [String] {
        // readLine() ends silently on a read error: a closed stdin or a directory are said so
        var info = stat()
        guard fstat(0, &info) == 0 else { throw MessageError("cannot read stdin: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT != S_IFDIR else { throw MessageError("cannot read stdin: it is a directory") }
        var lines: [String] = []
        while let line = readLine() { lines.append(line) }
        return lines
    }

    private func printJSON(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

/// `text` on one line: backslash, newline, carriage return and tab escaped as in C.
func oneLine(_ text: String) -> String {
    escaping(text, ["\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"])
}
