import ArgumentParser
import Distributed
import Foundation
import Model
import Train

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time training steps on real Banking77 batches with the recipe's shapes.",
        discussion: "Reports medians over steps 2…K: seconds per step, examples/s, tokens/s, GFLOP/s against the sgemm peak measured in the same run, the split of a step, peak RSS per rank, and under mpirun the longest wait of a rank for the slowest one (shards differ in tokens) and the whole-gradient all-reduce beside a plain MPI_Allreduce. Works under mpirun like train.")

    @Option(help: "Training steps to time (the first is a warm-up). Under mpirun the ranks' shards of a batch differ in tokens; a dozen batches keep that from dominating the median.")
    var steps = 12
    @Option(help: "The model: a GGUF file or an HF model directory (default: the installed model).") var model: String?
    @Option(help: "Banking77 directory.") var data: String?
    @OptionGroup var methodOptions: MethodOptions
    @OptionGroup var stepOptions: StepOptions
    @Option(help: "Also write the report as JSON to this file (rank 0).") var json: String?

    func validate() throws {
        if steps < 2 { throw ValidationError("--steps must be at least 2 (the first is a warm-up)") }
    }

    func run() throws {
        try runReportingErrors {
            let comm = try makeCommunicator()
            let report = try withAbortOnError(comm) { () -> BenchmarkReport? in
                if comm.isRoot, let json { try checkWritableOutput(json, option: "--json") }
                let threads = BLASThreads.configureForRank()
                var o = TrainingOptions(modelPath: model ?? DefaultPaths.model, dataDir: data ?? DefaultPaths.data, output: "")
                methodOptions.apply(to: &o)
                o.lr = o.method.defaultLR
                stepOptions.apply(to: &o)
                let trainer = try TrainerFactory.make(options: o, comm: comm)
                return try Benchmark.run(trainer: trainer, steps: steps, comm: comm, blasThreads: threads) { line in
                    if comm.isRoot { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                }
            }
            if let report {
                print(BenchmarkTable.render(report))
                if let json {
                    let e = JSONEncoder()
                    e.outputFormatting = [.prettyPrinted, .sortedKeys]
                    try e.encode(report).write(to: URL(fileURLWithPath: json), options: .atomic)
                }
            }
            comm.finalize()
        }
    }
}
