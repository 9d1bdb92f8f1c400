import Distributed
import Foundation
import Model
import Report

/// A whole `ft-dist train` invocation on one rank: agreement between ranks, loading, resume,
/// the step loop with metrics, progress, checkpoints, replica checks, validation, and the
/// final test evaluation. Rank 0 owns the run directory.
public final class TrainingRun {
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
        // from the start (ft-dist train installs it before MPI starts; again here for callers
        // of the library): a stop while the model loads sets the flag
        StopSignal.install()
        let threads = BLASThreads.configureForRank()
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
        // rank 0 writes the run directory: a path that cannot become one is said before the load
        let outputProblem = comm.isRoot ? OutputFile.directoryProblem(options.output).map { "--output \(options.output): \($0)" } ?? "" : ""
        let agreedProblem = try comm.broadcast(outputProblem, root: 0)
        if !agreedProblem.isEmpty { throw MessageError(agreedProblem) }

        let loadStart = Date()
        let loaded = try TrainerFactory.load(options: options)
        let (base, tokenizer, data) = (loaded.base, loaded.tokenizer, loaded.data)
        // every rank must start from the same base (a quantized one: the same file's bytes)
        let baseFingerprint = (base as? GemmaModel).map { ParameterChecksum.hex(ParameterChecksum.of($0.parameters)) }
            ?? loaded.baseRecord?.sha256 ?? ""
        try RankAgreement.require("initial weights", baseFingerprint, comm: comm)
        let trainer = try Trainer(options: options, base: base, data: data, comm: comm, baseRecord: loaded.baseRecord,
                                  tokenizerFiles: loaded.tokenizerFiles)
        say(String(format: "ft-dist train: %d rank(s) over %@ (gradients: %@), %d BLAS thread(s) per rank; model and data loaded in %.1f s; %d training examples, %d validation",
                   comm.size, comm.transport, trainer.exchange.description, threads, Date().timeIntervalSince(loadStart), data.train.count, data.validation.count))

