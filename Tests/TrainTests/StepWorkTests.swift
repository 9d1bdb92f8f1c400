import Model
import Train
import XCTest

/// The bench's work count for the real model: 100,326,016 block weights (norms included) and a
/// 262,144 × 640 tied embedding; the default LoRA (r 16, seven targets) has 3,796,992 parameters.
final class StepWorkTests: XCTestCase {
    func testFullFineTuningCostsSixFLOPsPerWeightPerRow() {
        let w = StepWork(config: .gemma3_270m, method: .full, trainedParameters: 268_098_176)
        XCTAssertEqual(w.perBlockRow, 6 * 100_326_016)
        XCTAssertEqual(w.perLabel, 6 * 167_772_160)
        XCTAssertEqual(w.flops(blockRows: 10, labels: 2), 60 * 100_326_016 + 12 * 167_772_160)
    }

    /// A frozen weight computes no weight gradient: 4 FLOPs per row; the adapters are trained.
    func testAFrozenBaseCostsFourAndTheAdaptersSix() {
        for method in [TrainingMethod.lora, .qlora] {
            let w = StepWork(config: .gemma3_270m, method: method, trainedParameters: 3_796_992)
            XCTAssertEqual(w.perBlockRow, 4 * 100_326_016 + 6 * 3_796_992, "\(method)")
            XCTAssertEqual(w.perLabel, 4 * 167_772_160, "\(method)")
        }
    }
}
