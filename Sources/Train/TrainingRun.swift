import Distributed
import Foundation
import Model

/// A whole `ft-dist train` invocation on one rank: agreement between ranks, loading, resume,
/// the step loop with metrics, progress, checkpoints, replica checks, validation, and the
/// final test evaluation. Rank 0 owns the run directory.
public final class TrainingRun {
    public struct ValidationRecord: Codable {
        public var step: Int
        public var loss: Double
        public var accuracy: Double
        public var invalidRate: Double
        public var samples: Int
        public var seconds: Double
        enum CodingKeys: String, CodingKey {
            case step, loss, accuracy, samples, seconds
            case invalidRate = "invalid_rate"
        }
    }

    struct RunConfig: Codable {
        var options: TrainingOptions
        var worldSize: Int
        var transport: String
        var blasThreads: Int
        var hosts: [String]
        var totalSteps: Int
        var trainExamples: Int
        var validationExamples: Int
        var resumedFrom: String?
        var startedAt: String
    }

    let options: TrainingOptions
    let comm: Communicator
    let progress = ProgressLine()

    public init(options: TrainingOptions, comm: Communicator) {
        self.options = options
        self.comm = comm
    }

    private func say(_ text: String) { if comm.isRoot { progress.message(text) } }

    /// Runs the training; returns the process exit code (0, or 128+signal after a stop).
    public func run(resume: String?) throws -> Int32 {
        let threads = configureBLASThreads()
        MemoryPolicy.configure()
        try options.validate()
        let dataFiles = TrainingData.files(in: options.dataDir)
        var optionsForAgreement = options
        optionsForAgreement.output = URL(fileURLWithPath: options.output).standardized.path
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]  // key order must not depend on the process's hash seed
        let flags = String(decoding: try encoder.encode(optionsForAgreement), as: UTF8.self) + "|resume=\(resume ?? "")"
        try RankAgreement.require("training flags", flags, comm: comm)
        try RankAgreement.require("data files", RankAgreement.fingerprint(files: [dataFiles.train, dataFiles.test, dataFiles.intents]), comm: comm)

        let loadStart = Date()
        let (model, tokenizer, data) = try TrainerFactory.load(options: options)
        try RankAgreement.require("initial weights", ParameterChecksum.hex(ParameterChecksum.of(model.parameters)), comm: comm)
        let trainer = try Trainer(options: options, model: model, data: data, comm: comm)
        say(String(format: "ft-dist train: %d rank(s) over %@ (gradients: %@), %d BLAS thread(s) per rank; model and data loaded in %.1f s; %d training examples, %d validation",
                   comm.size, comm.transport, trainer.exchange.description, threads, Date().timeIntervalSince(loadStart), data.train.count, data.validation.count))

        let runDir = RunDirectory(path: options.output)
        var resumedFrom: String?
        if let resume {
            resumedFrom = try restore(trainer, spec: resume, runDir: runDir)
        } else {
            // rank 0 decides (it owns the directory) and every rank gets the same verdict
            let verdict = comm.isRoot && runDir.holdsRun
                ? "\(options.output) already holds a run; continue it with --resume latest, or choose another --output" : ""
            let agreed = try comm.broadcast(verdict, root: 0)
            if !agreed.isEmpty { throw TrainingError(agreed) }
        }
        let hosts = try comm.gather(Array(ProcessInfo.processInfo.hostName.utf8), root: 0)?.map { String(decoding: $0, as: UTF8.self) } ?? []
        if comm.isRoot {
            try runDir.create()
            try runDir.writeJSON(RunConfig(options: options, worldSize: comm.size, transport: comm.transport, blasThreads: threads,
                                           hosts: hosts, totalSteps: trainer.totalSteps, trainExamples: data.train.count,
                                           validationExamples: data.validation.count, resumedFrom: resumedFrom,
                                           startedAt: ISO8601DateFormatter().string(from: Date())),
                                 to: resumedFrom == nil ? "run_config.json" : "run_config.resume-\(trainer.completedSteps).json")
        }
        try comm.barrier()