        let runDir = RunDirectory(path: options.output)
        var resumedFrom: String?
        if let resume {
            resumedFrom = try restore(trainer, spec: resume, runDir: runDir)
        } else {
            // rank 0 decides (it owns the directory) and every rank gets the same verdict
            let verdict = !(comm.isRoot && runDir.files.holdsRun) ? ""
                : runDir.files.checkpoints.isEmpty
                ? "\(options.output) holds a run that stopped before its first checkpoint (nothing in it can be resumed); remove it or choose another --output"
                : "\(options.output) already holds a run; continue it with --resume latest, or choose another --output"
            let agreed = try comm.broadcast(verdict, root: 0)
            if !agreed.isEmpty { throw MessageError(agreed) }
        }
        let hosts = try comm.gather(Array(ProcessInfo.processInfo.hostName.utf8), root: 0)?.map { String(decoding: $0, as: UTF8.self) } ?? []
        let startStep = trainer.completedSteps, endStep = trainer.endStep
        // an invocation that has no step left to train leaves no trace of a resume
        if comm.isRoot && startStep < endStep {
            try runDir.create()
            // the history after the resumed step is rewritten by the steps about to train: its
            // metrics go, and so do its checkpoints (else a crash before the next save would let
            // --resume latest jump back onto the abandoned steps)
            if resumedFrom != nil {
                try runDir.truncateMetrics(afterStep: startStep)
                let abandoned = Checkpoint.removeCheckpoints(after: startStep, runDirectory: runDir.path)
                if !abandoned.isEmpty {
                    say("removed the checkpoints of the steps this resume abandons (it continues from step \(startStep)): "
                        + abandoned.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", "))
                }
            }
            try runDir.writeJSON(RunConfig(options: options, worldSize: comm.size, transport: comm.transport, blasThreads: threads,
                                           hosts: hosts, totalSteps: trainer.totalSteps, trainExamples: data.train.count,
                                           validationExamples: data.validation.count, resumedFrom: resumedFrom,
                                           startedAt: ISO8601DateFormatter().string(from: Date())),
                                 to: resumedFrom == nil ? RunFiles.runConfig : RunFiles.resumeConfig(afterStep: trainer.completedSteps))
        }
        try comm.barrier()

        trainer.localStopRequested = { StopSignal.requested }
        if startStep >= endStep {
            say(options.maxSteps != nil && endStep < trainer.totalSteps
                ? "step \(startStep) reached already: --max-steps \(endStep) is the step to stop at, counted from the start of the run"
                : "step \(startStep) reached already: the schedule's \(trainer.totalSteps) steps are done")
        }
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
                return stoppedExitCode
            }
            if options.checkReplicasSteps > 0 && step % options.checkReplicasSteps == 0 { try checkReplicas(trainer) }
            if options.saveSteps > 0 && step % options.saveSteps == 0 && step < endStep {
                try saveCheckpoint(trainer, runDir)
                lastSaved = step
            }
            if options.evalSteps > 0 && step % options.evalSteps == 0 && step < endStep {
                do {
                    try validate(trainer, tokenizer: tokenizer, runDir: runDir)
                } catch is EvaluationStopped {
                    // the next step agrees on the stop and writes the final checkpoint
                    say("stop requested during the validation at step \(step): it is skipped")
                }
            }
        }
        try checkReplicas(trainer)
        let trained = trainer.completedSteps > startStep
        if trainer.completedSteps != lastSaved { try saveCheckpoint(trainer, runDir) }
        // a stop that arrived during the last step or its checkpoint skips the evaluations that
        // follow (minutes of work); the same command with --resume latest runs them. All ranks
        // decide together: any rank's request counts.
        var stop = [StopSignal.requested ? 1.0 : 0]
        try comm.allReduceSum(&stop)
        if stop[0] > 0 {
            say("stop requested: step \(trainer.completedSteps) is saved; the final evaluation is skipped (the same command with --resume latest runs it)")
            return stoppedExitCode
        }
        // a stop during these evaluations ends them after the batch each rank is generating
        // (the checkpoint is written; the same command with --resume latest runs them)
        do {
            if options.evalSteps > 0 && trained { try validate(trainer, tokenizer: tokenizer, runDir: runDir) }
            // the test split once the schedule is complete — again only if a run ended before writing it
            let evaluated = try comm.broadcast(comm.isRoot && FileManager.default.fileExists(atPath: runDir.files.testMetricsPath) ? "yes" : "", root: 0)
            if trainer.completedSteps == trainer.totalSteps && options.finalEval && (trained || evaluated.isEmpty) {
                try finalEvaluation(trainer, tokenizer: tokenizer, data: data, runDir: runDir)
            }
        } catch is EvaluationStopped {
            say("stop requested during the final evaluation: step \(trainer.completedSteps) is saved; the same command with --resume latest runs the evaluation")
            return stoppedExitCode
        }
        say("done: \(trainer.completedSteps)/\(trainer.totalSteps) steps; run directory \(options.output)")
        return 0
    }

    /// The exit code of a run the ranks agreed to stop: the signal's (128 + its number), or
    /// 130 on a rank that agreed to another rank's request without a signal of its own.
    private var stoppedExitCode: Int32 { StopSignal.exitCode == 0 ? 130 : StopSignal.exitCode }

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
                stateBytes = Array(try JSONEncoder().encode(state))
            } catch {
                failure = "\(error)"
            }
        }
        failure = try comm.broadcast(failure, root: 0)
        if !failure.isEmpty { throw MessageError(failure) }
        path = try comm.broadcast(path, root: 0)
        try comm.broadcast(&stateBytes, root: 0)
        try comm.broadcast(trainer.trainable.values.buffer, root: 0)
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
            Checkpoint.prune(runDirectory: runDir.path, keep: options.keepCheckpoints, newest: trainer.completedSteps)
            say(String(format: "checkpoint %@ written in %.1f s", path, Date().timeIntervalSince(start)))
        }
        try comm.barrier()
    }

    /// Every rank hashes its parameters; any difference stops the run instead of drifting silently.
    private func checkReplicas(_ trainer: Trainer) throws {
        guard comm.size > 1 else { return }
        do {
            try RankAgreement.require("trained parameters", ParameterChecksum.hex(ParameterChecksum.of(trainer.trainable.values)), comm: comm)
        } catch {
            throw MessageError("replica divergence at step \(trainer.completedSteps): \(error)")
        }
    }

    /// The generative evaluator of validation and of the final test evaluation.
    private func makeEvaluator(_ trainer: Trainer, tokenizer: Tokenizer) -> Evaluator {
        var evaluator = Evaluator(weights: trainer.pass.weights, tokenizer: tokenizer, template: trainer.data.template, comm: comm)
        evaluator.maxNewTokens = options.evalMaxNewTokens
        evaluator.intentNames = trainer.data.intents.names
        evaluator.shouldStop = { StopSignal.requested }
        return evaluator
    }

    private func validate(_ trainer: Trainer, tokenizer: Tokenizer, runDir: RunDirectory) throws {
        let data = trainer.data
        guard !data.validation.isEmpty else { return }
        let start = Date()
        let loss = try trainer.evaluationLoss(data.tokenizedValidation)
        let evaluator = makeEvaluator(trainer, tokenizer: tokenizer)
        let predictions = try evaluator.predict(data.validation)
        if let predictions {
            let metrics = try EvaluationMetrics(intents: data.intents.names, predictions: predictions)
            let record = ValidationRecord(step: trainer.completedSteps, loss: loss, accuracy: metrics.accuracy,
                                          invalidRate: metrics.invalidRate, samples: predictions.count,
                                          seconds: Date().timeIntervalSince(start))
            try runDir.appendValidation(record)
            say(String(format: "validation at step %d: loss %.4f, accuracy %.2f%% (%d examples, %.0f s)",
                       record.step, loss, 100 * metrics.accuracy, predictions.count, record.seconds))
        }
        // every rank generated: every rank hands the evaluation's freed memory back
        MemoryPolicy.releaseFreedMemory()
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
            let dir = runDir.files.testEvaluationDirectory
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try report.write(to: URL(fileURLWithPath: dir))
            say(String(format: "test accuracy %.2f%%, macro-F1 %.4f, invalid outputs %.2f%% (%.0f s); report in %@",
                       100 * report.metrics.accuracy, report.metrics.macroF1, 100 * report.metrics.invalidRate,
                       Date().timeIntervalSince(start), dir))
        }
    }
}
