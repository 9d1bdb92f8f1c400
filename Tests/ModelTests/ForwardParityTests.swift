import Foundation
import TestSupport
import XCTest
@testable import Model

/// Logit parity with PyTorch (../shared/reference/forward_logits.json; docs/DESIGN.md, "Reference fixtures").
final class ForwardParityTests: XCTestCase {
    struct Position: Decodable {
        var pos: Int
        var logsumexp: Double
        var top_ids: [Int]
        var top_logits: [Double]
    }
    struct Prompt: Decodable {
        var text: String
        var ids: [Int32]
        var positions: [Position]
    }

    func testLogitsMatchPyTorchAtEveryPosition() throws {
        let model = try RealModel.load()
        XCTAssertEqual(model.config, .gemma3_270m, "the file's metadata gives Gemma 3 270M's shape")
        let data = try Data(contentsOf: TestPaths.referenceDir.appendingPathComponent("forward_logits.json"))
        let prompts = try JSONDecoder().decode([Prompt].self, from: data)
        XCTAssertEqual(prompts.count, 4)
        let inference = GemmaInference(model: model)
        var worstLogit = 0.0, worstLSE = 0.0
        for prompt in prompts {
            let cache = KVCache(config: model.config, capacity: prompt.ids.count)
            let logits = try inference.forward([prompt.ids], caches: [cache], logits: .all)
            let v = model.config.vocabSize
            XCTAssertEqual(prompt.positions.count, prompt.ids.count)
            for p in prompt.positions {
                let row = Array(logits[(p.pos * v)..<((p.pos + 1) * v)])
                let top1 = row.indices.max { row[$0] < row[$1] }!
                XCTAssertEqual(top1, p.top_ids[0], "top-1 at \(prompt.text) pos \(p.pos)")
                for (id, ref) in zip(p.top_ids, p.top_logits) {
                    let err = abs(Double(row[id]) - ref)
                    worstLogit = max(worstLogit, err)
                    XCTAssertLessThan(err, 2e-3, "logit of \(id) at \(prompt.text) pos \(p.pos)")
                }
                let lse = row.withUnsafeBufferPointer { logSumExp($0.baseAddress!, count: v) }
                worstLSE = max(worstLSE, abs(lse - p.logsumexp))
                XCTAssertLessThan(abs(lse - p.logsumexp), 2e-3, "logsumexp at \(prompt.text) pos \(p.pos)")
            }
        }
        print("forward parity: max |Δlogit| over top-16 = \(worstLogit), max |Δlogsumexp| = \(worstLSE)")
    }
}
