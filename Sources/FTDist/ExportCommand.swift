import ArgumentParser
import Foundation
import Model
import Train

extension ExportType: ExpressibleByArgument {}
extension ModelExport.Format: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model or LoRA adapters for llama.cpp / Ollama (GGUF) or transformers (HF directory).",
        discussion: """
        SOURCE is a GGUF, a full checkpoint (config.json + model.safetensors, e.g. \
        runs/banking77/checkpoint-000750) or a merged one, or a LoRA/QLoRA adapter checkpoint.
        Models go to GGUF as llama.cpp's converter writes gemma3 (tokenizer and metadata of the \
        base the run started from). --type: f32 (exactly the trained values), f16, bf16, q8_0, \
        or q4_k_m (llama-quantize's Q4_K_M mixture; a run that started from a Q4_K_M GGUF keeps \
        each tensor's type from there).
        An adapter checkpoint goes to a llama.cpp LoRA adapter GGUF (llama-completion -m BASE.gguf \
        --lora FILE.gguf) in f32, f16, bf16 or q8_0; with --merge, base + adapters become one model.
        Examples:
          ft-dist export runs/banking77/checkpoint-000750 --type q8_0 --output banking77-q8_0.gguf
          ft-dist export runs/lora/checkpoint-000750 --output banking77-lora.gguf
          ft-dist export runs/lora/checkpoint-000750 --merge --to hf --output banking77-merged
        The output must not exist; it appears only when completely written.
        """)

    @Argument(help: "A GGUF, an HF model directory (transformers' save_pretrained), a full or merged checkpoint, or an adapter checkpoint.") var source: String
    @Option(help: "Output format: gguf (llama.cpp, Ollama) or hf (transformers: model.safetensors + config.json, fp32).")
    var to: ModelExport.Format = .gguf
    @Option(help: "GGUF tensor types: f32, f16, bf16, q8_0 or q4_k_m (adapters: f32, f16, bf16, q8_0).")
    var type: ExportType = .f32
    @Flag(help: "Fold an adapter checkpoint into its base (W + s·BA) and write the whole model.") var merge = false
    @Option(help: "general.name of the GGUF (default: the base's name, marked as fine-tuned).") var name: String?
    @Option(help: "The file (GGUF) or directory (hf) to write; must not exist.") var output: String

    func validate() throws {
        if output.isEmpty { throw ValidationError("--output is empty: name the file (GGUF) or directory (hf) to write") }
        if let name, name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("--name is empty: give the model a name, or leave --name out for the default") }
    }

    func run() throws {
        try writingOutput(command: "export", temporaries: ModelExport.temporaryPaths(for: output)) { log in
            let request = ModelExport.Request(source: source, format: to, type: type, merge: merge, output: output, name: name)
            print(try ModelExport.run(request, log: log))
        }
    }
}