        StopSignal.install()
        trainer.localStopRequested = { StopSignal.requested }
        let endStep = min(trainer.totalSteps, options.maxSteps.map { trainer.completedSteps + $0 } ?? trainer.totalSteps)
        var lastSaved = trainer.completedSteps
        while trainer.completedSteps < endStep {
            let record = try trainer.step()
            if comm.isRoot {
                try runDir.appendMetrics(record)
                progress.update(record, totalSteps: trainer.totalSteps, epochs: options.epochs)
            }
            let step = trainer.completedSteps
            if trainer.stopAgreed {
                say("stop requested (signal \(StopSignal.received)): writing a final checkpoint at step \(step)")
                try checkReplicas(trainer)
                try saveCheckpoint(trainer, runDir)
                return StopSignal.exitCode == 0 ? 130 : StopSignal.exitCode
            }
            if options.checkReplicasSteps > 0 && step % options.checkReplicasSteps == 0 { try checkReplicas(trainer) }
            if options.saveSteps > 0 && step % options.saveSteps == 0 && step < endStep {
                try saveCheckpoint(trainer, runDir)
                lastSaved = step
            }
            if options.evalSteps > 0 && step % options.evalSteps == 0 && step < endStep {
                try validate(trainer, tokenizer: tokenizer, runDir: runDir)
            }
        }
        try checkReplicas(trainer)
        if trainer.completedSteps != lastSaved { try saveCheckpoint(trainer, runDir) }
        if options.evalSteps > 0 { try validate(trainer, tokenizer: tokenizer, runDir: runDir) }
        if trainer.completedSteps == trainer.totalSteps && options.finalEval {
            try finalEvaluation(trainer, tokenizer: tokenizer, data: data, runDir: runDir)
        }
        say("done: \(trainer.completedSteps)/\(trainer.totalSteps) steps; run directory \(options.output)")
        return 0
    }

    /// Rank 0 reads the checkpoint and broadcasts weights, moments and state: hosts need
    /// no shared filesystem, and every replica starts bit-identical.
    private func restore(_ trainer: Trainer, spec: String, runDir: RunDirectory) throws -> String {
        var path = ""
        var stateBytes: [UInt8] = []
        var failure = ""
        if comm.isRoot {
            do {
                path = try Checkpoint.resolve(spec, runDirectory: options.output)
                let state = try Checkpoint.load(path, into: trainer)
                guard state.options.trajectoryKey() == options.trajectoryKey() else {
                    throw CheckpointError("\(path) was made with different training flags; resume with the flags of the run (see its trainer_state.json)")
                }
                stateBytes = Array(try JSONEncoder().encode(state))
                try runDir.truncateMetrics(afterStep: state.step)
            } catch {
                failure = "\(error)"
            }
        }
        failure = try comm.broadcast(failure, root: 0)
        if !failure.isEmpty { throw TrainingError(failure) }
        path = try comm.broadcast(path, root: 0)
        try comm.broadcast(&stateBytes, root: 0)
        try comm.broadcast(trainer.model.parameters.buffer, root: 0)
        try trainer.exchange.broadcastOwnedSlices(trainer.optimizer.m)
        try trainer.exchange.broadcastOwnedSlices(trainer.optimizer.v)
        let state = try JSONDecoder().decode(CheckpointState.self, from: Data(stateBytes))
        trainer.restore(completedSteps: state.step, history: state.history)
        say("resumed from \(path): step \(state.step), epoch \(state.epoch + 1), position \(state.positionInEpoch) in the epoch, next lr \(state.nextLR)")
        return path
    }

    private func saveCheckpoint(_ trainer: Trainer, _ runDir: RunDirectory) throws {
        // with host-shared updates each rank's moments are current only on its slice
        try trainer.exchange.gatherToRoot([trainer.optimizer.m, trainer.optimizer.v])
        if comm.isRoot {
            let start = Date()
            let path = try Checkpoint.save(trainer, runDirectory: runDir.path)
            Checkpoint.prune(runDirectory: runDir.path, keep: options.keepCheckpoints)
            say(String(format: "checkpoint %@ written in %.1f s", path, Date().timeIntervalSince(start)))
        }
        try comm.barrier()
    }

    /// Every rank hashes its parameters; any difference stops the run instead of drifting silently.
    private func checkReplicas(_ trainer: Trainer) throws {
        guard comm.size > 1 else { return }
        do {
            try RankAgreement.require("parameters", ParameterChecksum.hex(ParameterChecksum.of(trainer.model.parameters)), comm: comm)
        } catch {
            throw TrainingError("replica divergence at step \(trainer.completedSteps): \(error)")
        }
    }

    /// The generative evaluator of validation and of the final test evaluation.
    private func makeEvaluator(_ trainer: Trainer, tokenizer: Tokenizer) -> Evaluator {
        var evaluator = Evaluator(model: trainer.model, tokenizer: tokenizer, template: trainer.data.template, comm: comm)
        evaluator.maxNewTokens = options.evalMaxNewTokens
        evaluator.intentNames = trainer.data.intents.names
        return evaluator
    }

    private func validate(_ trainer: Trainer, tokenizer: Tokenizer, runDir: RunDirectory) throws {
        let data = trainer.data
        guard !data.validation.isEmpty else { return }
        let start = Date()
        let tokenized = data.template.tokenize(data.validation) { tokenizer.encode($0) }
        let loss = try trainer.evaluationLoss(tokenized)
        let evaluator = makeEvaluator(trainer, tokenizer: tokenizer)
        let predictions = try evaluator.predict(data.validation)
        if let predictions {
            let metrics = try EvaluationMetrics(intents: data.intents.names, predictions: predictions)
            let record = ValidationRecord(step: trainer.completedSteps, loss: loss, accuracy: metrics.accuracy,
                                          invalidRate: metrics.invalidRate, samples: predictions.count,
                                          seconds: Date().timeIntervalSince(start))
            try runDir.appendValidation(record)
            MemoryPolicy.releaseFreedMemory()
            say(String(format: "validation at step %d: loss %.4f, accuracy %.2f%% (%d examples, %.0f s)",
                       record.step, loss, 100 * metrics.accuracy, predictions.count, record.seconds))
        }
    }

    private func finalEvaluation(_ trainer: Trainer, tokenizer: Tokenizer, data: TrainingData, runDir: RunDirectory) throws {
        say("evaluating the test split (\(data.test.count) examples)")
        let evaluator = makeEvaluator(trainer, tokenizer: tokenizer)
        let start = Date()
        let predictions = try evaluator.predict(data.test) { done, total in
            if self.comm.isRoot && (done % 320 == 0 || done == total) {
                self.progress.message("  test evaluation: \(done)/\(total) on rank 0")
            }
        }
        if let predictions {
            let report = try EvaluationReport(intents: data.intents.names, predictions: predictions,
                                              title: "Banking77 test split after \(trainer.completedSteps) steps")
            let dir = runDir.file("eval-test")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try report.write(to: URL(fileURLWithPath: dir))
            say(String(format: "test accuracy %.2f%%, macro-F1 %.4f, invalid outputs %.2f%% (%.0f s); report in %@",
                       100 * report.metrics.accuracy, report.metrics.macroF1, 100 * report.metrics.invalidRate,
                       Date().timeIntervalSince(start), dir))
        }
    }
}
