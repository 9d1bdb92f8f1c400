import Foundation
import TestSupport
import XCTest
@testable import Model

/// adapter_config.json as peft writes it: numbers and booleans told apart (JSONSerialization on
/// Linux makes the numbers 0 and 1 Bool as well), and what the adapters cannot express refused.
final class PeftAdapterFilesTests: XCTestCase {
    private func read(_ edit: (inout [String: Any]) -> Void) throws -> LoRAConfig {
        let dir = try temporaryDirectory("peft-config")
        var d: [String: Any] = ["peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                                "target_modules": ["q_proj", "v_proj"], "use_rslora": false, "bias": "none",
                                "base_model_name_or_path": "google/gemma-3-270m"]
        edit(&d)
        try JSONSerialization.data(withJSONObject: d).write(to: dir.appendingPathComponent(PeftAdapterFiles.configFile))
        return try PeftAdapterFiles.readConfig(directory: dir.path).lora
    }

    func testRankAndAlphaOfOneAreNumbers() throws {
        let lora = try read { $0["r"] = 1; $0["lora_alpha"] = 1 }
        XCTAssertEqual(lora.rank, 1)
        XCTAssertEqual(lora.alpha, 1)
        XCTAssertEqual(try read { $0["use_rslora"] = true }.rsLoRA, true)
        XCTAssertEqual(try read { $0["use_dora"] = false; $0["layers_to_transform"] = NSNull() }.rank, 16)
        XCTAssertEqual(try read { $0["lora_bias"] = false; $0["target_parameters"] = NSNull(); $0["trainable_token_indices"] = NSNull() }.rank, 16,
                       "what recent peft versions write by default")
    }

    func testBooleansAndUnsupportedSettingsAreRefused() throws {
        for (edit, message) in [({ (d: inout [String: Any]) in d["r"] = true }, "r is true, expected an integer"),
                                ({ $0["lora_alpha"] = false }, "lora_alpha is false, expected a finite number"),
                                ({ $0["r"] = 2.5 }, "r is 2.5, expected an integer"),
                                ({ $0["use_rslora"] = "true" }, "use_rslora is \"true\", expected true or false"),
                                ({ $0["lora_dropout"] = "x" }, "lora_dropout is \"x\", expected a finite number"),
                                ({ $0["target_modules"] = ["q_proj", 7] }, "target_modules is a list, expected a list of strings"),
                                ({ $0["target_modules"] = "q_proj" }, "a string is a regular expression in peft"),
                                ({ $0["layers_to_transform"] = 0 }, "layers_to_transform is set"),
                                ({ $0["use_dora"] = true }, "use_dora is set"),
                                ({ $0["lora_bias"] = true }, "lora_bias is set"),
                                ({ $0["target_parameters"] = ["mlp.experts.down_proj"] }, "target_parameters is set"),
                                ({ $0["exclude_modules"] = ["down_proj"] }, "exclude_modules is set")] as [((inout [String: Any]) -> Void, String)] {
            XCTAssertThrowsError(try read(edit)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }
}
