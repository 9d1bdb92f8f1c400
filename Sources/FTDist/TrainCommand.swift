import ArgumentParser
import Distributed
import Foundation
import Train

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune Gemma 3 270M on Banking77: full, LoRA or QLoRA (defaults: the reference recipe, full).",
        discussion: """
        Started by mpirun, every rank holds the model (and with --method lora or qlora the \
        adapters) and trains on its shard of each global batch; the gradients of what is trained \
        are all-reduced before each AdamW step; rank 0 writes the run directory: \
        run_config.json, metrics.jsonl (one line per step: loss, grad norm, lr, token counts, \
        seconds, train.csv rows), validation.jsonl, checkpoint-NNNNNN/ and eval-test/.
        --method lora or qlora trains peft-style adapters (checkpoints in peft's format, with \
        the base's path and sha256) at --lr 2e-4 unless given; every other default stays. \
        Started without mpirun it runs as a single rank.
        SIGINT/SIGTERM/SIGUSR1 stop the run after the current step with a final checkpoint; \
        continue with --resume latest. Under mpirun send SIGUSR1 to mpirun (it forwards it to \
        every rank at once; its own SIGINT/SIGTERM handling kills the ranks within a second), \
        or start through launch/local.sh or launch/hostfile.sh, which turn Ctrl-C and SIGTERM \
        into that.
        """)

    private static let recipe = TrainingOptions.recipe

    @Option(help: "The model to start from: a GGUF file or an HF model directory (config.json, model.safetensors or shards in F32/BF16/F16, tokenizer.model or tokenizer.json; --method qlora quantizes such a base at load, in llama-quantize's Q4_K_M mixture). Default: the installed model.") var model: String?
    @Option(help: "Banking77 directory (train.csv, categories.json; test.csv for the final evaluation and for validation without --holdout).") var data: String?
    @Option(help: "Run directory.") var output = recipe.output
    @Option(help: "Epochs over the training rows.") var epochs = recipe.epochs
    @Option(help: "Global batch size (split over the ranks).") var batchSize = recipe.batchSize
    @Option(help: "Peak learning rate (default: \(TrainingMethod.full.defaultLR) for --method full, \(TrainingMethod.lora.defaultLR) for lora and qlora).") var lr: Double?
    @Option(help: "Learning-rate schedule: cosine, linear or constant.") var scheduler = recipe.scheduler.rawValue
    @Option(help: "Linear warmup steps.") var warmupSteps = recipe.warmupSteps
    @Option(help: "Decoupled AdamW weight decay (never applied to norm weights).") var weightDecay = recipe.weightDecay
    @Option(help: "Clip the global gradient norm to this value (0: off).") var maxGradNorm = recipe.maxGradNorm
    @Option(help: "Seed of the per-epoch shuffles and the validation sample.") var seed = recipe.seed
    @Option(help: "Stop at this step, counted from the start of the run: a run resumed with the same flags stops at the same step (the learning-rate schedule still spans all epochs).") var maxSteps: Int?
    @Option(help: "Prompt template with one {text} placeholder (eval and predict use a checkpoint's own).") var promptTemplate = recipe.promptTemplate
    @Option(help: "Checkpoint every N steps (and always at the end; 0: only at the end).") var saveSteps = recipe.saveSteps
    @Option(help: "How many checkpoints to keep.") var keepCheckpoints = recipe.keepCheckpoints
    @Option(help: "Compare parameter checksums across ranks every N steps and at the end (0: at the end only).") var checkReplicasSteps = recipe.checkReplicasSteps
    @Option(help: "Validate (loss and generated-label accuracy) every N steps (0: never).") var evalSteps = recipe.evalSteps
    @Option(help: "Hold out N stratified training rows for validation (0: use --eval-samples test rows).") var holdout = recipe.holdout
    @Option(help: "Stratified test rows used for monitoring when there is no hold-out.") var evalSamples = recipe.evalSamples
    @Option(help: "Most tokens generated per evaluated example.") var maxNewTokens = recipe.evalMaxNewTokens
    @Flag(inversion: .prefixedNo, help: "Evaluate the whole test split at the end of the schedule.") var finalEval = recipe.finalEval
    @OptionGroup var methodOptions: MethodOptions
    @OptionGroup var stepOptions: StepOptions
    @Option(help: "Continue a run: 'latest' (newest checkpoint in --output) or a checkpoint directory.") var resume: String?

    func run() throws {
        // first thing: a stop (the launchers' SIGUSR1) during MPI's start or the model's load
        // sets the flag instead of ending the rank by the signal's default action
        StopSignal.install()
        try runReportingErrors {
            guard let kind = Train.LearningRateSchedule.Kind(rawValue: scheduler) else {
                throw ValidationError("--scheduler must be cosine, linear or constant")
            }
            var o = TrainingOptions(modelPath: model ?? DefaultPaths.model, dataDir: data ?? DefaultPaths.data, output: output)
            methodOptions.apply(to: &o)
            o.epochs = epochs; o.batchSize = batchSize; o.lr = lr ?? o.method.defaultLR; o.scheduler = kind; o.warmupSteps = warmupSteps
            o.weightDecay = weightDecay; o.maxGradNorm = maxGradNorm; o.seed = seed; o.maxSteps = maxSteps
            o.promptTemplate = promptTemplate; o.saveSteps = saveSteps; o.keepCheckpoints = keepCheckpoints
            o.checkReplicasSteps = checkReplicasSteps; o.evalSteps = evalSteps; o.holdout = holdout
            o.evalSamples = evalSamples; o.evalMaxNewTokens = maxNewTokens; o.finalEval = finalEval
            stepOptions.apply(to: &o)
            let comm = try makeCommunicator()
            let code = try withAbortOnError(comm) { try TrainingRun(options: o, comm: comm).run(resume: resume) }
            comm.finalize()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
