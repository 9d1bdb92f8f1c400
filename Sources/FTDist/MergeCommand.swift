import ArgumentParser
import Foundation
import Train

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA/QLoRA checkpoint into its base: a full HF checkpoint (model.safetensors + config.json).",
        discussion: "W + s·BA for every adapted projection of the base the checkpoint names (checked by sha256). The output loads in transformers' Gemma3ForCausalLM and in ft-dist eval/predict, no peft needed. eval and predict also take the adapter checkpoint itself.")

    @Argument(help: "The adapter checkpoint directory (adapter_config.json + adapter_model.safetensors).") var checkpoint: String
    @Option(help: "The new directory to write (must not exist).") var output: String

    func validate() throws {
        if output.isEmpty { throw ValidationError("--output is empty: name the directory to write") }
    }

    func run() throws {
        try writingOutput(command: "merge", temporaries: AdapterMerge.temporaryPaths(for: output)) { log in
            log(try AdapterMerge.merge(checkpoint: checkpoint, output: output))
        }
    }
}
