import ArgumentParser
import Distributed
import Foundation
import Model
import Report
import Train

/// The `ft-dist` command line: argument parsing only; the work lives in Train and Model.
@main
struct FTDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ft-dist",
        abstract: "Full fine-tuning of Gemma 3 270M on Banking77 with MPI data parallelism on CPUs.",
        discussion: """
        Single-rank debugging:   ft-dist train --max-steps 30
        Data parallel, one host: mpirun -np 2 ft-dist train   (or launch/local.sh 2)
        Several hosts:           launch/hostfile.sh hostfiles/two-hosts.txt 2
        The model defaults to models/gemma-3-270m-q4_k_m.gguf and the data to data/banking77 \
        (installed by scripts/setup.sh), the run directory to runs/banking77; FTDIST_MODEL, \
        FTDIST_DATA and FTDIST_RUN override them. eval and predict without --model use the \
        newest checkpoint of that run directory (else the installed model) and say which.
        """,
        subcommands: [TrainCommand.self, EvalCommand.self, PredictCommand.self, MergeCommand.self, ExportCommand.self, GenerateCommand.self, TokenizeCommand.self, InfoCommand.self, DoctorCommand.self, BenchCommand.self, ReportCommand.self])
}

/// Run `body`, turning any error into one line on stderr and a non-zero exit (never a trap).
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("ft-dist: error: \(describe(error))\n".utf8))
        throw ExitCode(1)
    }
}

/// Under MPI an error on one rank must end the whole job: the other ranks would wait
/// forever in their next collective. The message names the rank.
func withAbortOnError<T>(_ comm: Communicator, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        guard comm.size > 1 else { throw error }
        FileHandle.standardError.write(Data("ft-dist: error (rank \(comm.rank) of \(comm.size)): \(describe(error))\n".utf8))
        comm.abort(code: 1)
    }
}

func fflushStdout() { fflush(stdout) }

/// Foundation's file errors print as NSError dumps; say which file and what the system said.
func describe(_ error: Error) -> String {
    let ns = error as NSError
    guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
    let reason = ModelFileError.systemReason(error)
    let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    return path.map { "\($0): \(reason)" } ?? reason
}

/// A file an option names for output must be writable before minutes of work go into it.
func checkWritableOutput(_ path: String, option: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
        throw MessageError("\(option) \(path): directory \(dir) does not exist")
    }
    guard isDir.boolValue else { throw MessageError("\(option) \(path): \(dir) is a file, not a directory") }
    guard !path.isEmpty, !path.hasSuffix("/") else { throw MessageError("\(option) \"\(path)\" names no file") }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
        if isDir.boolValue { throw MessageError("\(option) \(path): is a directory") }
        if access(path, W_OK) != 0 { throw MessageError("\(option) \(path): not writable") }
    } else if access(dir, W_OK) != 0 {
        throw MessageError("\(option) \(path): directory \(dir) is not writable")
    }
}

/// A report directory that a command fills at its end (eval): checked before the work, so a
/// bad path costs no evaluation. It may exist (a directory, writable) or be created: then its
/// nearest existing ancestor must be a writable directory.
func checkReportDirectory(_ path: String, option: String) throws {
    guard !path.isEmpty else { throw MessageError("\(option) is empty: name a directory") }
    if let problem = OutputFile.directoryProblem(path) { throw MessageError("\(option) \(path): \(problem)") }
}

/// The model a command uses without --model (eval, predict): named on stderr, because the
/// default depends on what has been trained.
func chosenModel(_ option: String?, announce: Bool = true) -> String {
    if let option { return option }
    let (path, reason) = ModelSource.defaultModel()
    if announce { FileHandle.standardError.write(Data("ft-dist: model \(path): \(reason)\n".utf8)) }
    return path
}
